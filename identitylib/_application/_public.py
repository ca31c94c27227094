"""``PublicClientApplication``: desktop, mobile and CLI apps that hold no secret."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Optional

from ._base import ClientApplication
from ._calls import PublicCalls
from ._names import PublicNames


class PublicClientApplication(PublicNames, ClientApplication):
    """An app that signs users in and cannot keep a credential (desktop, CLI, device)."""

    _core_class = PublicCalls
    _core: PublicCalls

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
        """MSAL's parameters; the ``enable_broker_on_*`` flags are accepted and unused
        (identitylib has no broker)."""
        super().__init__(client_id, client_credential, **kwargs)

    def initiate_device_flow(
        self,
        scopes: Optional[list[str]] = None,
        *,
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Start a device code sign-in; show ``flow["message"]`` to the user.

        Returns MSAL's device flow dict: the server's fields (``user_code``,
        ``device_code``, ``verification_uri``, ``expires_in``, ``interval``, ``message``)
        plus ``expires_at`` and ``_correlation_id``. ``message`` is always present (written
        in Entra's words if the server sent none) and v1 answers (``verification_url``,
        numbers as strings) are normalised. On failure it is an error dict without
        ``user_code``: check for that key before polling.
        """
        return self._perform(
            self._core.initiate_device_flow(scopes, claims_challenge=claims_challenge, **kwargs)
        )

    def acquire_token_by_device_flow(
        self,
        flow: MutableMapping[str, Any],
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Wait for the user to sign in on another device; return a token or error dict.

        Blocks, polling every ``flow["interval"]`` seconds (never more often than once a
        second, 5 s more after each ``slow_down``), until the user approves or declines,
        the code expires, ``flow["expires_at"]`` is set to 0 (e.g. from another thread),
        or ``exit_condition(flow)`` (keyword argument) returns True; then the last error
        (usually ``authorization_pending``) is returned. The wait happens in slices of at
        most one second, so stopping takes effect within a second.
        """
        return self._perform(
            self._core.acquire_token_by_device_flow(flow, claims_challenge, **kwargs)
        )

    def acquire_token_interactive(
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
        """Sign the user in with the system browser and return a token result.

        A listener on ``127.0.0.1`` (``port``, or a free port) receives the answer at the
        redirect URI ``http://localhost:{port}`` (``response_mode=form_post``; a query
        string answer is accepted too), protected by PKCE, ``state`` and ``nonce``.
        Answers with a wrong ``state`` are refused and the wait goes on.

        ``timeout`` defaults to 300 seconds (MSAL waits forever); when it passes,
        :class:`~identitylib.BrowserInteractionTimeoutError` is raised. When no browser
        can be opened (none installed, no display, an SSH session), ``auth_uri_callback``
        (keyword) is called with the address to visit, or the address is printed to
        stderr. ``extra_scopes_to_consent`` are consented to at sign-in but not part of
        the token. Keyword arguments as in MSAL: ``welcome_template``,
        ``success_template``, ``error_template`` (:class:`string.Template` text),
        ``auth_uri_callback``, ``display``, ``ui_locales``, ``id_token_hint``,
        ``acr_values``, ``data`` and ``headers``. ``parent_window_handle`` is accepted and
        unused (there is no broker); ``auth_scheme`` (PoP) needs a broker: ValueError.
        """
        return self._perform_steps(
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

    def acquire_token(
        self,
        scopes: list[str],
        *,
        account: Optional[Mapping[str, Any]] = None,
        username: Optional[str] = None,
        use_device_code: Optional[bool] = None,
        device_code_callback: Optional[Callable[[dict[str, Any]], Any]] = None,
        **interactive_kwargs: Any,
    ) -> dict[str, Any]:
        """Get a token the recommended way in one call (an identitylib addition; not in MSAL).

        1. Pick the account: ``account``, else the cached account of ``username``, else the
           only cached account (none when there are several).
        2. Try :meth:`acquire_token_silent_with_error` for it (with ``claims_challenge`` if
           given). A token is returned as is; an error that a new sign-in cannot cure
           (e.g. a network or server problem) is returned too.
        3. Otherwise sign in: :meth:`acquire_token_interactive` with
           ``login_hint=username`` (or the account's username) and ``interactive_kwargs``;
           or the device code flow when ``use_device_code=True``, or when it is None and no
           browser can be used here (SSH session, Linux without a display, no browser
           found). ``use_device_code=False`` always signs in interactively. The device flow
           calls ``device_code_callback(flow)`` (default: print ``flow["message"]`` to
           stderr) before waiting for the user.

        Returns the final token dict or error dict.
        """
        return self._perform_steps(
            self._core.acquire_token(
                scopes,
                account=account,
                username=username,
                use_device_code=use_device_code,
                device_code_callback=device_code_callback,
                **interactive_kwargs,
            )
        )
