"""Interactive sign-in through the system browser and a loopback listener."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from identitylib._flows import auth_code
from identitylib._log import get_logger
from identitylib._protocol._errors import is_error
from identitylib._protocol._scopes import decorate, validate_scopes

from ._auth_code import check_max_age
from ._core import AppCore

logger = get_logger(__name__)

#: Extra OpenID Connect authorization parameters MSAL accepts as keyword arguments.
_AUTHORIZE_EXTRAS = ("display", "ui_locales", "id_token_hint", "acr_values")
#: Keyword arguments MSAL accepts that mean nothing without a broker.
_BROKER_ONLY = ("enable_msa_passthrough", "browser_name")


def _check_timeout(timeout: object) -> float:
    if timeout is None:
        from identitylib._interactive._session import DEFAULT_TIMEOUT

        return DEFAULT_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _check_port(port: object) -> int:
    if port is None:
        return 0
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int from 0 to 65535 (0: any free port), got {port!r}")
    return port


class InteractiveMixin(AppCore):
    """``acquire_token_interactive``."""

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
        if auth_scheme is not None:
            raise ValueError(
                "auth_scheme (proof-of-possession tokens) needs an authentication broker, "
                "which identitylib does not support"
            )
        requested = decorate(validate_scopes(scopes), self._state.exclude_scopes)
        extra_scopes = (
            validate_scopes(extra_scopes_to_consent, name="extra_scopes_to_consent")
            if extra_scopes_to_consent
            else []
        )
        wait = _check_timeout(timeout)
        listen_port = _check_port(port)
        checked_max_age = check_max_age(max_age)
        for name, value in (
            ("prompt", prompt),
            ("login_hint", login_hint),
            ("domain_hint", domain_hint),
        ):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string, got {type(value).__name__}")
        from identitylib._interactive import LoopbackListener, Pages, browser_sign_in

        pages = Pages.from_options(
            success_template=kwargs.pop("success_template", None),
            error_template=kwargs.pop("error_template", None),
            welcome_template=kwargs.pop("welcome_template", None),
        )
        auth_uri_callback = kwargs.pop("auth_uri_callback", None)
        if auth_uri_callback is not None and not callable(auth_uri_callback):
            raise ValueError("auth_uri_callback must be a callable taking the URL to visit")
        if on_before_launching_ui is not None and not callable(on_before_launching_ui):
            raise ValueError("on_before_launching_ui must be a callable")
        extra_params = {name: kwargs.pop(name) for name in _AUTHORIZE_EXTRAS if name in kwargs}
        data = kwargs.pop("data", None)
        headers = kwargs.pop("headers", None)
        for name in _BROKER_ONLY:
            kwargs.pop(name, None)
        if kwargs:
            logger.debug("acquire_token_interactive ignores %s", sorted(kwargs))
        self._state.claims(claims_challenge)  # ValueError before any I/O

        with LoopbackListener(listen_port) as listener:
            flow = self._run(
                auth_code.initiate(
                    self._state,
                    sorted(set(requested) | set(extra_scopes)),
                    redirect_uri=listener.redirect_uri,
                    prompt=prompt,
                    login_hint=login_hint,
                    domain_hint=domain_hint,
                    claims_challenge=claims_challenge,
                    max_age=checked_max_age,
                    response_mode="form_post",
                    extra_params=extra_params,
                )
            )
            if is_error(flow):
                return flow
            if on_before_launching_ui is not None:
                on_before_launching_ui(ui="browser")
            auth_response = browser_sign_in(
                listener,
                flow["auth_uri"],
                flow["state"],
                timeout=wait,
                pages=pages,
                auth_uri_callback=auth_uri_callback,
            )
        return self._run(
            auth_code.redeem_auth_response(
                self._state, flow, auth_response, requested, data=data, headers=headers
            )
        )
