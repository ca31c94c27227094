"""Names of a package imported from their modules on first use (PEP 562).

A package keeps ``import identitylib`` cheap by naming, in one table, the names whose
modules pull in heavy dependencies (``cryptography``, the loopback listener, Redis) and
installing :func:`lazy_attributes` as its module ``__getattr__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any, Callable


def lazy_attributes(
    package: str, modules: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``modules`` maps each lazy name to the
    (relative) module defining it; a name, once imported, is kept in ``namespace`` (the
    package's ``globals()``), so it is looked up in the module's dict from then on."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__
