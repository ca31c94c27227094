"""Interactive sign-in through the system browser and a loopback listener."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from identitylib._flows import auth_code
from identitylib._log import get_logger
from identitylib._protocol._errors import is_error
from identitylib._protocol._scopes import decorate, validate_scopes

from ._auth_code import check_max_age
from ._core import AppCore
from ._plan import Blocking, Steps, run

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


def _check_hints(**hints: object) -> None:
    for name, value in hints.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {type(value).__name__}")


def _check_callable(value: object, message: str) -> None:
    if value is not None and not callable(value):
        raise ValueError(message)


@dataclass(frozen=True)
class _Browser:
    """What the browser part of a sign-in needs, checked."""

    port: int
    timeout: float
    pages: Any
    auth_uri_callback: Optional[Callable[[str], Any]]
    on_before_launching_ui: Optional[Callable[..., Any]]

    def sign_in(self, listener: Any, flow: dict[str, Any]) -> dict[str, str]:
        """Show the sign-in page and wait for the answer (blocks, up to ``timeout``)."""
        from identitylib._interactive import browser_sign_in

        if self.on_before_launching_ui is not None:
            self.on_before_launching_ui(ui="browser")
        return browser_sign_in(
            listener,
            flow["auth_uri"],
            flow["state"],
            timeout=self.timeout,
            pages=self.pages,
            auth_uri_callback=self.auth_uri_callback,
        )


def _browser(
    timeout: object, port: object, on_before_launching_ui: Any, kwargs: dict[str, Any]
) -> _Browser:
    """The browser options, popped from ``kwargs`` where MSAL takes them as keywords."""
    from identitylib._interactive import Pages

    wait, listen_port = _check_timeout(timeout), _check_port(port)
    pages = Pages.from_options(
        success_template=kwargs.pop("success_template", None),
        error_template=kwargs.pop("error_template", None),
        welcome_template=kwargs.pop("welcome_template", None),
    )
    auth_uri_callback = kwargs.pop("auth_uri_callback", None)
    _check_callable(auth_uri_callback, "auth_uri_callback must be a callable taking the URL")
    _check_callable(on_before_launching_ui, "on_before_launching_ui must be a callable")
    return _Browser(listen_port, wait, pages, auth_uri_callback, on_before_launching_ui)


class InteractiveCalls(AppCore):
    """The builder of ``acquire_token_interactive``."""

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
    ) -> Steps[dict[str, Any]]:
        """Check the arguments (ValueError before any I/O); the sign-in's steps."""
        if auth_scheme is not None:
            raise ValueError(
                "auth_scheme (proof-of-possession tokens) needs an authentication broker, "
                "which identitylib does not support"
            )
        requested = decorate(validate_scopes(scopes), self.state.exclude_scopes)
        extra_scopes = (
            validate_scopes(extra_scopes_to_consent, name="extra_scopes_to_consent")
            if extra_scopes_to_consent
            else []
        )
        _check_hints(prompt=prompt, login_hint=login_hint, domain_hint=domain_hint)
        browser = _browser(timeout, port, on_before_launching_ui, kwargs)
        authorize = {
            "prompt": prompt,
            "login_hint": login_hint,
            "domain_hint": domain_hint,
            "claims_challenge": claims_challenge,
            "max_age": check_max_age(max_age),
            "response_mode": "form_post",
            "extra_params": {n: kwargs.pop(n) for n in _AUTHORIZE_EXTRAS if n in kwargs},
        }
        redeem = {"data": kwargs.pop("data", None), "headers": kwargs.pop("headers", None)}
        for name in _BROKER_ONLY:
            kwargs.pop(name, None)
        if kwargs:
            logger.debug("acquire_token_interactive ignores %s", sorted(kwargs))
        self.state.claims(claims_challenge)  # ValueError before any I/O
        consent = sorted(set(requested) | set(extra_scopes))
        return self._interactive_steps(browser, consent, requested, authorize, redeem)

    def _interactive_steps(
        self,
        browser: _Browser,
        consent: list[str],
        requested: list[str],
        authorize: dict[str, Any],
        redeem: dict[str, Any],
    ) -> Steps[dict[str, Any]]:
        from identitylib._interactive import LoopbackListener

        state = self.state
        with LoopbackListener(browser.port) as listener:
            redirect_uri = listener.redirect_uri
            flow = yield run(
                auth_code.initiate(state, consent, redirect_uri=redirect_uri, **authorize)
            )
            if is_error(flow):
                return dict(flow)
            auth_response = yield Blocking(lambda: browser.sign_in(listener, flow))
        result = yield run(
            auth_code.redeem_auth_response(state, flow, auth_response, requested, **redeem)
        )
        return dict(result)
