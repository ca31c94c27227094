"""One process of the multi-process test: threads acquiring app tokens through Redis.

``python -m tests.redis._worker URL IDP PROCESS THREADS SCOPES`` waits until the key
``test:go`` exists (so all processes start together), then runs THREADS threads, each
acquiring SCOPES distinct scopes from the emulator at the base URL IDP (threads alternate
between two tenants, so one cache serves several partitions), and prints a JSON summary.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from identitylib._redis import RedisTokenCache

from ._apps import TENANT_A, TENANT_B, audience, make_app, process_scope, resource

START_TIMEOUT = 30.0


def tenant_of(thread: int) -> str:
    return TENANT_A if thread % 2 == 0 else TENANT_B


def main(url: str, idp: str, process: int, threads: int, scopes: int) -> int:
    cache = RedisTokenCache(url=url, first_level_ttl=0.05)
    apps = {tenant: make_app(cache, idp, tenant) for tenant in (TENANT_A, TENANT_B)}
    deadline = time.monotonic() + START_TIMEOUT
    while not cache.redis.exists("test:go"):
        if time.monotonic() > deadline:
            print(json.dumps({"error": "no start signal"}))
            return 1
        time.sleep(0.01)
    errors: list[str] = []
    sources: dict[str, int] = {}
    lock = threading.Lock()

    def work(thread: int) -> None:
        app = apps[tenant_of(thread)]
        for n in range(scopes):
            scope = process_scope(process, thread, n)
            for _ in range(2):  # a miss, then (usually) a hit
                try:
                    result = app.acquire_token_for_client([scope])
                except Exception as error:
                    with lock:
                        errors.append(repr(error))
                    continue
                token = result.get("access_token")
                if token is None or audience(token) != resource(scope):
                    with lock:
                        errors.append(f"bad result for {scope}: {result.get('error')}")
                with lock:
                    source = str(result.get("token_source"))
                    sources[source] = sources.get(source, 0) + 1

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    alive = sum(worker.is_alive() for worker in workers)
    print(json.dumps({"errors": errors, "sources": sources, "alive": alive}))
    return 0 if not errors and not alive else 1


if __name__ == "__main__":
    url, idp, process, threads, scopes = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    raise SystemExit(main(url, idp, process, threads, scopes))
