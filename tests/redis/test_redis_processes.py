"""Several processes, each with several threads, share app tokens through one Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from identitylib._redis import RedisTokenCache

from ._fakes import TENANT_A, TENANT_B, FakeIdP, app_key, make_app
from ._worker import scope_of, tenant_of

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
THREADS = 4
SCOPES = 15
TIMEOUT = 180


def test_no_token_is_lost_across_processes(redis_url: str, redis_client: Any) -> None:
    command = [sys.executable, "-m", "tests.redis._worker", redis_url]
    workers = [
        subprocess.Popen(
            [*command, str(p), str(THREADS), str(SCOPES)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(PROCESSES)
    ]
    try:
        redis_client.set("test:go", "1")  # all processes start acquiring together
        outputs = [worker.communicate(timeout=TIMEOUT) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, (out, err[-3000:])
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["errors"] == []
        assert summary["posts"] == THREADS * SCOPES  # each scope fetched once, then cached

    # Every token every thread of every process got is in Redis, in its tenant's key.
    expected = {
        tenant: {
            scope_of(p, t, n)
            for p in range(PROCESSES)
            for t in range(THREADS)
            for n in range(SCOPES)
            if tenant_of(t) == tenant
        }
        for tenant in (TENANT_A, TENANT_B)
    }
    for tenant, scopes in expected.items():
        stored = json.loads(redis_client.get(app_key(tenant)))
        targets = {entry["target"] for entry in stored["AccessToken"].values()}
        assert targets == scopes
        assert all(e["secret"] == f"tok:{e['target']}" for e in stored["AccessToken"].values())

    # And another process (a fresh cache, an identity provider that is down) gets them all.
    reader = RedisTokenCache(url=redis_url)
    down = FakeIdP(down=True)
    for tenant, scopes in expected.items():
        app = make_app(reader, down, tenant)
        for scope in sorted(scopes):
            result = app.acquire_token_for_client([scope])
            assert result["token_source"] == "cache", result
            assert result["access_token"] == f"tok:{scope}"
    reader.close()
