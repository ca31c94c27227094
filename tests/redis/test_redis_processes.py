"""Several processes, each with several threads, share app tokens through one Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from identitylib._redis import RedisTokenCache
from identitylib.emulator import Emulator
from tests._idp import token_posts

from ._apps import PROCESS_GRID, TENANT_A, TENANT_B, app_key, make_app, process_scope
from ._worker import tenant_of

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, THREADS, SCOPES = PROCESS_GRID
TIMEOUT = 180


def test_no_token_is_lost_across_processes(
    redis_url: str, redis_client: Any, idp: Emulator
) -> None:
    command = [sys.executable, "-m", "tests.redis._worker", redis_url, idp.base_url]
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
    # Each scope fetched once, then cached (scopes are the process's own, and each process
    # asks for each of its scopes: so each asked THREADS * SCOPES times).
    assert token_posts(idp) == PROCESSES * THREADS * SCOPES

    # Every token every thread of every process got is in Redis, in its tenant's key.
    expected = {
        tenant: {
            process_scope(p, t, n)
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
        secrets = {e["target"]: e["secret"] for e in stored["AccessToken"].values()}

        # And another process (a fresh cache) gets them all, without asking the provider.
        reader = RedisTokenCache(url=redis_url)
        app = make_app(reader, idp.base_url, tenant)
        for scope in sorted(scopes):
            result = app.acquire_token_for_client([scope])
            assert result["token_source"] == "cache", result
            assert result["access_token"] == secrets[scope]
        reader.close()
    assert token_posts(idp) == PROCESSES * THREADS * SCOPES
