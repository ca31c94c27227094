"""A token cache kept in SQLite, one row per partition: the custom-serializer API at work.

The cache's access hooks receive a ``CacheAccess`` whose ``partition_key`` names the part
of the cache the library is about to use (app-only tokens of one client and tenant, one
user's tokens, or the tokens obtained on behalf of one incoming assertion). This example
loads that partition's row before each access and saves it afterwards when it changed,
so a web app serving many tenants or users never reads or writes one big blob.

Run ``python examples/sqlite_cache.py [database-file]``: it starts the local emulator,
acquires an app token with one application object, then gets the same token from SQLite
with a second application object (as a second process or machine would), without any
request to the identity provider.

Each save replaces the partition's row: the last writer wins. Processes that write the
same partition at the same moment can lose each other's tokens (they are then simply
acquired again); ``identitylib.RedisTokenCache`` merges concurrent writes instead.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import threading
import time
from typing import Optional

import identitylib as msal
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator

#: The row of accesses made without a partition key (e.g. ``get_accounts()``).
SHARED = ""

SCHEMA = """
CREATE TABLE IF NOT EXISTS token_cache (
    partition_key TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    updated_at    REAL NOT NULL
)
"""


class SqlitePartitions:
    """Serialized cache partitions in one SQLite table (thread-safe)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        self._db.execute(SCHEMA)

    def load(self, access: msal.CacheAccess) -> None:
        """before_access: replace the cache content with the partition's row."""
        cache = access.cache
        assert isinstance(cache, msal.SerializableTokenCache)
        with self._lock:
            row = self._db.execute(
                "SELECT state FROM token_cache WHERE partition_key = ?",
                (access.partition_key or SHARED,),
            ).fetchone()
        try:
            cache.deserialize(row[0] if row else None)
        except msal.TokenCacheError:  # a damaged row: start the partition afresh
            cache.deserialize(None)

    def save(self, access: msal.CacheAccess) -> None:
        """after_access: write the partition back, only when the access changed it."""
        if not access.has_state_changed:
            return
        cache = access.cache
        assert isinstance(cache, msal.SerializableTokenCache)
        state = cache.serialize()
        with self._lock:
            self._db.execute(
                "INSERT INTO token_cache (partition_key, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(partition_key) DO UPDATE SET "
                "state = excluded.state, updated_at = excluded.updated_at",
                (access.partition_key or SHARED, state, time.time()),
            )

    def partitions(self) -> list[str]:
        """The partition keys stored, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT partition_key FROM token_cache ORDER BY partition_key"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def sqlite_token_cache(partitions: SqlitePartitions) -> msal.SerializableTokenCache:
    """A token cache whose partitions live in ``partitions``."""
    return msal.SerializableTokenCache(before_access=partitions.load, after_access=partitions.save)


def acquire(app: msal.ConfidentialClientApplication, label: str) -> Optional[dict[str, object]]:
    result = app.acquire_token_for_client([f"{DEMO_API_URI}/.default"])
    if "access_token" not in result:
        print(f"{label}: error {result.get('error')}: {result.get('error_description')}")
        return None
    print(f"{label}: token from {result['token_source']}, expires in {result['expires_in']} s")
    return result


def main(argv: Optional[list[str]] = None) -> int:
    """Write a token through one app object and read it from SQLite through another."""
    args = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as scratch, Emulator() as emu:
        path = args[0] if args else os.path.join(scratch, "tokens.sqlite3")
        print(f"emulator at {emu.base_url}; token cache in {path}")

        first_db = SqlitePartitions(path)
        first = msal.ConfidentialClientApplication(
            DEMO_DAEMON_ID,
            DEMO_DAEMON_SECRET,
            authority=emu.authority(),
            token_cache=sqlite_token_cache(first_db),
        )
        written = acquire(first, "app object 1")
        print(f"rows in SQLite: {first_db.partitions()}")
        first_db.close()

        requests_before = len(emu.requests)
        second_db = SqlitePartitions(path)  # a new connection: another process would do this
        second = msal.ConfidentialClientApplication(
            DEMO_DAEMON_ID,
            DEMO_DAEMON_SECRET,
            authority=emu.authority(),
            token_cache=sqlite_token_cache(second_db),
        )
        served = acquire(second, "app object 2")
        second_db.close()
        token_requests = [p for _, p in emu.requests[requests_before:] if p.endswith("/token")]
        print(f"token requests made by app object 2: {len(token_requests)}")

    ok = (
        written is not None
        and served is not None
        and written["token_source"] == "identity_provider"
        and served["token_source"] == "cache"
        and served["access_token"] == written["access_token"]
        and not token_requests
    )
    print("the second app object was served from SQLite" if ok else "unexpected result")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
