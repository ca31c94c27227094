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


class _Base:
    def __init__(
        self,
        app: Any,
        *,
        account: Optional[Mapping[str, Any]] = None,
        username: Optional[str] = None,
        interactive: bool = False,
    ) -> None:
        self.provider = TokenProvider(
            app, account=account, username=username, interactive=interactive
        )


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
    ``ClientAuthenticationError`` when it names another tenant than ``app``'s authority.
    Failures raise ``azure.core.exceptions.ClientAuthenticationError``.
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
        info = self.get_token_info(*scopes, options={"claims": claims} if claims else None)
        _check_tenant(self.provider.app, tenant_id)
        return AccessToken(info.token, info.expires_on)

    def get_token_info(
        self, *scopes: str, options: Optional[TokenRequestOptions] = None
    ) -> AccessTokenInfo:
        """An ``AccessTokenInfo`` (token, expiry, type, refresh time) for ``scopes``."""
        options = options or {}
        _check_tenant(self.provider.app, options.get("tenant_id"))
        try:
            result = self.provider.acquire(list(scopes), claims_challenge=options.get("claims"))
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
    application's calls run in a worker thread, off the event loop.
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
        _check_tenant(self.provider.app, tenant_id)
        info = await self.get_token_info(*scopes, options={"claims": claims} if claims else None)
        return AccessToken(info.token, info.expires_on)

    async def get_token_info(
        self, *scopes: str, options: Optional[TokenRequestOptions] = None
    ) -> AccessTokenInfo:
        """An ``AccessTokenInfo`` (token, expiry, type, refresh time) for ``scopes``."""
        options = options or {}
        _check_tenant(self.provider.app, options.get("tenant_id"))
        try:
            result = await self.provider.acquire_async(
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
