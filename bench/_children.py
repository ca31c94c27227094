"""Measurements that need a fresh interpreter, run by ``bench/run.py`` as subprocesses.

``python bench/_children.py coldstart LIB DELAY_MS HTTP_CACHE_FILE``: two app objects with
the same authority, first call of each; prints JSON (requests, discovery requests, wall ms).
``python bench/_children.py memory LIB N``: tracemalloc peak and retained bytes while
deserializing and holding a cache of N app tokens; prints JSON.
``python bench/_children.py firsttoken LIB CACHE_FILE TENANT``: time to the first token of a
new process from a persisted cache (import, read, deserialize, app, one hit); prints JSON.
``python bench/_children.py firsttoken-persisted LIB CACHE_FILE TENANT``: the same, each
library loading the file through its own persistence layer; prints JSON.
"""

from __future__ import annotations

import importlib
import json
import pickle
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CLIENT_ID, authority_url, serialized_app_token_cache, tenant_id
from _fixtures import FakeIdp

SCOPE = ["api://bench-cold/.default"]
FIRST_TOKEN_SCOPE = ["api://bench-resource-3/.default"]


def coldstart(lib_name: str, delay_ms: float, http_cache_file: str) -> dict[str, Any]:
    """First call of a new app object, then of a second one with the same authority.

    Both apps use one http_client object: identitylib shares discovery only between apps
    with the same http_client (docs/guarantees.md, "Shared state").
    """
    path = Path(http_cache_file)
    http_cache: dict[Any, Any] = pickle.loads(path.read_bytes()) if path.exists() else {}
    persisted = bool(http_cache)
    lib = importlib.import_module(lib_name)
    out: dict[str, Any] = {"persisted_http_cache": persisted}
    http = FakeIdp(delay_s=delay_ms / 1000)
    for label in ("first_app", "second_app"):
        gets, posts = http.gets, http.posts
        start = time.perf_counter()
        app = lib.ConfidentialClientApplication(
            CLIENT_ID,
            client_credential="secret",
            authority=authority_url(tenant_id(4242)),
            http_client=http,
            http_cache=http_cache,
        )
        result = app.acquire_token_for_client(SCOPE)
        wall = time.perf_counter() - start
        if "access_token" not in result:
            raise RuntimeError(f"{lib_name} {label}: {result!r}")
        out[label] = {
            "requests": (http.gets - gets) + (http.posts - posts),
            "discovery_requests": http.gets - gets,
            "token_requests": http.posts - posts,
            "wall_ms": wall * 1000,
        }
    path.write_bytes(pickle.dumps(http_cache))
    return out


def memory(lib_name: str, n: int) -> dict[str, Any]:
    """Peak and retained traced memory (bytes) of deserializing and holding N tokens."""
    lib = importlib.import_module(lib_name)
    tokens = [(tenant_id(i // 10), f"api://bench-resource-{i % 10}/.default") for i in range(n)]
    blob = serialized_app_token_cache(CLIENT_ID, tokens)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    cache = lib.SerializableTokenCache()
    cache.deserialize(blob)
    del blob
    current, peak = tracemalloc.get_traced_memory()
    # A lookup that is not an exact-key hit (identitylib builds its indices on the first).
    list(cache.search("AccessToken", query={"realm": "no-such-tenant"}))
    indexed = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "retained_bytes": current - base,
        "peak_bytes": peak - base,
        "after_lookup_bytes": indexed - base,
    }


def _first_hit(lib_name: str, lib: Any, cache: Any, tenant: str) -> None:
    """The app's first ``acquire_token_for_client``, which must be served from ``cache``
    (no request: the fake transport counts them)."""
    http = FakeIdp()
    app = lib.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential="secret",
        authority=authority_url(tenant),
        http_client=http,
        token_cache=cache,
    )
    result = app.acquire_token_for_client(FIRST_TOKEN_SCOPE)
    if result.get("token_source") != "cache" or http.posts:
        raise RuntimeError(f"{lib_name}: the first token was not a cache hit: {sorted(result)}")


def firsttoken(lib_name: str, cache_file: str, tenant: str) -> dict[str, Any]:
    """Wall time from importing the library to the first token, served from the cache file
    (no request: the fake transport counts them), and the phases on the way."""
    start = time.perf_counter()
    lib = importlib.import_module(lib_name)
    imported = time.perf_counter()
    cache = lib.SerializableTokenCache()
    cache.deserialize(Path(cache_file).read_text(encoding="utf-8"))
    loaded = time.perf_counter()
    _first_hit(lib_name, lib, cache, tenant)
    done = time.perf_counter()
    return {
        "total_ms": (done - start) * 1000,
        "import_ms": (imported - start) * 1000,
        "load_ms": (loaded - imported) * 1000,
        "first_hit_ms": (done - loaded) * 1000,
    }


def firsttoken_persisted(lib_name: str, cache_file: str, tenant: str) -> dict[str, Any]:
    """As ``firsttoken``, each library loading the file through its own persistence layer:
    msal through msal-extensions' ``PersistedTokenCache(FilePersistence(path))`` (which
    reads the file as text), identitylib through its ``PersistedTokenCache(path)`` (which
    reads the file's bytes). Both read the file at the first lookup. portalocker (which
    msal-extensions imports) imports redis when it is installed, as it is beside
    identitylib's extras: it is kept out, as for an app without redis."""
    if "redis" not in sys.modules:
        sys.modules["redis"] = None  # type: ignore[assignment]  # "import redis" fails
    start = time.perf_counter()
    lib = importlib.import_module(lib_name)
    if lib_name == "msal":
        extensions = importlib.import_module("msal_extensions")
        cache = extensions.PersistedTokenCache(extensions.FilePersistence(cache_file))
    else:
        cache = lib.PersistedTokenCache(cache_file)
    made = time.perf_counter()
    _first_hit(lib_name, lib, cache, tenant)
    done = time.perf_counter()
    return {
        "total_ms": (done - start) * 1000,
        "import_ms": (made - start) * 1000,
        "first_hit_ms": (done - made) * 1000,
    }


def main() -> int:
    kind = sys.argv[1]
    if kind == "coldstart":
        payload = coldstart(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    elif kind == "memory":
        payload = memory(sys.argv[2], int(sys.argv[3]))
    elif kind == "firsttoken":
        payload = firsttoken(sys.argv[2], sys.argv[3], sys.argv[4])
    elif kind == "firsttoken-persisted":
        payload = firsttoken_persisted(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    print(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
