"""Opening the user's browser, or saying plainly that it could not be opened.

:func:`open_browser` is the one place an interactive sign-in launches a browser (tests
replace it). It returns False instead of launching where a browser cannot reach the
loopback listener or cannot be seen: an SSH session, a Linux desktop-less session. An
explicit ``$BROWSER`` is always honoured (``webbrowser`` reads it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import webbrowser
from collections.abc import Mapping
from typing import Optional

from identitylib._log import get_logger

logger = get_logger(__name__)


def is_wsl() -> bool:
    """True inside the Windows Subsystem for Linux."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/version", encoding="utf-8", errors="replace") as version:
            return "microsoft" in version.read().lower()
    except OSError:
        return False


def why_no_browser(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Why a browser should not be launched here, or None when it may be."""
    env = os.environ if environ is None else environ
    if env.get("BROWSER"):
        return None  # the user said which browser to use
    if env.get("SSH_CONNECTION") or env.get("SSH_CLIENT") or env.get("SSH_TTY"):
        return "this is an SSH session: a browser would open on the remote machine, if at all"
    if (
        sys.platform.startswith("linux")
        and not is_wsl()
        and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    ):
        return "there is no graphical display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


def _wsl_fallback(url: str) -> bool:
    viewer = shutil.which("wslview")
    if not viewer:
        return False
    try:
        subprocess.Popen([viewer, url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    except OSError:
        return False
    return True


def open_browser(url: str) -> bool:
    """Open ``url`` in the user's browser; False when no browser could be opened."""
    reason = why_no_browser()
    if reason:
        logger.info("Not opening a browser: %s", reason)
        return False
    try:
        opened = bool(webbrowser.open(url, new=1, autoraise=True))
    except (webbrowser.Error, OSError) as exc:
        logger.info("Could not open a browser: %s", exc)
        opened = False
    if not opened and is_wsl():
        opened = _wsl_fallback(url)
    return opened
