"""The asyncio application classes: the sync API's methods as coroutines, on the same flows."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping, MutableMapping
from typing import Any, Callable, Optional, TypeVar, Union

from identitylib._application._names import MsalNames
from identitylib._authority import Authority, TrustKey
from identitylib._authority._region import resolve_region
from identitylib._log import get_logger, hide, hide_credential, hide_secrets
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import Flow
from identitylib._telemetry import MeasuredCalls
from identitylib._transport._async import AsyncTransport, ThreadedTransport, import_httpx, run_async

from ._bridge import (
    Returned,
    SyncConfidentialCore,
    SyncPublicCore,
    call_in_thread,
    capture,
    hooks_block,
)
from ._flight import SingleFlight, flight_key

logger = get_logger(__name__)
T = TypeVar("T")


class ClientApplication(MsalNames, MeasuredCalls):
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

    _core_class: Callable[..., Any] = SyncPublicCore
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
        if kwargs.get("timing"):
            raise ValueError("timing=True is not supported by identitylib.aio applications")
        is_async_client = isinstance(http_client, httpx.AsyncClient)
        self._client_credential = client_credential
        client_credential = hide_credential(client_credential)  # '***' in crash reports
        core_args: dict[str, Any] = dict(kwargs)
        if client_credential is not None:
            core_args["client_credential"] = client_credential
        self._app: Any = self._core_class(
            client_id,
            authority=authority,
            http_client=None if is_async_client else http_client,
            verify=verify,
            proxies=proxies,
            timeout=timeout,
            # Discovery is shared with the apps that send requests the same way: this
            # app's own http_client (an httpx one included), verify and proxies.
            trust=TrustKey.of(http_client, verify, proxies),
            **core_args,
        )
        self._transport: Union[AsyncTransport, ThreadedTransport]
        if http_client is not None and not is_async_client:
            self._transport = ThreadedTransport(self._app._transport)
        else:
            self._transport = AsyncTransport(
                http_client,
                verify=verify,
                proxies=proxies,
                timeout=timeout,
                throttle=self._app._transport.throttle,  # one record of failures per app
            )
        self._background = (
            self._background_default if background_refresh is None else bool(background_refresh)
        )
        self._hooks_in_thread = cache_hooks_in_thread
        self._flights = SingleFlight()
        # The sync core's own single-flight waits on a threading.Event inside the flow,
        # which would block (or deadlock) the event loop: this class coalesces instead.
        self._app._flights = None
        self._app._aio_scheduler = self._schedule_refresh if self._background else None

    # ------------------------------------------------------------------ attributes

    @property
    def client_id(self) -> str:
        """The application (client) id."""
        return str(self._app.client_id)

    @property
    def authority(self) -> Authority:
        """The :class:`Authority` (shared with the sync API's discovery registry)."""
        authority: Authority = self._app.authority
        return authority

    @property
    def token_cache(self) -> Any:
        """The token cache (the same kind of object the sync API uses).

        Assigning another cache makes every later call use that one, as in the sync API
        (and msal); a call already running finishes with the cache it started with.
        """
        return self._app.token_cache

    @token_cache.setter
    def token_cache(self, cache: Any) -> None:
        self._app.token_cache = cache

    @property
    def client_credential(self) -> Any:
        """The credential as given to the constructor."""
        return self._client_credential

    @property
    def client_claims(self) -> Any:
        """The extra claims of the client assertion, as given to the constructor."""
        return self._app.client_claims

    @property
    def app_name(self) -> Optional[str]:
        """The ``app_name`` given to the constructor (sent as ``x-app-name``)."""
        name: Optional[str] = self._app.app_name
        return name

    @property
    def app_version(self) -> Optional[str]:
        """The ``app_version`` given to the constructor (sent as ``x-app-ver``)."""
        version: Optional[str] = self._app.app_version
        return version

    @property
    def http_client(self) -> Any:
        """The HTTP client requests are sent with (None: identitylib's own httpx client)."""
        return self._transport.http_client

    def __repr__(self) -> str:
        core = getattr(self, "_app", None)  # None while a failing constructor is reported
        if core is None:
            return f"<{type(self).__name__} (not constructed)>"
        url = self.authority.parsed.url
        return f"{type(self).__name__}(client_id={self.client_id!r}, authority={url!r})"

    def _telemetry_personal(self) -> bool:
        return bool(self._app._telemetry_personal())

    async def aclose(self) -> None:
        """Close the httpx clients identitylib made (never one you passed in)."""
        await self._transport.aclose()

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ machinery

    def _offload(self) -> bool:
        if self._hooks_in_thread is not None:
            return self._hooks_in_thread
        return hooks_block(self._app.token_cache)

    async def _execute(self, flow: Flow[T]) -> T:
        """Run a flow over the async transport; an ending FlowError becomes its result."""
        try:
            return await run_async(flow, self._transport, offload=self._offload())
        except FlowError as failure:
            return failure.result  # type: ignore[return-value]

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Build the sync method's flow and run it here (no single-flight)."""
        built = capture(method, *args, **kwargs)
        if isinstance(built, Returned):
            return built.value
        return await self._execute(built)

    async def _in_thread(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The whole sync method in a worker thread, its flows on this loop."""
        return await call_in_thread(self._execute, method, *args, **kwargs)

    async def _acquire(
        self, key: Optional[Hashable], method: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        """A cache-first acquisition: concurrent identical calls share one flow."""
        cache = self._app.token_cache  # the one the flow is built for
        built = capture(method, *args, **kwargs)
        if isinstance(built, Returned):
            return built.value  # e.g. the sync layer's cache-hit memo answered
        if key is None:
            return await self._execute(built)
        flow = built
        return await self._flights.run((id(cache), key), lambda: self._execute(flow))

    def _schedule_refresh(self, key: Hashable, make_flow: Callable[[], Flow[Any]]) -> None:
        """Called (on the loop) by a flow that served a token due for refresh."""

        async def refresh() -> Any:
            result = await self._execute(make_flow())
            if isinstance(result, dict) and "error" in result:
                logger.warning("Background token refresh failed: %s", result.get("error"))
            return result

        if self._flights.start_background(("refresh", key), refresh):
            logger.debug("Token due for refresh: served now, refreshed in the background")

    # ------------------------------------------------------------------ accounts

    async def get_accounts(self, username: Optional[str] = None) -> list[dict[str, Any]]:
        """The accounts signed in before (see the sync method)."""
        accounts: list[dict[str, Any]] = await self._call(self._app.get_accounts, username)
        return accounts

    async def remove_account(self, account: Mapping[str, Any]) -> None:
        """Forget an account's tokens and account entries (see the sync method)."""
        await self._call(self._app.remove_account, account)

    async def _silent(
        self,
        scopes: list[str],
        account: Optional[Mapping[str, Any]],
        authority: Optional[str],
        force_refresh: bool,
        claims_challenge: Optional[str],
        forwarded_client_claims: Optional[str],
        auth_scheme: Any,
        kwargs: dict[str, Any],
    ) -> Optional[dict[str, Any]]:
        key = flight_key(
            "silent", scopes, account, authority, force_refresh, claims_challenge,
            forwarded_client_claims, kwargs,
        )  # fmt: skip
        result = await self._acquire(
            key,
            self._app.acquire_token_silent_with_error,
            scopes,
            account,
            authority=authority,
            force_refresh=force_refresh,
            claims_challenge=claims_challenge,
            forwarded_client_claims=forwarded_client_claims,
            auth_scheme=auth_scheme,
            **kwargs,
        )
        return result or None

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
        method): a token dict, None, or an error dict."""
        return await self._silent(
            scopes, account, authority, force_refresh, claims_challenge,
            forwarded_client_claims, auth_scheme, kwargs,
        )  # fmt: skip

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
        result = await self._silent(
            scopes, account, authority, force_refresh, claims_challenge,
            forwarded_client_claims, auth_scheme, kwargs,
        )  # fmt: skip
        if result is None or "error" in result:
            return None
        return result

    async def acquire_token_by_refresh_token(
        self, refresh_token: str, scopes: list[str], **kwargs: Any
    ) -> dict[str, Any]:
        """Migrate a refresh token obtained elsewhere into this app's cache."""
        refresh_token = hide(refresh_token)  # '***' in crash reports' locals (see _log)
        result: dict[str, Any] = await self._call(
            self._app.acquire_token_by_refresh_token, refresh_token, scopes, **kwargs
        )
        return result

    # ------------------------------------------------------------------ auth code

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
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Start a sign-in: the auth code flow dict with its ``auth_uri`` (see the sync
        method; its keyword arguments are accepted)."""
        result: dict[str, Any] = await self._in_thread(
            self._app.initiate_auth_code_flow,
            scopes,
            redirect_uri,
            state=state,
            prompt=prompt,
            login_hint=login_hint,
            domain_hint=domain_hint,
            claims_challenge=claims_challenge,
            max_age=max_age,
            response_mode=response_mode,
            **kwargs,
        )
        return result

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
        result: dict[str, Any] = await self._call(
            self._app.acquire_token_by_auth_code_flow,
            auth_code_flow,
            auth_response,
            scopes,
            **kwargs,
        )
        return result

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
        url: str = await self._in_thread(
            self._app.get_authorization_request_url,
            scopes,
            login_hint=login_hint,
            state=state,
            redirect_uri=redirect_uri,
            response_type=response_type,
            prompt=prompt,
            nonce=nonce,
            domain_hint=domain_hint,
            claims_challenge=claims_challenge,
            **kwargs,
        )
        return url

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
        result: dict[str, Any] = await self._call(
            self._app.acquire_token_by_authorization_code,
            code,
            scopes,
            redirect_uri=redirect_uri,
            nonce=nonce,
            claims_challenge=claims_challenge,
            forwarded_client_claims=forwarded_client_claims,
            **kwargs,
        )
        return result

    # ------------------------------------------------------------------ password

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
        result: dict[str, Any] = await self._call(
            self._app.acquire_token_by_username_password,
            username,
            password,
            scopes,
            claims_challenge=claims_challenge,
            auth_scheme=auth_scheme,
            **kwargs,
        )
        return result


class PublicClientApplication(ClientApplication):
    """Async twin of :class:`identitylib.PublicClientApplication`."""

    _core_class = SyncPublicCore
    _background_default = False

    CONSOLE_WINDOW_HANDLE = SyncPublicCore.CONSOLE_WINDOW_HANDLE
    DEVICE_FLOW_CORRELATION_ID = SyncPublicCore.DEVICE_FLOW_CORRELATION_ID

    async def initiate_device_flow(
        self,
        scopes: Optional[list[str]] = None,
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Start a device code sign-in; show ``flow["message"]`` to the user."""
        result: dict[str, Any] = await self._call(
            self._app.initiate_device_flow, scopes, claims_challenge=claims_challenge, **kwargs
        )
        return result

    async def acquire_token_by_device_flow(
        self,
        flow: MutableMapping[str, Any],
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Wait (with ``asyncio.sleep``) for the user to sign in on another device.

        Cancel the task, set ``flow["expires_at"] = 0`` or pass ``exit_condition`` to stop.
        """
        result: dict[str, Any] = await self._call(
            self._app.acquire_token_by_device_flow, flow, claims_challenge, **kwargs
        )
        return result

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
        (``auth_uri_callback``, ``on_before_launching_ui``) are called in that thread."""
        result: dict[str, Any] = await self._in_thread(
            self._app.acquire_token_interactive,
            scopes,
            prompt=prompt,
            login_hint=login_hint,
            domain_hint=domain_hint,
            claims_challenge=claims_challenge,
            timeout=timeout,
            port=port,
            extra_scopes_to_consent=extra_scopes_to_consent,
            max_age=max_age,
            parent_window_handle=parent_window_handle,
            on_before_launching_ui=on_before_launching_ui,
            auth_scheme=auth_scheme,
            **kwargs,
        )
        return result

    async def acquire_token(self, scopes: list[str], **kwargs: Any) -> dict[str, Any]:
        """Silent first, then an interactive or device code sign-in (see the sync method).

        Runs in a worker thread like :meth:`acquire_token_interactive`; the device flow's
        waits and every request still happen on this event loop. ``device_code_callback``
        is called in the worker thread.
        """
        result: dict[str, Any] = await self._in_thread(self._app.acquire_token, scopes, **kwargs)
        return result


class ConfidentialClientApplication(ClientApplication):
    """Async twin of :class:`identitylib.ConfidentialClientApplication`."""

    _core_class = SyncConfidentialCore
    _background_default = True

    #: Whether ``azure_region=True`` was resolved (set on the instance once it is).
    _region_known = False

    async def _detect_region(self) -> None:
        """``azure_region=True``: detect the region in a thread once (it may ask IMDS)."""
        if self._region_known:
            return
        choice = getattr(self._app, "_region_choice", None)
        if choice is True:
            await asyncio.to_thread(resolve_region, choice)
        self._region_known = True

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
        key = flight_key(
            "client", scopes, claims_challenge, fmi_path, forwarded_client_claims, kwargs
        )
        result: dict[str, Any] = await self._acquire(
            key,
            self._app.acquire_token_for_client,
            scopes,
            claims_challenge=claims_challenge,
            fmi_path=fmi_path,
            forwarded_client_claims=forwarded_client_claims,
            **kwargs,
        )
        return result

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
        key = flight_key(
            "obo", user_assertion, scopes, claims_challenge, forwarded_client_claims, kwargs
        )
        result: dict[str, Any] = await self._acquire(
            key,
            self._app.acquire_token_on_behalf_of,
            user_assertion,
            scopes,
            claims_challenge=claims_challenge,
            forwarded_client_claims=forwarded_client_claims,
            **kwargs,
        )
        return result

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
        (the ``user_fic`` grant; see the sync method). Every call asks the server."""
        assertion = hide(assertion)  # '***' in crash reports' locals (see _log)
        result: dict[str, Any] = await self._call(
            self._app.acquire_token_by_user_federated_identity_credential,
            scopes,
            assertion,
            username=username,
            user_object_id=user_object_id,
            claims_challenge=claims_challenge,
            forwarded_client_claims=forwarded_client_claims,
            **kwargs,
        )
        return result

    async def remove_tokens_for_client(self) -> None:
        """Remove the app-only access tokens this app cached."""
        await self._call(self._app.remove_tokens_for_client)
