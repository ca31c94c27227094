"""Child-process entry points for the multiprocess tests (importable under 'spawn')."""

from __future__ import annotations

import os
from typing import Any

TENANT = "tid"
HOST = "login.microsoftonline.com"


def app_event(scope: str, access_token: str, *, client_id: str = "cid") -> dict[str, Any]:
    """A client-credentials token event (the shape the application layer hands to add)."""
    return {
        "client_id": client_id,
        "scope": [scope],
        "token_endpoint": f"https://{HOST}/{TENANT}/oauth2/v2.0/token",
        "grant_type": "client_credentials",
        "response": {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600},
        "params": {},
        "data": {"scope": scope},
        "environment": HOST,
    }


def add_tokens(path: str, worker: int, count: int, barrier: Any, results: Any) -> None:
    """Build a cache on ``path``, wait for every worker, then add ``count`` tokens."""
    from msal_extensions import FilePersistence  # type: ignore[import-untyped]

    from identitylib._persistence import PersistedTokenCache

    cache = PersistedTokenCache(FilePersistence(path))
    barrier.wait(timeout=30)
    for n in range(count):
        cache.add(app_event(f"api://w{worker}/s{n}", f"at-{worker}-{n}"))
    results.put((worker, cache.pending_changes))


def write_forever(path: str, ready: Any, entries: int, token_size: int) -> None:
    """Keep rewriting a large cache file until killed: every add rewrites all of it."""
    from identitylib._persistence import PersistedTokenCache

    cache = PersistedTokenCache(path)
    filler = "x" * token_size
    with cache.access(None, "cid", True):  # One access block: one write at its end.
        for n in range(entries):
            cache.add(app_event(f"api://bulk/s{n}", f"0-{n}-{filler}"))
    ready.set()
    round_ = 0
    while True:
        round_ += 1
        n = round_ % entries
        cache.add(app_event(f"api://bulk/s{n}", f"{round_}-{n}-{filler}"))


def die_while_writing(path: str, where: str) -> None:
    """Write one token, then SIGKILL this process in the middle of the next write."""
    import signal

    from identitylib._persistence import PersistedTokenCache, _atomic

    cache = PersistedTokenCache(path)
    cache.add(app_event("api://before/.default", "before"))

    def die(*args: Any) -> None:
        if where == "mid-temp-write":  # Half of the new content is in the temp file.
            with open(args[0], "r+b") as handle:
                handle.truncate(os.path.getsize(args[0]) // 2)
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "before-rename":
        _atomic._replace = die  # type: ignore[assignment]
    else:
        _atomic._fsync_file = die  # type: ignore[assignment]
    cache.add(app_event("api://after/.default", "after-" + "x" * 100_000))
