"""Interactive sign-in through the system browser and a loopback listener (RFC 8252).

The modules are small and free of application logic: ``_listener`` (the HTTP listener on
``127.0.0.1``), ``_browser`` (launching, or deciding not to), ``_templates`` (the pages),
``_session`` (one sign-in from launch to authorization response).
"""

from typing import TYPE_CHECKING

from identitylib._protocol._lazy import lazy_attributes

from ._errors import BrowserInteractionTimeoutError

if TYPE_CHECKING:
    from ._listener import LoopbackListener
    from ._session import DEFAULT_TIMEOUT, browser_sign_in
    from ._templates import Pages

#: Names loaded on first use, so ``import identitylib`` does not pay for the listener.
_LAZY = {
    "DEFAULT_TIMEOUT": "._session",
    "browser_sign_in": "._session",
    "LoopbackListener": "._listener",
    "Pages": "._templates",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "DEFAULT_TIMEOUT",
    "BrowserInteractionTimeoutError",
    "LoopbackListener",
    "Pages",
    "browser_sign_in",
]
