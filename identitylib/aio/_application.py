"""The asyncio application classes: the blocking API's methods as coroutines.

Each method asks the application core's builder of the same name for its plan (see
``identitylib/_application/_plan.py``), exactly as the blocking method does, and runs it
here: the flow with ``run_async`` over httpx, concurrent identical calls sharing one
task, a token in its refresh window served at once and refreshed in a background task;
blocking steps (the browser wait, a caller's callback) in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Mapping, MutableMapping
from typing import Any, Optional, TypeVar, Union, cast

from identitylib._application._calls import CommonCalls, ConfidentialCalls, PublicCalls
from identitylib._application._core import set_up
from identitylib._application._lanes import client_lane, obo_lane, silent_lane
from identitylib._application._names import MsalNames, PublicNames
from identitylib._application._plan import Answer, Blocking, Plan, Steps
from identitylib._authority import Authority, TrustKey
from identitylib._authority._region import resolve_region
from identitylib._log import get_logger, hide, hide_credential, hide_secrets
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow
from identitylib._telemetry import BackgroundRefresh, MeasuredCalls, cache_lane
from identitylib._transport._async import AsyncTransport, ThreadedTransport, import_httpx, run_async
from identitylib._transport._bounds import deadline_for

from ._bridge import hooks_block, in_worker
from ._flight import SingleFlight, flight_key

logger = get_logger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class AsyncRunner:
    """How the asyncio API runs a plan: ``run_async`` over the app's async transport."""

    _core: CommonCalls
    _transport: Union[AsyncTransport, ThreadedTransport]
    _background: bool
    _hooks_in_thread: Optional[bool]
    _flights: SingleFlight

    async def _perform(self, plan: Plan[R], same_call: Optional[tuple[Any, ...]] = None) -> R:
        """Run a builder's plan: its answer, or its flow and ``finish``.

        ``same_call``: the arguments of a cache-first acquisition, frozen into a key (see
        ``flight_key``) only when the plan needs I/O, never for an answer (a cache hit):
        concurrent identical calls share one task and each gets a copy of its result
        (``docs/async.md``), those with a claims challenge or ``force_refresh`` included.
        """
        if isinstance(plan, Answer):
            return plan.value
        call = plan
        defer = self._deferred_refresh(call.key, call.background_flow)
        key = None if same_call is None else flight_key(*same_call)
        shared = None if key is None else (id(self._core.token_cache), key)
        result = await self._flights.run(shared, lambda: self._execute(call.make_flow(defer)))
        return call.finish(result)

    async def _perform_steps(self, steps: Steps[R]) -> R:
        """Run a method made of several plans and blocking steps, in order."""
        try:
            step = next(steps)
            while True:
                if isinstance(step, Blocking):
                    value = await in_worker(step.work)
                else:
                    value = await self._perform(step)
                step = steps.send(value)
        except StopIteration as stop:
            return cast(R, stop.value)
        finally:
            steps.close()

    def _offload(self) -> bool:
        if self._hooks_in_thread is not None:
            return self._hooks_in_thread
        return hooks_block(self._core.token_cache)

    async def _execute(self, flow: Flow[T]) -> T:
        """Run a flow over the async transport; an ending FlowError becomes its result."""
        try:
            return await run_async(flow, self._transport, offload=self._offload())
        except FlowError as failure:
            return failure.result  # type: ignore[return-value]

    def _deferred_refresh(
        self, key: Optional[Hashable], make_flow: Callable[[], Flow[Any]]
    ) -> Optional[Callable[[], None]]:
        """What a flow calls for a token in its refresh window: a background task on this
        loop (the flow may call it from an offload thread); None when disabled."""
        if not self._background or key is None:
            return None
        loop = asyncio.get_running_loop()

        def start() -> None:
            loop.call_soon_threadsafe(self._schedule_refresh, key, make_flow)

        return start

    def _schedule_refresh(self, key: Hashable, make_flow: Callable[[], Flow[Any]]) -> None:
        """Called (on the loop) by a flow that served a token due for refresh."""

        measured = BackgroundRefresh(self)

        async def refresh() -> Any:
            result = await measured.run_async(lambda: self._execute(make_flow()))
            if isinstance(result, dict) and "error" in result:
                logger.warning("Background token refresh failed: %s", result.get("error"))
            return result

        if self._flights.start_background(("refresh", key), refresh):
            logger.debug("Token due for refresh: served now, refreshed in the background")


class ClientApplication(MsalNames, AsyncRunner, MeasuredCalls):
    """Base of the async :class:`PublicClientApplication` and
    :class:`ConfidentialClientApplication`.

    Takes the sync class's parameters (MSAL's) plus:

    * ``http_client``: an ``httpx.AsyncClient`` (used as given), an MSAL-style blocking
      client such as a ``requests.Session`` (each request then runs in a worker thread),
      or None (identitylib's own httpx client with ``verify``, ``proxies``, ``timeout``);
    * ``background_refresh``: serve a cached token that is due for proactive refresh at
      once and refresh it in a background task (one per call key). Default: on for
      confidential clients, off for public ones;
    * ``cache_hooks_in_thread``: run the flows' cache steps in a worker thread (None:
      automatically when the token cache has access hooks, e.g. a persisted or Redis
      cache).

    Every sync method that does I/O is a coroutine here; the constructor does no I/O.
    """

    # The cache lanes' path to the app's cache-hit paths (``_lanes.py``), kept in the app
    # object itself: a rotating-key hit reads no attribute table of its app.
    __slots__ = ("_hits",)

    _core_class: type[CommonCalls] = CommonCalls
    _background_default = False

    def __init__(
        self,
        client_id: str,
        client_credential: Any = None,
        authority: Any = None,
        *,
        http_client: Any = None,
        verify: Any = True,
        proxies: Optional[Mapping[str, str]] = None,
        timeout: Any = None,
        background_refresh: Optional[bool] = None,
        cache_hooks_in_thread: Optional[bool] = None,
        **kwargs: Any,
    ) -> None:
        httpx = import_httpx()
        if kwargs.pop("timing", None):
            raise ValueError("timing=True is not supported by identitylib.aio applications")
        is_async_client = isinstance(http_client, httpx.AsyncClient)
        self._client_credential = client_credential
        client_credential = hide_credential(client_credential)  # '***' in crash reports
        sync_transport, self._core = set_up(
            self._core_class,
            client_id,
            client_credential,
            authority,
            http_client=None if is_async_client else http_client,
            verify=verify,
            proxies=proxies,
            timeout=timeout,
            # Discovery is shared with the apps that send requests the same way: this
            # app's own http_client (an httpx one included), verify and proxies.
            trust=TrustKey.of(http_client, verify, proxies),
            **kwargs,
        )
        self._hits = self._core.hits  # for the cache lanes (``_application/_lanes.py``)
        self._transport = (
            ThreadedTransport(sync_transport)
            if http_client is not None and not is_async_client
            else AsyncTransport(
                http_client,
                verify=verify,
                proxies=proxies,
                timeout=timeout,
                throttle=sync_transport.throttle,  # one record of failures per app
            )
        )
        self._background = (
            self._background_default if background_refresh is None else bool(background_refresh)
        )
        self._hooks_in_thread = cache_hooks_in_thread
        self._flights = self._single_flight(deadline_for(timeout))

    def _single_flight(self, limit: float) -> SingleFlight:
        """How concurrent identical calls share one flow: a :class:`SingleFlight` whose
        joining calls wait at most ``limit`` seconds (a subclass may choose otherwise)."""
        return SingleFlight(limit)

    # ------------------------------------------------------------------ attributes

    @property
    def client_id(self) -> str:
        """The application (client) id."""
        return self._core.client_id

    @property
    def authority(self) -> Authority:
        """The :class:`Authority` (shared with the sync API's discovery registry)."""
        return self._core.authority

    @property
    def token_cache(self) -> Any:
        """The token cache (the same kind of object the sync API uses).

        Assigning another cache makes every later call use that one, as in the sync API
        (and msal); a call already running finishes with the cache it started with.
        """
        return self._core.token_cache

    @token_cache.setter
    def token_cache(self, cache: Any) -> None:
        self._core.use_cache(cache)

    @property
    def client_credential(self) -> Any:
        """The credential as given to the constructor."""
        return self._client_credential

    @property
    def client_claims(self) -> Any:
        """The extra claims of the client assertion, as given to the constructor."""
        return self._core.client_claims

    @property
    def app_name(self) -> Optional[str]:
        """The ``app_name`` given to the constructor (sent as ``x-app-name``)."""
        return self._core.app_name

    @property
    def app_version(self) -> Optional[str]:
        """The ``app_version`` given to the constructor (sent as ``x-app-ver``)."""
        return self._core.app_version

    @property
    def http_client(self) -> Any:
        """The HTTP client requests are sent with (None: identitylib's own httpx client)."""
        return self._transport.http_client

    def _telemetry_personal(self) -> bool:
        return bool(self._core.state.enable_pii_log)

    def __repr__(self) -> str:
        core = getattr(self, "_core", None)  # None while a failing constructor is reported
        if core is None:
            return f"<{type(self).__name__} (not constructed)>"
        url = self.authority.parsed.url
        return f"{type(self).__name__}(client_id={self.client_id!r}, authority={url!r})"

    async def aclose(self) -> None:
        """Close the httpx clients identitylib made (never one you passed in)."""
        await self._transport.aclose()

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ methods

    async def get_accounts(self, username: Optional[str] = None) -> list[dict[str, Any]]:
        """The accounts signed in before (see the sync method)."""
        return await self._perform(self._core.get_accounts(username))

    async def remove_account(self, account: Mapping[str, Any]) -> None:
        """Forget an account's tokens and account entries (see the sync method)."""
        await self._perform(self._core.remove_account(account))

    @cache_lane(silent_lane)
    async def acquire_token_silent_with_error(
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
        """A token for ``account`` from the cache, refreshing it if needed (see the sync
        method): a token dict, None, or an error dict.
        """
        return await self._perform(
            self._core.acquire_token_silent_with_error(
                scopes,
                account,
                authority,
                force_refresh,
                claims_challenge,
                forwarded_client_claims,
                auth_scheme,
                **kwargs,
            ),
            (
                "silent",
                scopes,
                account,
                authority,
                force_refresh,
                claims_challenge,
                forwarded_client_claims,
                auth_scheme,
                kwargs,
            ),
        )

    @cache_lane(silent_lane)
    async def acquire_token_silent(
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
        return await self._perform(
            self._core.acquire_token_silent(
                scopes,
                account,
                authority,
                force_refresh,
                claims_challenge,
                forwarded_client_claims,
                auth_scheme,
                **kwargs,
            ),
            (
                "silent",
                scopes,
                account,
                authority,
                force_refresh,
                claims_challenge,
                forwarded_client_claims,
                auth_scheme,
                kwargs,
                "no error",
            ),
        )

    async def acquire_token_by_refresh_token(
        self, refresh_token: str, scopes: list[str], **kwargs: Any
    ) -> dict[str, Any]:
        """Migrate a refresh token obtained elsewhere into this app's cache."""
        refresh_token = hide(refresh_token)  # '***' in crash reports' locals (see _log)
        return await self._perform(
            self._core.acquire_token_by_refresh_token(refresh_token, scopes, **kwargs)
        )

    async def initiate_auth_code_flow(
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
        """Start a sign-in: the auth code flow dict with its ``auth_uri`` (see the sync
        method; its keyword arguments are accepted).
        """
        return await self._perform(
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

    async def acquire_token_by_auth_code_flow(
        self,
        auth_code_flow: dict[str, Any],
        auth_response: dict[str, Any],
        scopes: Optional[list[str]] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Check the authorization response against its flow and redeem its code."""
        if isinstance(auth_code_flow, Mapping) and isinstance(auth_response, Mapping):
            auth_code_flow = hide_secrets(auth_code_flow)  # '***' in crash reports' locals
            auth_response = hide_secrets(auth_response)
        return await self._perform(
            self._core.acquire_token_by_auth_code_flow(
                auth_code_flow, auth_response, scopes, **kwargs
            )
        )

    async def get_authorization_request_url(
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
        """Deprecated: the URL of an authorization request (see the sync method)."""
        return await self._perform(
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

    async def acquire_token_by_authorization_code(
        self,
        code: str,
        scopes: list[str],
        redirect_uri: Optional[str] = None,
        nonce: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Deprecated: redeem an authorization code obtained without a flow dict."""
        code = hide(code)  # '***' in crash reports' locals (see _log)
        return await self._perform(
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

    async def acquire_token_by_username_password(
        self,
        username: str,
        password: str,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        auth_scheme: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Sign a user in with a username and password (ROPC); avoid it where you can."""
        password = hide(password)  # '***' in crash reports' locals (see _log)
        return await self._perform(
            self._core.acquire_token_by_username_password(
                username, password, scopes, claims_challenge, auth_scheme, **kwargs
            )
        )


class PublicClientApplication(PublicNames, ClientApplication):
    """Async twin of :class:`identitylib.PublicClientApplication`."""

    _core_class = PublicCalls
    _core: PublicCalls
    _background_default = False

    def __init__(
        self,
        client_id: str,
        client_credential: Any = None,
        *,
        enable_broker_on_windows: Optional[bool] = None,
        enable_broker_on_mac: Optional[bool] = None,
        enable_broker_on_linux: Optional[bool] = None,
        enable_broker_on_wsl: Optional[bool] = None,
        **kwargs: Any,
    ) -> None:
        """The blocking class's parameters (the broker flags are accepted and unused),
        and :class:`ClientApplication`'s."""
        super().__init__(client_id, client_credential, **kwargs)

    async def initiate_device_flow(
        self,
        scopes: Optional[list[str]] = None,
        *,
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Start a device code sign-in; show ``flow["message"]`` to the user."""
        return await self._perform(
            self._core.initiate_device_flow(scopes, claims_challenge=claims_challenge, **kwargs)
        )

    async def acquire_token_by_device_flow(
        self,
        flow: MutableMapping[str, Any],
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Wait (with ``asyncio.sleep``) for the user to sign in on another device.

        Cancel the task, set ``flow["expires_at"] = 0`` or pass ``exit_condition`` to stop.
        """
        return await self._perform(
            self._core.acquire_token_by_device_flow(flow, claims_challenge, **kwargs)
        )

    async def acquire_token_interactive(
        self,
        scopes: list[str],
        prompt: Optional[str] = None,
        login_hint: Optional[str] = None,
        domain_hint: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        timeout: Optional[float] = None,
        port: Optional[int] = None,
        extra_scopes_to_consent: Optional[list[str]] = None,
        max_age: Optional[int] = None,
        parent_window_handle: Any = None,
        on_before_launching_ui: Optional[Callable[..., Any]] = None,
        auth_scheme: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Sign the user in with the system browser (see the sync method for the keyword
        arguments). The loopback listener and the browser run in a worker thread; the
        token requests are sent by this app's async transport. Callbacks
        (``auth_uri_callback``, ``on_before_launching_ui``) are called in that thread.
        """
        return await self._perform_steps(
            self._core.acquire_token_interactive(
                scopes,
                prompt,
                login_hint,
                domain_hint,
                claims_challenge,
                timeout,
                port,
                extra_scopes_to_consent,
                max_age,
                parent_window_handle,
                on_before_launching_ui,
                auth_scheme,
                **kwargs,
            )
        )

    async def acquire_token(
        self,
        scopes: list[str],
        *,
        account: Optional[Mapping[str, Any]] = None,
        username: Optional[str] = None,
        use_device_code: Optional[bool] = None,
        device_code_callback: Optional[Callable[[dict[str, Any]], Any]] = None,
        **interactive_kwargs: Any,
    ) -> dict[str, Any]:
        """Silent first, then an interactive or device code sign-in (see the sync method).

        Runs in a worker thread like :meth:`acquire_token_interactive`; the device flow's
        waits and every request still happen on this event loop. ``device_code_callback``
        is called in the worker thread.
        """
        return await self._perform_steps(
            self._core.acquire_token(
                scopes,
                account=account,
                username=username,
                use_device_code=use_device_code,
                device_code_callback=device_code_callback,
                **interactive_kwargs,
            )
        )


class ConfidentialClientApplication(ClientApplication):
    """Async twin of :class:`identitylib.ConfidentialClientApplication`."""

    _core_class = ConfidentialCalls
    _core: ConfidentialCalls
    _background_default = True

    #: Whether ``azure_region=True`` was resolved (set on the instance once it is).
    _region_known = False

    async def _detect_region(self) -> None:
        """``azure_region=True``: detect the region in a thread once (it may ask IMDS)."""
        if self._region_known:
            return
        choice = self._core.region_choice
        if choice is True:
            await asyncio.to_thread(resolve_region, choice)
        self._region_known = True

    @cache_lane(client_lane)
    async def acquire_token_for_client(
        self,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        fmi_path: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """An app-only token for ``scopes``: cache first, one request per key at a time."""
        await self._detect_region()
        return await self._perform(
            self._core.acquire_token_for_client(
                scopes, claims_challenge, fmi_path, forwarded_client_claims, **kwargs
            ),
            ("client", scopes, claims_challenge, fmi_path, forwarded_client_claims, kwargs),
        )

    @cache_lane(obo_lane)
    async def acquire_token_on_behalf_of(
        self,
        user_assertion: str,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Exchange the incoming ``user_assertion`` for a downstream token (cache first)."""
        user_assertion = hide(user_assertion)  # '***' in crash reports' locals (see _log)
        return await self._perform(
            self._core.acquire_token_on_behalf_of(
                user_assertion, scopes, claims_challenge, forwarded_client_claims, **kwargs
            ),
            ("obo", user_assertion, scopes, claims_challenge, forwarded_client_claims, kwargs),
        )

    async def acquire_token_by_user_federated_identity_credential(
        self,
        scopes: list[str],
        assertion: str,
        username: Optional[str] = None,
        user_object_id: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A user's tokens in exchange for the app's federated credential ``assertion``
        (the ``user_fic`` grant; see the sync method). Every call asks the server.
        """
        assertion = hide(assertion)  # '***' in crash reports' locals (see _log)
        return await self._perform(
            self._core.acquire_token_by_user_federated_identity_credential(
                scopes,
                assertion,
                username,
                user_object_id,
                claims_challenge,
                forwarded_client_claims,
                **kwargs,
            )
        )

    async def remove_tokens_for_client(self) -> None:
        """Remove the app-only access tokens this app cached."""
        await self._perform(self._core.remove_tokens_for_client())
