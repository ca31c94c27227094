"""A token cache's access hooks around the lookups and writes of a flow."""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from identitylib._cache._own import has_access_hooks, own_cache
from identitylib._protocol._messages import CacheHook, HttpResponse, Step

T = TypeVar("T")


def cache_access(
    cache: Any, partition_key: str | None, client_id: str, *, is_app_cache: bool
) -> AbstractContextManager[Any]:
    """The cache's access hooks around one lookup or write.

    A no-op for a foreign cache (msal's, a mock): it has no access hooks of identitylib's
    kind, and is never asked whether it has (see ``identitylib/_cache/_own.py``).
    """
    own = own_cache(cache)
    if own is None:
        return nullcontext()
    return own.access(partition_key, client_id, is_app_cache)


def in_cache(
    cache: Any,
    partition_key: str | None,
    client_id: str,
    is_app_cache: bool,
    work: Callable[[], T],
) -> Generator[Step, HttpResponse, T]:
    """Run ``work`` (lookups and writes, no I/O) between the cache's access hooks.

    A cache whose accesses run hooks (sync or coroutine: a file lock, a Redis round trip)
    gets a :class:`CacheHook` step before and after, which the driver performs: the flow
    itself never runs a hook. A plain in-memory or a foreign cache is used in line.
    """
    if not has_access_hooks(cache):
        return work()
    yield CacheHook(cache, partition_key, client_id, is_app_cache, entering=True)
    try:
        return work()
    finally:
        yield CacheHook(cache, partition_key, client_id, is_app_cache, entering=False)
