"""Where the asyncio API runs what blocks: worker threads that may wait for the loop."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable, TypeVar

from identitylib._cache._own import own_cache

T = TypeVar("T")

#: Threads that run blocking work and may wait for the event loop (see :func:`in_worker`).
WORKERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="identitylib-aio")


async def in_worker(work: Callable[[], T]) -> T:
    """Run ``work`` in a thread of :data:`WORKERS`, with a copy of this context.

    Not the loop's default executor: these threads may wait for work on the event loop
    (token requests, cache hooks), and that work may itself need the default executor
    (``asyncio.to_thread`` in a cache hook); sharing it could deadlock.
    """
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(WORKERS, context.run, work)


def hooks_block(cache: Any) -> bool:
    """Whether the cache's access hooks may block (persisted, Redis, custom sync hooks).

    A :class:`~identitylib.TokenCache` without hooks answers ``access()`` with a no-op
    context; a foreign cache (msal's, a mock) is never asked for hooks (see
    ``identitylib/_cache/_own.py``); coroutine hooks are awaited on the loop.
    """
    own = own_cache(cache)
    if own is None or own.has_async_hooks:
        return False
    try:
        context = own.access(None, "", False)
    except Exception:
        return True
    return not isinstance(context, nullcontext)
