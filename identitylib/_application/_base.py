"""``ClientApplication``: the constructor and the machinery both app kinds share."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Optional, TypeVar

from identitylib._authority import Authority, parse_authority
from identitylib._cache import TokenCache
from identitylib._credential import parse_client_credential
from identitylib._log import get_logger
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow
from identitylib._transport import SyncTransport, run_sync

from ._accounts import AccountsMixin
from ._auth_code import AuthCodeMixin
from ._password import PasswordMixin
from ._state import AppState

logger = get_logger(__name__)
T = TypeVar("T")


def _check_str_list(value: object, name: str) -> list[str]:
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(v, str) for v in value
    ):
        raise ValueError(f"{name} must be a list of strings, e.g. {name}=[...]")
    return list(value)


class ClientApplication(AuthCodeMixin, AccountsMixin, PasswordMixin):
    """Base class of :class:`PublicClientApplication` and :class:`ConfidentialClientApplication`.

    The constructor takes MSAL Python's parameters and performs no network I/O: the
    authority's endpoints are discovered on first use and shared by every app object of
    the process.
    """

    def __init__(
        self,
        client_id: str,
        client_credential: Any = None,
        authority: Any = None,
        validate_authority: bool = True,
        token_cache: Optional[TokenCache] = None,
        http_client: Any = None,
        verify: Any = True,
        proxies: Optional[Mapping[str, str]] = None,
        timeout: Any = None,
        client_claims: Optional[Mapping[str, Any]] = None,
        app_name: Optional[str] = None,
        app_version: Optional[str] = None,
        client_capabilities: Optional[Sequence[str]] = None,
        azure_region: Any = None,
        exclude_scopes: Optional[Sequence[str]] = None,
        http_cache: Optional[MutableMapping[Any, Any]] = None,
        instance_discovery: Any = None,
        allow_broker: Optional[bool] = None,
        enable_pii_log: Optional[bool] = None,
        oidc_authority: Optional[str] = None,
    ) -> None:
        if not isinstance(client_id, str) or not client_id.strip():
            raise ValueError("client_id must be the application (client) id string of your app")
        if client_claims is not None and not isinstance(client_claims, Mapping):
            raise TypeError("client_claims must be a dict of extra claims for the client assertion")
        if allow_broker:
            warnings.warn(
                "allow_broker is not supported by identitylib and is ignored",
                UserWarning,
                stacklevel=2,
            )
        for name, value in (("app_name", app_name), ("app_version", app_version)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string")
        capabilities = (
            _check_str_list(client_capabilities, "client_capabilities")
            if client_capabilities
            else []
        )
        excluded = _check_str_list(exclude_scopes, "exclude_scopes") if exclude_scopes else []
        if "openid" in excluded:
            raise ValueError('"openid" cannot be excluded: it is required for sign-in')
        if token_cache is None:
            token_cache = TokenCache()
        elif not (
            callable(getattr(token_cache, "add", None))
            and callable(getattr(token_cache, "search", None))
        ):
            raise TypeError("token_cache must be a TokenCache (or SerializableTokenCache) instance")
        if http_cache is not None and not isinstance(http_cache, MutableMapping):
            raise TypeError("http_cache must be a dict-like object (e.g. a dict or a shelve)")

        self.client_id = client_id
        self.client_credential = client_credential
        self.client_claims = client_claims
        self.app_name = app_name
        self.app_version = app_version
        self.token_cache = token_cache
        self._azure_region = azure_region
        self._transport = SyncTransport(
            http_client, verify=verify, proxies=proxies, timeout=timeout
        )
        self.http_client = self._transport.http_client
        parsed = parse_authority(
            authority,
            oidc_authority=oidc_authority,
            validate_authority=validate_authority,
            instance_discovery=instance_discovery,
        )
        self.authority = Authority(parsed, http_cache=http_cache, resolver=self._resolve_metadata)
        self._state = AppState(
            client_id=client_id,
            authority=self.authority,
            token_cache=token_cache,
            credential=parse_client_credential(
                client_credential, client_claims=client_claims, stacklevel=4
            ),
            client_capabilities=tuple(capabilities),
            exclude_scopes=frozenset(excluded),
            app_name=app_name,
            app_version=app_version,
            enable_pii_log=bool(enable_pii_log),
        )
        self._check_credential()

    def _check_credential(self) -> None:
        """Subclasses refuse a credential they cannot use (or the lack of one)."""

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(client_id={self.client_id!r}, authority={self.authority.parsed.url!r})"

    def _run(self, flow: Flow[T]) -> T:
        """Run a flow over this app's transport; an ending :class:`FlowError` becomes its result."""
        try:
            return run_sync(flow, self._transport)
        except FlowError as failure:
            return failure.result  # type: ignore[return-value]

    def _resolve_metadata(self, flow: Flow[Any]) -> Any:
        try:
            return run_sync(flow, self._transport)
        except FlowError as failure:
            raise ValueError(
                failure.result.get("error_description", failure.result["error"])
            ) from None
