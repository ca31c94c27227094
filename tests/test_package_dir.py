"""``dir(identitylib)`` lists the public API and nothing this module uses for itself."""

from __future__ import annotations

import identitylib


def test_dir_is_exactly_the_public_names() -> None:
    assert dir(identitylib) == sorted(identitylib.__all__)


def test_dir_hides_the_modules_own_helpers() -> None:
    listed = set(dir(identitylib))
    for helper in ("Any", "TYPE_CHECKING", "importlib", "_LAZY"):
        assert helper not in listed


def test_dir_lists_the_lazy_names_before_their_first_use() -> None:
    listed = set(dir(identitylib))
    assert {"ManagedIdentityClient", "PersistedTokenCache", "RedisTokenCache"} <= listed


def test_every_listed_name_resolves() -> None:
    for name in dir(identitylib):
        assert getattr(identitylib, name) is not None
