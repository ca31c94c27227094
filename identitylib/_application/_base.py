"""``ClientApplication``: the blocking API's shell around the application core.

Each public method asks the core's builder of the same name for its plan (see
``_plan.py``) and runs it here: the flow with ``run_sync`` over this app's transport,
concurrent identical misses sharing one request, a token in its refresh window served at
once and refreshed in a background thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping, MutableMapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Optional, TypeVar, cast

from identitylib._authority import TrustKey
from identitylib._cache import TokenCache
from identitylib._flows._refresh_reason import REFRESH_REASON, RefreshReason
from identitylib._flows._single_flight import Coalescing, SingleFlight, coalesced
from identitylib._flows._state import AppState
from identitylib._log import get_logger, hide, hide_credential, hide_secrets
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow
from identitylib._telemetry import BackgroundRefresh, MeasuredCalls, cache_lane

from ._calls import CommonCalls
from ._core import set_up
from ._lanes import silent_lane
from ._names import MsalNames
from ._plan import Answer, Blocking, Call, Plan, Steps, as_is

if TYPE_CHECKING:
    from identitylib._transport import SyncTransport

logger = get_logger(__name__)
T = TypeVar("T")
R = TypeVar("R")


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


class Runner:
    """How the blocking API runs a plan: ``run_sync`` over the app's transport."""

    _transport: SyncTransport
    _timing: bool
    _background_refresh: Optional[bool]
    #: How the driver pauses at a flow's ``Wait`` step (device-code polling, IMDS): a
    #: seam for tests, as the retry policy's clock is.
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def _coalescing(self, limit: float) -> Coalescing:
        """How concurrent identical calls share their I/O: a :class:`SingleFlight` whose
        waiting callers give up after ``limit`` seconds (a test or subclass may choose
        another strategy)."""
        return SingleFlight(limit)

    def _start_running(
        self, background_refresh: Optional[bool], timing: bool, flight_limit: float
    ) -> None:
        #: Token requests in flight, per cache key (concurrent identical misses share one;
        #: a caller waits for another's request at most ``flight_limit`` seconds).
        self._flights: Coalescing = self._coalescing(flight_limit)
        #: Add a "timing" dict to token and error results (identitylib extension).
        self._timing = bool(timing)
        #: Serve a token inside its refresh window at once and refresh it in a background
        #: thread (identitylib extension; None: on for confidential clients, off otherwise).
        self._background_refresh = background_refresh
        self._refreshing: set[Hashable] = set()
        self._refreshing_lock = threading.Lock()
        from identitylib._transport._sync import run_sync

        #: Whether a shared call's driver joins the app's single-flight itself (its own
        #: ``SingleFlight``, not another strategy; not with ``timing``: see ``_perform``).
        self._joins_itself = (
            not self._timing and type(self._flights).coalesce is SingleFlight.coalesce
        )

        #: The driver of a shared call (imported once here, not per call).
        self._drive = run_sync

    def _perform(self, plan: Plan[R]) -> R:
        """Run a builder's plan: its answer, or its flow (shared per key) and ``finish``.

        A shared call with the app's own :class:`SingleFlight` is driven by ``run_sync``
        joining the flight itself: no generator, closure or strategy call between the
        driver and the flow (see ``run_sync``).
        """
        if isinstance(plan, Answer):
            return plan.value
        key = plan.key
        make_flow = plan.make_flow
        defer = (
            # What a flow calls, instead of refreshing in line, for a token in its refresh
            # window: one background refresh per key at a time (none when disabled). One
            # object per call (no bound method or closure made for it).
            partial(type(self)._start_refresh, self, key, plan)
            if self._background_refresh and key is not None
            else None
        )
        flights = self._flights
        if key is None or not self._joins_itself:
            flow = coalesced(flights, key, partial(make_flow, defer))
            result = self._run(flow)
        else:
            try:
                result = self._drive(
                    make_flow(defer), self._transport, sleep=self._sleep,
                    flights=flights, key=key, again=partial(make_flow, defer),  # type: ignore[arg-type]
                )  # fmt: skip
            except FlowError as failure:
                result = failure.result
        finish = plan.finish
        return result if finish is as_is else finish(result)

    def _perform_steps(self, steps: Steps[R]) -> R:
        """Run a method made of several plans and blocking steps, in order."""
        try:
            step = next(steps)
            while True:
                value = step.work() if isinstance(step, Blocking) else self._perform(step)
                step = steps.send(value)
        except StopIteration as stop:
            return cast(R, stop.value)
        finally:
            steps.close()

    def _run(self, flow: Flow[T]) -> T:
        """Run a flow over this app's transport; an ending :class:`FlowError` becomes its result."""
        from identitylib._transport import run_sync

        if self._timing:
            return self._run_timed(flow)
        try:
            return run_sync(flow, self._transport, sleep=self._sleep)
        except FlowError as failure:
            return failure.result  # type: ignore[return-value]

    def _run_timed(self, flow: Flow[T]) -> T:
        """``_run``, adding ``result["timing"]``: total, HTTP and library time (ms), the
        number of HTTP requests, and why a token was requested (None for a cache hit)."""
        from identitylib._transport import run_sync

        transport = _TimedTransport(self._transport)
        slot = REFRESH_REASON.get()
        if slot is None:
            slot = RefreshReason()
            REFRESH_REASON.set(slot)
        slot.reason = None
        start = time.perf_counter()
        try:
            result: Any = run_sync(flow, cast("SyncTransport", transport), sleep=self._sleep)
        except FlowError as failure:
            result = failure.result
        total = (time.perf_counter() - start) * 1000
        if isinstance(result, dict) and result:
            result["timing"] = {
                "total_ms": round(total, 3),
                "http_ms": round(transport.http_ms, 3),
                "cache_ms": round(max(0.0, total - transport.http_ms), 3),
                "http_requests": transport.requests,
                "refresh_reason": slot.reason
                if result.get("token_source") != "cache" or transport.requests
                else None,
            }
        return result  # type: ignore[no-any-return]

    def _start_refresh(self, key: Hashable, plan: Call[Any, Any]) -> None:
        """Refresh ``key``'s token (``plan``'s flow, refreshing in line) in a background
        thread, unless one does already."""
        with self._refreshing_lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
        measured = BackgroundRefresh(self)
        thread = threading.Thread(
            target=self._refresh_now,
            args=(key, plan.background_flow, measured),
            name="identitylib-refresh",
        )
        thread.daemon = True
        thread.start()

    def _refresh_now(
        self, key: Hashable, make_flow: Callable[[], Flow[Any]], measured: BackgroundRefresh
    ) -> None:
        """The background refresh: a failed one is logged by the flow, and the cached
        token stays in use until it really expires."""
        try:
            result = measured.run(lambda: self._run(coalesced(self._flights, key, make_flow)))
            if isinstance(result, dict) and "error" in result:
                logger.warning("Background token refresh failed: %s", result.get("error"))
        except Exception:
            logger.warning("Background token refresh failed", exc_info=True)
        finally:
            with self._refreshing_lock:
                self._refreshing.discard(key)


class ClientApplication(MsalNames, Runner, MeasuredCalls):
    """Base class of :class:`PublicClientApplication` and :class:`ConfidentialClientApplication`.

    The constructor takes MSAL Python's parameters and performs no network I/O: the
    authority's endpoints are discovered on first use and shared by every app object of
    the process.
    """

    # The cache lanes' path to the app's cache-hit paths (``_lanes.py``), kept in the app
    # object itself: a rotating-key hit reads no attribute table of its app.
    __slots__ = ("_hits",)

    _core_class: type[CommonCalls] = CommonCalls
    _core: CommonCalls

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
        self.client_credential = client_credential
        # From here on its secret parts show as '***' in the locals a crash reporter
        # prints, should the credential fail to load (see _log.hide).
        client_credential = hide_credential(client_credential)
        self._transport, self._core = set_up(
            self._core_class,
            client_id,
            client_credential,
            authority,
            validate_authority,
            http_client=http_client,
            verify=verify,
            proxies=proxies,
            timeout=timeout,
            http_cache=http_cache,
            instance_discovery=instance_discovery,
            oidc_authority=oidc_authority,
            allow_broker=allow_broker,
            trust=TrustKey.of(http_client, verify, proxies),
            token_cache=token_cache,
            client_claims=client_claims,
            app_name=app_name,
            app_version=app_version,
            client_capabilities=client_capabilities,
            azure_region=azure_region,
            exclude_scopes=exclude_scopes,
            enable_pii_log=enable_pii_log,
            memo=not timing,
        )
        #: The core's cache-hit paths, kept here for the cache lanes (see ``_lanes.py``).
        self._hits = self._core.hits
        self.client_id = client_id
        self.client_claims = client_claims
        self.app_name = app_name
        self.app_version = app_version
        self.authority = self._core.authority
        from identitylib._transport._bounds import deadline_for

        self._start_running(background_refresh, timing, deadline_for(timeout))

    @property
    def http_client(self) -> Any:
        """The ``http_client`` given, or identitylib's own ``requests.Session`` (made on
        first use: an app whose tokens all come from the cache never imports requests)."""
        return self._transport.http_client

    @http_client.setter
    def http_client(self, client: Any) -> None:
        self._transport.http_client = client

    @property
    def token_cache(self) -> Any:
        """The token cache every call reads and writes.

        Assigning another cache (as msal allows, e.g. one cache per request or per user)
        makes every later call, token acquisitions included, use that one; a call already
        running finishes with the cache it started with.
        """
        return self._core.token_cache

    @token_cache.setter
    def token_cache(self, cache: Any) -> None:
        self._core.use_cache(cache)

    @property
    def _state(self) -> AppState:
        """The state the next calls' flows read (tests replace its clock)."""
        state: AppState = self._core.state
        return state

    def _telemetry_personal(self) -> bool:
        return bool(self._core.state.enable_pii_log)

    def __repr__(self) -> str:
        name = type(self).__name__
        authority = getattr(self, "authority", None)  # None while a failing constructor
        if authority is None:  # is reported (a crash reporter prints its locals)
            return f"<{name} client_id={getattr(self, 'client_id', None)!r} (not constructed)>"
        return f"{name}(client_id={self.client_id!r}, authority={authority.parsed.url!r})"

    def get_accounts(self, username: Optional[str] = None) -> list[dict[str, Any]]:
        """The accounts signed in before (in this app's cloud), as MSAL's account dicts.

        One dict per home account (``home_account_id``, ``environment``, ``username``,
        ``account_source``, ``authority_type``, ``local_account_id``, ``realm``). Accounts
        are looked up under the authority's host, then, if none is there, under each of its
        aliases (known without any network request). ``username`` filters
        case-insensitively. Pass an account to :meth:`acquire_token_silent`.
        """
        return self._perform(self._core.get_accounts(username))

    def remove_account(self, account: Mapping[str, Any]) -> None:
        """Sign an account out of this app: forget its tokens and its account entries.

        Removes, in the account's environment and its aliases (for the app's own cloud,
        also ``host:port`` as msal-node writes it) and across tenants: this app's refresh
        tokens and its family's (when the app is in a FOCI family), every access token and
        ID token of the account, and the account entries, in whichever MSAL library's form.
        """
        self._perform(self._core.remove_account(account))

    @cache_lane(silent_lane)
    def acquire_token_silent_with_error(
        self,
        scopes: list[str],
        account: Optional[Mapping[str, Any]],
        authority: Optional[str] = None,
        force_refresh: bool = False,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        auth_scheme: Any = None,
        **kwargs: Any,
    ) -> Optional[dict[str, Any]]:
        """A token for ``account`` from the cache, refreshing it if needed.

        Returns a token dict; None when the cache holds nothing usable for the account
        (sign in interactively); or an error dict when a refresh was tried and failed
        (``classification`` added as MSAL does). ``force_refresh`` and ``claims_challenge``
        skip the cached access token. ``authority`` may name another tenant of the app's
        cloud to get that tenant's tokens for the same account (identitylib supports this;
        MSAL ignores the parameter).
        """
        return self._perform(
            self._core.acquire_token_silent_with_error(
                scopes,
                account,
                authority,
                force_refresh,
                claims_challenge,
                forwarded_client_claims,
                auth_scheme,
                **kwargs,
            )
        )

    @cache_lane(silent_lane)
    def acquire_token_silent(
        self,
        scopes: list[str],
        account: Optional[Mapping[str, Any]],
        authority: Optional[str] = None,
        force_refresh: bool = False,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        auth_scheme: Any = None,
        **kwargs: Any,
    ) -> Optional[dict[str, Any]]:
        """Like :meth:`acquire_token_silent_with_error`, but None instead of an error dict."""
        return self._perform(
            self._core.acquire_token_silent(
                scopes,
                account,
                authority,
                force_refresh,
                claims_challenge,
                forwarded_client_claims,
                auth_scheme,
                **kwargs,
            )
        )

    def acquire_token_by_refresh_token(
        self, refresh_token: str, scopes: list[str], **kwargs: Any
    ) -> dict[str, Any]:
        """Migrate a refresh token obtained elsewhere (e.g. ADAL) into this app's cache.

        Returns the token dict (the new tokens are cached, the new RT as a new entry) or
        an error dict.
        """
        refresh_token = hide(refresh_token)  # '***' in crash reports' locals (see _log)
        return self._perform(
            self._core.acquire_token_by_refresh_token(refresh_token, scopes, **kwargs)
        )

    def initiate_auth_code_flow(
        self,
        scopes: list[str],
        redirect_uri: Optional[str] = None,
        state: Optional[str] = None,
        prompt: Optional[str] = None,
        login_hint: Optional[str] = None,
        domain_hint: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        max_age: Optional[int] = None,
        response_mode: Optional[str] = None,
    ) -> dict[str, Any]:
        """Start a sign-in: return the auth code flow dict, with the ``auth_uri`` to visit.

        Keep the dict (e.g. in the web session), send the user's browser to
        ``flow["auth_uri"]``, then pass the dict and what the browser brought back to
        :meth:`acquire_token_by_auth_code_flow`. The dict is JSON-serialisable and holds
        ``state``, ``redirect_uri``, ``scope``, ``auth_uri``, ``code_verifier`` (PKCE
        S256), ``nonce`` (the URL carries its SHA-256), ``claims_challenge`` and
        ``max_age`` when given.

        ``response_mode`` may be ``"form_post"`` (recommended: the code arrives in a POST
        body, not in the URL) or ``"query"``; None leaves the server's default (query).
        The authority's endpoints are discovered on first use; a discovery failure raises
        ValueError.
        """
        return self._perform(
            self._core.initiate_auth_code_flow(
                scopes,
                redirect_uri,
                state,
                prompt,
                login_hint,
                domain_hint,
                claims_challenge,
                max_age,
                response_mode,
            )
        )

    def acquire_token_by_auth_code_flow(
        self,
        auth_code_flow: dict[str, Any],
        auth_response: dict[str, Any],
        scopes: Optional[list[str]] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Check the authorization response against its flow and redeem its code.

        ``auth_response`` is what came back to the redirect URI (the query parameters, or
        the POSTed form with ``response_mode="form_post"``). Raises ValueError when it does
        not belong to ``auth_code_flow`` (missing or different ``state``: possibly a
        forged request), when ``scopes`` are not among the flow's, or when it has neither
        a ``code`` nor an ``error``. As with msal, a flow dict built by hand needs only
        ``state`` and ``code_verifier``; its ``redirect_uri``, ``scope`` and ``nonce``
        are sent and checked when present. Returns the token result, or an error dict: the
        authorization error, the server's, or ``invalid_id_token`` when the ID token fails
        its checks (nonce, audience, issuer, lifetime; ``max_age`` against ``auth_time``).

        Unlike MSAL, ``auth_code_flow`` is not modified (MSAL pops its
        ``claims_challenge``), so redeeming a flow twice sends the same request twice.
        """
        if isinstance(auth_code_flow, Mapping) and isinstance(auth_response, Mapping):
            auth_code_flow = hide_secrets(auth_code_flow)  # '***' in crash reports' locals
            auth_response = hide_secrets(auth_response)
        return self._perform(
            self._core.acquire_token_by_auth_code_flow(
                auth_code_flow, auth_response, scopes, **kwargs
            )
        )

    def get_authorization_request_url(
        self,
        scopes: list[str],
        login_hint: Optional[str] = None,
        state: Optional[str] = None,
        redirect_uri: Optional[str] = None,
        response_type: str = "code",
        prompt: Optional[str] = None,
        nonce: Optional[str] = None,
        domain_hint: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> str:
        """Deprecated: the URL of an authorization request (no PKCE; ``nonce`` sent as is).

        Use :meth:`initiate_auth_code_flow`, which adds PKCE, state and nonce for you.
        """
        return self._perform(
            self._core.get_authorization_request_url(
                scopes,
                login_hint,
                state,
                redirect_uri,
                response_type,
                prompt,
                nonce,
                domain_hint,
                claims_challenge,
                **kwargs,
            )
        )

    def acquire_token_by_authorization_code(
        self,
        code: str,
        scopes: list[str],
        redirect_uri: Optional[str] = None,
        nonce: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Deprecated: redeem an authorization code obtained without a flow dict.

        ``scopes`` must be a list (AssertionError otherwise, as in MSAL). When ``nonce``
        is given the ID token must carry it, else the result is an ``invalid_id_token``
        error (MSAL raises ValueError). Use :meth:`acquire_token_by_auth_code_flow`.
        """
        code = hide(code)  # '***' in crash reports' locals (see _log)
        return self._perform(
            self._core.acquire_token_by_authorization_code(
                code,
                scopes,
                redirect_uri,
                nonce,
                claims_challenge,
                forwarded_client_claims,
                **kwargs,
            )
        )

    def acquire_token_by_username_password(
        self,
        username: str,
        password: str,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        auth_scheme: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Sign a user in with a username and password (ROPC); avoid it where you can.

        It cannot do MFA, consent or password changes, and is deprecated for public
        clients (a DeprecationWarning says so, as MSAL 1.39's does). Confidential apps
        authenticate with their credential. As in MSAL, user realm discovery tells a
        managed user (the password grant) from a federated one, whose password goes to
        the federation server (WS-Trust) for a SAML assertion redeemed at the token
        endpoint. Returns a token dict or an error dict, also when the federation server
        refuses the password or answers something unusable (MSAL raises).
        """
        password = hide(password)  # '***' in crash reports' locals (see _log)
        return self._perform(
            self._core.acquire_token_by_username_password(
                username, password, scopes, claims_challenge, auth_scheme, **kwargs
            )
        )
