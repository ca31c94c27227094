"""One browser sign-in: launch (or hand over) the auth URI, then wait for the answer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Optional

from identitylib._log import get_logger

from . import _browser
from ._errors import BrowserInteractionTimeoutError
from ._listener import LoopbackListener, ResponseHandler
from ._templates import Pages

logger = get_logger(__name__)

#: Seconds an interactive sign-in waits by default (MSAL waits forever).
DEFAULT_TIMEOUT = 300.0


def _tell_user(uri: str, timeout: float) -> None:
    # Printed, not logged: the user must see it even without logging configured.
    print(
        "\nCould not open a web browser. To sign in, open this address in a browser on this "
        f"computer:\n\n    {uri}\n\nWaiting up to {int(timeout)} seconds for the sign-in "
        "(Ctrl+C to cancel).\n",
        file=sys.stderr,
        flush=True,
    )


def browser_sign_in(
    listener: LoopbackListener,
    auth_uri: str,
    state: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    pages: Optional[Pages] = None,
    auth_uri_callback: Optional[Callable[[str], Any]] = None,
) -> dict[str, str]:
    """Show ``auth_uri`` to the user and return the authorization response with ``state``.

    The browser opens ``auth_uri`` (or the welcome page, when there is a welcome template).
    When none can be opened, ``auth_uri_callback(uri)`` is called, or the address is
    printed to stderr. Raises :class:`BrowserInteractionTimeoutError` after ``timeout``.
    """
    pages = pages or Pages()
    handler = ResponseHandler(listener.port, state, pages, listener.abort_uri(state))
    handler.welcome(auth_uri)
    uri = f"{listener.redirect_uri}/?welcome=true" if pages.welcome else auth_uri
    try:
        opened = _browser.open_browser(uri)
    except Exception:  # a broken browser setup must not end the sign-in: the URL still works
        logger.warning("Opening a browser failed", exc_info=True)
        opened = False
    if not opened:
        if auth_uri_callback is not None:
            auth_uri_callback(uri)
        else:
            _tell_user(uri, timeout)
    response = listener.wait(handler, timeout)
    if response is None:
        raise BrowserInteractionTimeoutError(
            f"The sign-in was not completed within {timeout:g} seconds. Pass a larger "
            "timeout= to wait longer."
        )
    return response
