"""``ClientApplication``: the constructor and the machinery both app kinds share."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Hashable, Mapping, MutableMapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Optional, TypeVar, cast

from identitylib._authority import Authority, TrustKey, parse_authority
from identitylib._authority._trust import identity_of
from identitylib._cache import TokenCache
from identitylib._credential import parse_client_credential
from identitylib._flows._results import REFRESH_REASON, HitMemo
from identitylib._flows._single_flight import SingleFlight, coalesced
from identitylib._log import get_logger, hide_credential
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow

from ._accounts import AccountsMixin
from ._auth_code import AuthCodeMixin
from ._names import MsalNames
from ._password import PasswordMixin
from ._state import AppState

if TYPE_CHECKING:
    from identitylib._authority._region import RegionChoice
    from identitylib._transport import SyncTransport

logger = get_logger(__name__)
T = TypeVar("T")


class _TimedTransport:
    """The app's transport, timing the requests sent through it (``timing=True``)."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.http_ms = 0.0
        self.requests = 0

    def send(self, request: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._transport.send(request)
        finally:
            self.http_ms += (time.perf_counter() - start) * 1000
            self.requests += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _checked_cache(cache: Any) -> Any:
    """``cache`` if it has the methods a token cache needs (msal's or identitylib's)."""
    if not (callable(getattr(cache, "add", None)) and callable(getattr(cache, "search", None))):
        raise TypeError("token_cache must be a TokenCache (or SerializableTokenCache) instance")
    return cache


def _check_str_list(value: object, name: str) -> list[str]:
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(v, str) for v in value
    ):
        raise ValueError(f"{name} must be a list of strings, e.g. {name}=[...]")
    return list(value)


class ClientApplication(MsalNames, AuthCodeMixin, AccountsMixin, PasswordMixin):
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
        background_refresh: Optional[bool] = None,
        timing: bool = False,
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
        token_cache = TokenCache() if token_cache is None else _checked_cache(token_cache)
        if http_cache is not None and not isinstance(http_cache, MutableMapping):
            raise TypeError("http_cache must be a dict-like object (e.g. a dict or a shelve)")

        self.client_id = client_id
        self.client_credential = client_credential
        # From here on its secret parts show as '***' in the locals a crash reporter
        # prints, should the credential fail to load (see _log.hide).
        client_credential = hide_credential(client_credential)
        self.client_claims = client_claims
        self.app_name = app_name
        self.app_version = app_version
        # Validated here for every class, as msal does (MSAL_FORCE_REGION too, for an app
        # with a credential); used (and detected, for True) by acquire_token_for_client.
        # (_region loads requests for IMDS: imported when an app is built, not at import.)
        from identitylib._authority._region import configured_region

        self._region_choice: RegionChoice = configured_region(
            azure_region, confidential=bool(client_credential)
        )
        # Imported here, not at module level: the transport loads requests, which
        # ``import identitylib`` alone does not need (see docs/performance.md).
        from identitylib._transport import SyncTransport, run_sync

        self._run_sync = run_sync
        self._transport: SyncTransport = SyncTransport(
            http_client, verify=verify, proxies=proxies, timeout=timeout, http_cache=http_cache
        )
        self.http_client = self._transport.http_client
        parsed = parse_authority(
            authority,
            oidc_authority=oidc_authority,
            validate_authority=validate_authority,
            instance_discovery=instance_discovery,
        )
        self.authority = Authority(
            parsed,
            trust=self._discovery_trust(self._trust_key(http_client, verify, proxies)),
            http_cache=http_cache,
            resolver=self._resolve_metadata,
            known_clouds=True,
        )
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
        #: Token requests in flight, per cache key (concurrent identical misses share one).
        self._flights = SingleFlight()
        #: Add a "timing" dict to token and error results (identitylib extension).
        self._timing = bool(timing)
        self._use_cache(token_cache)
        #: Serve a token inside its refresh window at once and refresh it in a background
        #: thread (identitylib extension; None: on for confidential clients, off otherwise).
        self._background_refresh = background_refresh
        self._refreshing: set[Hashable] = set()
        self._refreshing_lock = threading.Lock()
        self._check_credential()

    @property
    def token_cache(self) -> Any:
        """The token cache every call reads and writes.

        Assigning another cache (as msal allows, e.g. one cache per request or per user)
        makes every later call, token acquisitions included, use that one; a call already
        running finishes with the cache it started with.
        """
        return self._state.token_cache

    @token_cache.setter
    def token_cache(self, cache: Any) -> None:
        self._use_cache(_checked_cache(cache))

    def _use_cache(self, cache: Any) -> None:
        """Make ``cache`` the one the next calls use: a new state for their flows (a call
        already running keeps its own) and a new cache-hit memo."""
        self._state = replace(self._state, token_cache=cache)
        #: The cache-hit fast path: which entry served which call (see HitMemo).
        self._hits = HitMemo(cache)
        if self._timing:
            self._hits.enabled = False  # every call goes the full way, to be measured
        self._accounts_memo = None  # get_accounts' last answer came from the old cache

    def _check_credential(self) -> None:
        """Subclasses refuse a credential they cannot use (or the lack of one)."""

    def _trust_key(self, http_client: Any, verify: Any, proxies: Any) -> TrustKey:
        """Which apps share this one's discovered metadata (see ``_authority/_trust.py``):
        those with the same ``http_client`` object, ``verify`` and ``proxies``."""
        return TrustKey.of(http_client, verify, proxies)

    def _discovery_trust(self, trust: TrustKey) -> Callable[[], TrustKey]:
        """The trust key of this app's discovery: ``trust``, except while the ``get`` of
        identitylib's own session is replaced (msal's users patch ``app.http_client.get``
        in tests): what a replaced method answers is this app's alone, never shared."""
        transport = self._transport

        def current() -> TrustKey:
            if transport.replaced("GET"):
                return replace(trust, client=identity_of(transport.http_client))
            return trust

        return current

    def __repr__(self) -> str:
        name = type(self).__name__
        authority = getattr(self, "authority", None)  # None while a failing constructor
        if authority is None:  # is reported (a crash reporter prints its locals)
            return f"<{name} client_id={getattr(self, 'client_id', None)!r} (not constructed)>"
        return f"{name}(client_id={self.client_id!r}, authority={authority.parsed.url!r})"

    def _run(self, flow: Flow[T]) -> T:
        """Run a flow over this app's transport; an ending :class:`FlowError` becomes its result."""
        if self._timing:
            return self._run_timed(flow)
        try:
            return self._run_sync(flow, self._transport)
        except FlowError as failure:
            return failure.result  # type: ignore[return-value]

    def _run_timed(self, flow: Flow[T]) -> T:
        """``_run``, adding ``result["timing"]``: total, HTTP and library time (ms), the
        number of HTTP requests, and why a token was requested (None for a cache hit)."""
        transport = _TimedTransport(self._transport)
        REFRESH_REASON.set(None)
        start = time.perf_counter()
        try:
            result: Any = self._run_sync(flow, cast("SyncTransport", transport))
        except FlowError as failure:
            result = failure.result
        total = (time.perf_counter() - start) * 1000
        if isinstance(result, dict) and result:
            result["timing"] = {
                "total_ms": round(total, 3),
                "http_ms": round(transport.http_ms, 3),
                "cache_ms": round(max(0.0, total - transport.http_ms), 3),
                "http_requests": transport.requests,
                "refresh_reason": REFRESH_REASON.get()
                if result.get("token_source") != "cache" or transport.requests
                else None,
            }
        return result  # type: ignore[no-any-return]

    def _deferred_refresh(
        self, key: Optional[Hashable], make_flow: Callable[[], Flow[Any]]
    ) -> Optional[Callable[[], None]]:
        """What a flow calls, instead of refreshing in line, for a token in its refresh
        window: one background refresh per cache key at a time (None when disabled)."""
        if not self._background_refresh or key is None:
            return None

        def start() -> None:
            with self._refreshing_lock:
                if key in self._refreshing:
                    return
                self._refreshing.add(key)
            thread = threading.Thread(
                target=self._refresh_now, args=(key, make_flow), name="identitylib-refresh"
            )
            thread.daemon = True
            thread.start()

        return start

    def _refresh_now(self, key: Hashable, make_flow: Callable[[], Flow[Any]]) -> None:
        """The background refresh: a failed one is logged by the flow, and the cached
        token stays in use until it really expires."""
        try:
            result = self._run(coalesced(self._flights, key, make_flow))
            if isinstance(result, dict) and "error" in result:
                logger.warning("Background token refresh failed: %s", result.get("error"))
        except Exception:
            logger.warning("Background token refresh failed", exc_info=True)
        finally:
            with self._refreshing_lock:
                self._refreshing.discard(key)

    def _resolve_metadata(self, flow: Flow[Any]) -> Any:
        try:
            return self._run_sync(flow, self._transport)
        except FlowError as failure:
            raise ValueError(
                failure.result.get("error_description", failure.result["error"])
            ) from None
