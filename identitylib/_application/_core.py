"""``AppCore``: one application's checked configuration, the base of its call builders.

The blocking and the asyncio application classes each hold one core (made by
:func:`set_up`) and differ only in how they run the :data:`~._plan.Plan` its builders
return. The core is package-internal: its attributes carry no underscore because the
asyncio classes read them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from identitylib._authority import Authority, TrustKey, parse_authority
from identitylib._authority._trust import identity_of
from identitylib._cache import TokenCache
from identitylib._credential import parse_client_credential
from identitylib._flows._hit_memo import HitMemo
from identitylib._flows._state import AppState
from identitylib._log import hide_credential
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow

if TYPE_CHECKING:
    from identitylib._authority._region import RegionChoice
    from identitylib._transport import SyncTransport

C = TypeVar("C", bound="AppCore")

#: Authority tenants that cannot name the app's own (app tokens from them: a warning).
SHARED_TENANTS = ("common", "organizations")


def checked_cache(cache: Any) -> Any:
    """``cache`` if it has the methods a token cache needs (msal's or identitylib's)."""
    if not (callable(getattr(cache, "add", None)) and callable(getattr(cache, "search", None))):
        raise TypeError("token_cache must be a TokenCache (or SerializableTokenCache) instance")
    return cache


def _check_str_list(value: object, name: str) -> list[str]:
    if not value:
        return []
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(v, str) for v in value
    ):
        raise ValueError(f"{name} must be a list of strings, e.g. {name}=[...]")
    return list(value)


def _check_names(client_id: object, client_claims: object, **names: object) -> None:
    if not isinstance(client_id, str) or not client_id.strip():
        raise ValueError("client_id must be the application (client) id string of your app")
    if client_claims is not None and not isinstance(client_claims, Mapping):
        raise TypeError("client_claims must be a dict of extra claims for the client assertion")
    for name, value in names.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string")


class AppCore:
    """Configuration and shared state of one application object (either API)."""

    def __init__(
        self,
        client_id: str,
        client_credential: Any,
        *,
        authority: Authority,
        token_cache: Optional[TokenCache] = None,
        client_claims: Optional[Mapping[str, Any]] = None,
        app_name: Optional[str] = None,
        app_version: Optional[str] = None,
        client_capabilities: Optional[Sequence[str]] = None,
        azure_region: Any = None,
        exclude_scopes: Optional[Sequence[str]] = None,
        enable_pii_log: Optional[bool] = None,
        memo: bool = True,
    ) -> None:
        capabilities = _check_str_list(client_capabilities, "client_capabilities")
        excluded = _check_str_list(exclude_scopes, "exclude_scopes")
        if "openid" in excluded:
            raise ValueError('"openid" cannot be excluded: it is required for sign-in')
        cache = TokenCache() if token_cache is None else checked_cache(token_cache)
        self.client_id = client_id
        self.client_credential = client_credential
        # From here on its secret parts show as '***' in the locals a crash reporter
        # prints, should the credential fail to load (see _log.hide).
        client_credential = hide_credential(client_credential)
        self.client_claims = client_claims
        self.authority = authority
        # Validated here for every class, as msal does (MSAL_FORCE_REGION too, for an app
        # with a credential); used (and detected, for True) by acquire_token_for_client.
        # (imported when an app is built: ``import identitylib`` stays cheap.)
        from identitylib._authority._region import configured_region

        self.region_choice: RegionChoice = configured_region(
            azure_region, confidential=bool(client_credential)
        )
        #: Whether the cache-hit memo may answer (off with ``timing=True``: every call is
        #: measured the full way).
        self.memo = memo
        self.state = AppState(
            client_id=client_id,
            authority=authority,
            token_cache=cache,
            credential=parse_client_credential(
                client_credential, client_claims=client_claims, stacklevel=6
            ),
            client_capabilities=tuple(capabilities),
            exclude_scopes=frozenset(excluded),
            app_name=app_name,
            app_version=app_version,
            enable_pii_log=bool(enable_pii_log),
        )
        #: The cache-hit paths: exact-request lookups and the same-call memo (one for
        #: the core's life: the shells keep it, for the cache lanes).
        self.hits = HitMemo(
            authority,
            client_id,
            app_tokens=authority.parsed.tenant.lower() not in SHARED_TENANTS,
        )
        self.use_cache(cache)
        self.check_credential()

    def check_credential(self) -> None:
        """Subclasses refuse a credential they cannot use (or the lack of one)."""

    def remembered(
        self, memo_key: Any
    ) -> tuple[Optional[dict[str, Any]], Optional[Callable[[Any], None]]]:
        """The same-call memo of a plain call: (its hit, None), or (None, what the flow
        calls with the entry it served, for the next such call); (None, None) when off."""
        hits = self.hits
        if not hits.enabled:
            return None, None
        hit = hits.get(memo_key) if hits.memo else None  # (an empty memo: not asked)
        if hit is not None:
            return hit, None
        return None, lambda found: hits.remember(memo_key, found)

    @property
    def app_name(self) -> Optional[str]:
        return self.state.app_name

    @property
    def app_version(self) -> Optional[str]:
        return self.state.app_version

    @property
    def token_cache(self) -> Any:
        """The token cache the next calls read and write."""
        return self.state.token_cache

    def use_cache(self, cache: Any) -> None:
        """Make ``cache`` the one the next calls use: a new state for their flows (a call
        already running keeps its own) and a new cache-hit memo."""
        self.state = replace(self.state, token_cache=checked_cache(cache))
        self.hits.use(cache, self.state, enabled=self.memo)
        #: get_accounts' last answer, with what it depended on (see ``AccountCalls``).
        self.accounts_memo: Optional[tuple[tuple[Any, ...], list[dict[str, Any]]]] = None


def set_up(
    core_class: type[C],
    client_id: str,
    client_credential: Any = None,
    authority: Any = None,
    validate_authority: bool = True,
    *,
    http_client: Any = None,
    verify: Any = True,
    proxies: Optional[Mapping[str, str]] = None,
    timeout: Any = None,
    http_cache: Optional[MutableMapping[Any, Any]] = None,
    instance_discovery: Any = None,
    oidc_authority: Optional[str] = None,
    allow_broker: Optional[bool] = None,
    trust: TrustKey,
    **options: Any,
) -> tuple[SyncTransport, C]:
    """What both APIs' constructors share (no I/O): the blocking transport (which also
    resolves ``authority``'s endpoints when they are read as attributes), the
    authority and the core. ``trust``: which apps share this one's discovery (those that
    send requests the same way; see ``_authority/_trust.py``)."""
    _check_names(
        client_id,
        options.get("client_claims"),
        app_name=options.get("app_name"),
        app_version=options.get("app_version"),
    )
    if allow_broker:
        warnings.warn(
            "allow_broker is not supported by identitylib and is ignored", UserWarning, stacklevel=3
        )
    if http_cache is not None and not isinstance(http_cache, MutableMapping):
        raise TypeError("http_cache must be a dict-like object (e.g. a dict or a shelve)")
    # Imported here, not at module level: the transport loads requests, which
    # ``import identitylib`` alone does not need (see docs/performance.md).
    from identitylib._transport import SyncTransport

    transport = SyncTransport(
        http_client, verify=verify, proxies=proxies, timeout=timeout, http_cache=http_cache
    )
    parsed = parse_authority(
        authority,
        oidc_authority=oidc_authority,
        validate_authority=validate_authority,
        instance_discovery=instance_discovery,
    )
    authority_object = Authority(
        parsed,
        trust=_discovery_trust(transport, trust),
        http_cache=http_cache,
        resolver=_resolver(transport),
        known_clouds=True,  # Entra's well-known clouds: endpoints built, not discovered
    )
    core = core_class(client_id, client_credential, authority=authority_object, **options)
    return transport, core


def _discovery_trust(transport: SyncTransport, trust: TrustKey) -> Callable[[], TrustKey]:
    """The trust key of this app's discovery: ``trust``, except while the ``get`` of
    identitylib's own session is replaced (msal's users patch ``app.http_client.get``
    in tests): what a replaced method answers is this app's alone, never shared."""

    def current() -> TrustKey:
        if transport.replaced("GET"):
            return replace(trust, client=identity_of(transport.http_client))
        return trust

    return current


def _resolver(transport: SyncTransport) -> Callable[[Flow[Any]], Any]:
    """Runs a discovery flow when the authority's endpoints are read (a ValueError)."""
    from identitylib._transport import run_sync

    def resolve(flow: Flow[Any]) -> Any:
        try:
            return run_sync(flow, transport)
        except FlowError as failure:
            raise ValueError(
                failure.result.get("error_description", failure.result["error"])
            ) from None

    return resolve
