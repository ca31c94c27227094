"""An azure-core credential over any identitylib application (``identitylib[azure]``).

Any Azure SDK client takes it where it takes an ``azure-identity`` credential::

    from azure.storage.blob import BlobServiceClient
    from identitylib.integrations.azure_core import IdentitylibCredential

    credential = IdentitylibCredential(app)
    client = BlobServiceClient("https://acct.blob.core.windows.net", credential=credential)

:class:`IdentitylibCredential` implements ``TokenCredential`` (``get_token``) and
``SupportsTokenInfo`` (``get_token_info``); :class:`AsyncIdentitylibCredential` their
async twins, for the ``aio`` clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Optional

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.exceptions import ClientAuthenticationError

from ._common import TokenAcquisitionError, TokenProvider, expires_on, refresh_on

__all__ = ["AsyncIdentitylibCredential", "IdentitylibCredential"]


def _info(result: Mapping[str, Any]) -> AccessTokenInfo:
    return AccessTokenInfo(
        result["access_token"],
        expires_on(result),
        token_type=str(result.get("token_type") or "Bearer"),
        refresh_on=refresh_on(result),
    )


def _failure(error: TokenAcquisitionError) -> ClientAuthenticationError:
    return ClientAuthenticationError(message=str(error))


def _options(
    claims: Optional[str], tenant_id: Optional[str], enable_cae: bool
) -> TokenRequestOptions:
    """``get_token``'s keyword arguments as ``get_token_info``'s options."""
    options: TokenRequestOptions = {}
    if claims:
        options["claims"] = claims
    if tenant_id:
        options["tenant_id"] = tenant_id
    if enable_cae:
        options["enable_cae"] = True
    return options


class _Base:
    def __init__(
        self,
        app: Any,
        *,
        cae_app: Any = None,
        account: Optional[Mapping[str, Any]] = None,
        username: Optional[str] = None,
        interactive: bool = False,
    ) -> None:
        self.provider = TokenProvider(
            app, account=account, username=username, interactive=interactive
        )
        self.cae_provider = (
            None
            if cae_app is None
            else TokenProvider(cae_app, account=account, username=username, interactive=interactive)
        )

    def _provider_for(self, options: TokenRequestOptions) -> TokenProvider:
        """The provider serving a request (``cae_app``'s for ``enable_cae``), once the
        request's ``tenant_id`` is known to be its application's tenant."""
        provider = self.provider
        if options.get("enable_cae") and self.cae_provider is not None:
            provider = self.cae_provider
        _check_tenant(provider.app, options.get("tenant_id"))
        return provider


class IdentitylibCredential(_Base):
    """A ``TokenCredential`` and ``SupportsTokenInfo`` getting tokens from ``app``.

    ``app`` is any identitylib application (see
    :class:`~identitylib.integrations.TokenProvider` for which method serves which kind):
    a :class:`~identitylib.ConfidentialClientApplication` gives app-only tokens, a
    :class:`~identitylib.ManagedIdentityClient` managed-identity tokens, and a client
    with ``account`` / ``username`` (or one cached account) the user's tokens.

    ``claims`` (as azure-core's ``BearerTokenCredentialPolicy`` passes after a CAE
    challenge) becomes ``claims_challenge``, which skips cached tokens. ``tenant_id`` is
    not supported (the application's authority decides the tenant) and raises
    ``ClientAuthenticationError``, before any token is requested, when it names another
    tenant than the application's authority.
    Failures raise ``azure.core.exceptions.ClientAuthenticationError``.

    ``enable_cae=True`` (continuous access evaluation) is served by ``cae_app`` when one
    is given: an application like ``app`` built with ``client_capabilities=["CP1"]`` and
    a token cache of its own. The capability cannot be added to one request of ``app``:
    its token cache does not tell CAE tokens from others, so it would hand a CAE token
    to a later caller that did not ask for one, or a plain token to one that did (which
    is why azure-identity keeps two applications with two caches). Without ``cae_app``,
    ``enable_cae`` is ignored, as by azure-identity's credentials that cannot honour it:
    ``app`` serves every request with the capabilities it was built with (with ``CP1``,
    CAE tokens for all).
    """

    def get_token(
        self,
        *scopes: str,
        claims: Optional[str] = None,
        tenant_id: Optional[str] = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """An ``AccessToken(token, expires_on)`` for ``scopes``."""
        info = self.get_token_info(*scopes, options=_options(claims, tenant_id, enable_cae))
        return AccessToken(info.token, info.expires_on)

    def get_token_info(
        self, *scopes: str, options: Optional[TokenRequestOptions] = None
    ) -> AccessTokenInfo:
        """An ``AccessTokenInfo`` (token, expiry, type, refresh time) for ``scopes``."""
        options = options or {}
        provider = self._provider_for(options)
        try:
            result = provider.acquire(list(scopes), claims_challenge=options.get("claims"))
        except TokenAcquisitionError as error:
            raise _failure(error) from error
        return _info(result)

    def close(self) -> None:
        """Nothing to release: the application is the caller's."""

    def __enter__(self) -> IdentitylibCredential:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> None:
        self.close()


class AsyncIdentitylibCredential(_Base):
    """The async twin of :class:`IdentitylibCredential` (``AsyncTokenCredential`` and
    ``AsyncSupportsTokenInfo``), for the ``aio`` Azure SDK clients.

    The coroutine methods of an ``identitylib.aio`` application are awaited; a blocking
    application's calls run in a worker thread, off the event loop. ``tenant_id`` and
    ``enable_cae`` (with ``cae_app``) are handled as by :class:`IdentitylibCredential`.
    """

    async def get_token(
        self,
        *scopes: str,
        claims: Optional[str] = None,
        tenant_id: Optional[str] = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """An ``AccessToken(token, expires_on)`` for ``scopes``."""
        options = _options(claims, tenant_id, enable_cae)
        info = await self.get_token_info(*scopes, options=options)
        return AccessToken(info.token, info.expires_on)

    async def get_token_info(
        self, *scopes: str, options: Optional[TokenRequestOptions] = None
    ) -> AccessTokenInfo:
        """An ``AccessTokenInfo`` (token, expiry, type, refresh time) for ``scopes``."""
        options = options or {}
        provider = self._provider_for(options)
        try:
            result = await provider.acquire_async(
                list(scopes), claims_challenge=options.get("claims")
            )
        except TokenAcquisitionError as error:
            raise _failure(error) from error
        return _info(result)

    async def close(self) -> None:
        """Nothing to release: the application is the caller's."""

    async def __aenter__(self) -> AsyncIdentitylibCredential:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> None:
        await self.close()


def _check_tenant(app: Any, tenant_id: Optional[str]) -> None:
    if not tenant_id:
        return
    tenant = str(getattr(getattr(app, "authority", None), "tenant", "") or "")
    if tenant and tenant.lower() != tenant_id.lower():
        raise ClientAuthenticationError(
            message=f"tenant_id {tenant_id!r} is not the tenant of this application "
            f"({tenant!r}); build an application for that tenant"
        )
