"""Lazy imports of the optional dependencies (the ``persistence`` extra)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any, Optional

_EXTRA_HINT = (
    "identitylib's persistent token cache needs the optional dependencies of the "
    "'persistence' extra: pip install \"identitylib[persistence]\""
)


def import_portalocker() -> ModuleType:
    """The ``portalocker`` module, or an ImportError naming the extra."""
    try:
        return importlib.import_module("portalocker")
    except ImportError as error:
        raise ImportError(f"{_EXTRA_HINT} (portalocker is missing)") from error


def require_portalocker() -> None:
    """An ImportError naming the extra if ``portalocker`` is not installed, found without
    importing it (where redis is installed, importing portalocker imports redis: about
    100 ms, for a lock that a process serving its tokens from the file never takes)."""
    try:
        found = importlib.util.find_spec("portalocker")
    except (ImportError, ValueError) as error:
        raise ImportError(f"{_EXTRA_HINT} (portalocker is missing)") from error
    if found is None:
        raise ImportError(f"{_EXTRA_HINT} (portalocker is missing)")


def import_msal_extensions() -> ModuleType:
    """The ``msal_extensions`` module, or an ImportError naming the extra."""
    try:
        return importlib.import_module("msal_extensions")
    except ImportError as error:
        raise ImportError(f"{_EXTRA_HINT} (msal-extensions is missing)") from error


def loaded_msal_extensions_class(name: str) -> Optional[type[Any]]:
    """A class of ``msal_extensions.persistence`` if msal-extensions is already imported.

    A persistence object from msal-extensions can only exist once the module is
    imported, so checking ``sys.modules`` never imports anything.
    """
    module = sys.modules.get("msal_extensions.persistence")
    found = getattr(module, name, None) if module is not None else None
    return found if isinstance(found, type) else None
