"""Interactive sign-in through the system browser and a loopback listener (RFC 8252).

The modules are small and free of application logic: ``_listener`` (the HTTP listener on
``127.0.0.1``), ``_browser`` (launching, or deciding not to), ``_templates`` (the pages),
``_session`` (one sign-in from launch to authorization response).
"""

from ._errors import BrowserInteractionTimeoutError
from ._listener import LoopbackListener
from ._session import DEFAULT_TIMEOUT, browser_sign_in
from ._templates import Pages

__all__ = [
    "DEFAULT_TIMEOUT",
    "BrowserInteractionTimeoutError",
    "LoopbackListener",
    "Pages",
    "browser_sign_in",
]
