"""One call for the recommended pattern: silent first, then interactive or device code."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Callable, Optional, Protocol, cast

from identitylib._log import get_logger

from ._accounts import AccountCalls
from ._device import DeviceFlowCalls
from ._plan import Blocking, Steps

logger = get_logger(__name__)

#: Errors of a silent attempt that a new sign-in can cure.
INTERACTION_ERRORS = frozenset(
    {"invalid_grant", "interaction_required", "login_required", "consent_required"}
)


class _Interactive(Protocol):
    def acquire_token_interactive(
        self, scopes: list[str], **kwargs: Any
    ) -> Steps[dict[str, Any]]: ...


def browser_available(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether an interactive (browser) sign-in can work on this machine.

    No inside an SSH session, nor on Linux without a display (unless under WSL, where
    the Windows browser opens), nor when :func:`webbrowser.get` finds no browser.
    """
    import webbrowser

    from identitylib._interactive._browser import why_no_browser

    if why_no_browser(environ) is not None:
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def print_device_message(flow: Mapping[str, Any]) -> None:
    """The default ``device_code_callback``: the instructions on stderr."""
    print(flow["message"], file=sys.stderr, flush=True)


class SignInCalls(DeviceFlowCalls, AccountCalls):
    """The builder of ``acquire_token``: silent for the known account, else a sign-in."""

    def _pick_account(
        self, account: Optional[Mapping[str, Any]], username: Optional[str]
    ) -> Steps[Optional[Mapping[str, Any]]]:
        if account is not None:
            return account
        if username:
            matches = yield self.get_accounts(username=username)
            return matches[0] if matches else None
        accounts = yield self.get_accounts()
        return accounts[0] if len(accounts) == 1 else None

    def acquire_token(
        self,
        scopes: list[str],
        *,
        account: Optional[Mapping[str, Any]] = None,
        username: Optional[str] = None,
        use_device_code: Optional[bool] = None,
        device_code_callback: Optional[Callable[[dict[str, Any]], Any]] = None,
        **interactive_kwargs: Any,
    ) -> Steps[dict[str, Any]]:
        """The steps: pick the account, try silent, then sign in (device code or browser)."""
        chosen = yield from self._pick_account(account, username)
        claims_challenge = interactive_kwargs.get("claims_challenge")
        if chosen is not None:
            result = yield self.acquire_token_silent_with_error(
                scopes, chosen, claims_challenge=claims_challenge
            )
            if result is not None:
                if "error" not in result or result.get("error") not in INTERACTION_ERRORS:
                    return cast("dict[str, Any]", result)
                logger.debug("Silent acquisition needs interaction: %s", result.get("error"))
        login_hint = username or (chosen or {}).get("username") or None
        device = use_device_code if use_device_code is not None else not browser_available()
        if device:
            flow = yield self.initiate_device_flow(scopes, claims_challenge=claims_challenge)
            if "user_code" not in flow:
                return cast("dict[str, Any]", flow)
            callback = device_code_callback or print_device_message
            yield Blocking(lambda: callback(flow))
            token = yield self.acquire_token_by_device_flow(flow, claims_challenge=claims_challenge)
            return cast("dict[str, Any]", token)
        interactive_kwargs.setdefault("login_hint", login_hint)
        interactive = cast(_Interactive, self)
        return (yield from interactive.acquire_token_interactive(scopes, **interactive_kwargs))
