"""``build_persistence``: the most protected persistence this machine offers."""

from __future__ import annotations

import os
from typing import Union, cast

from identitylib._log import get_logger
from identitylib.exceptions import MsalError

from ._atomic import ensure_directory
from ._backend import Persistence
from ._deps import import_msal_extensions

logger = get_logger(__name__)


class PersistenceUnavailableError(MsalError, RuntimeError):
    """No encrypted persistence is available here, and plain text was not allowed."""


def build_persistence(
    location: Union[str, os.PathLike[str]],
    *,
    encrypt: bool = True,
    allow_unencrypted: bool = False,
) -> Persistence:
    """An msal-extensions persistence for a token cache at ``location``.

    With ``encrypt`` (the default) this is ``msal_extensions.build_encrypted_persistence``:
    DPAPI-encrypted file on Windows, Keychain on macOS, libsecret on Linux (where
    ``location`` is a signal file). When that is unavailable (no D-Bus session, no
    PyGObject, an unsupported platform...) it raises PersistenceUnavailableError, unless
    ``allow_unencrypted`` is True: then it logs a WARNING and returns a plain-text
    ``FilePersistence`` (a 0600 file, readable by the user and by root).

    ``encrypt=False`` returns a plain-text ``FilePersistence`` directly.
    Needs msal-extensions (``pip install "identitylib[persistence]"``).

    Missing directories of ``location`` are created 0700 here, before msal-extensions
    would create them with the umask's mode (usually 0755); a directory that exists
    keeps its mode.
    """
    extensions = import_msal_extensions()
    path = os.path.expanduser(os.fspath(location))
    ensure_directory(path)
    if not encrypt:
        logger.debug("Token cache persistence %s: plain text, as requested", path)
        return cast(Persistence, extensions.FilePersistence(path))
    try:
        return cast(Persistence, extensions.build_encrypted_persistence(path))
    except Exception as error:  # Each platform's keyring fails in its own way.
        reason = f"{type(error).__name__}: {error}"
        if not allow_unencrypted:
            raise PersistenceUnavailableError(
                f"No encrypted token cache persistence is available here ({reason}). Pass "
                "allow_unencrypted=True to fall back to a plain-text file, or encrypt=False."
            ) from error
    logger.warning(
        "Encrypted token cache persistence is unavailable (%s); the token cache %s is "
        "stored in PLAIN TEXT (a file only its owner can read)",
        reason,
        path,
    )
    return cast(Persistence, extensions.FilePersistence(path))
