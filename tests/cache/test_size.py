"""TokenCache stays small: storage and lookups in the class, collaborators for the rest
(issue #17 "Size": hooks in ``_access_hooks.py``, indices in ``_store.py``)."""

from __future__ import annotations

import ast
import inspect

import identitylib._cache._token_cache as token_cache_module

MAX_CLASS_LINES = 400


def test_token_cache_class_is_under_400_lines() -> None:
    tree = ast.parse(inspect.getsource(token_cache_module))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TokenCache"]
    assert cls.end_lineno is not None
    assert cls.end_lineno - cls.lineno + 1 < MAX_CLASS_LINES
