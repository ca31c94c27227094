"""The failover scenario shared by the cluster and Sentinel tests, and its emulator world.

Eight app processes (four on the blocking API, four on ``identitylib.aio``) share app
tokens for six tenants through one RedisTokenCache prefix, against an emulator. The
scenario (:func:`run_failover_scenario`):

A. every process acquires the same 12 tokens (2 resources x 6 tenants): shared;
B. a master is killed and its failover held back (the topology fixture's switch), so Redis
   is unreachable: every process acquires the 12 tokens again (served from its first
   level, as Redis cannot answer) and one new token (from the identity provider);
C. the failover is let happen; once every process reaches Redis again,
   1. process ``i`` acquires its own 6 tokens (resource ``3 + i``, every tenant): exactly
      48 token requests, and every one of them (and each process's outage token, written
      back once Redis answered) is then read from the stored partitions;
   2. every process acquires all 48 (and the outage tokens): all from the cache, no token
      request: each process reads what the others wrote after the failover.

Every wait is bounded (a process that does not answer in time fails the test); nothing
is timed.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Callable

from identitylib.emulator import App, EmulatorConfig, Tenant

ROOT = Path(__file__).resolve().parents[2]
HA_CLIENT_ID = "a1b2c3d4-00aa-4000-8000-0000000000aa"
HA_CLIENT_SECRET = "ha-daemon-secret"
SERVICE_NAME = "identitylib-ha"
TENANTS = [f"5e1a7a00-0000-4000-8000-00000000000{n}" for n in range(6)]
RESOURCES = 12
PROCESSES = 8  # the first half on the blocking API, the second on identitylib.aio
SHARED = [(tenant, resource) for tenant in TENANTS for resource in (0, 1)]
OUTAGE_RESOURCE = 2
ANSWER_TIMEOUT = 60.0


def scope(resource: int) -> str:
    return f"api://ha-{resource}/.default"


def ha_config() -> EmulatorConfig:
    """Six tenants, one daemon app, twelve resources (``api://ha-0`` ... ``api://ha-11``)."""
    config = EmulatorConfig.default()
    config.tenants += [Tenant(tenant, [f"ha{n}.example"]) for n, tenant in enumerate(TENANTS)]
    config.apps.append(App(HA_CLIENT_ID, "ha-daemon", secrets=[HA_CLIENT_SECRET]))
    config.apps += [
        App(f"a1b2c3d4-00ab-4000-8000-0000000000{r:02d}", f"ha-api-{r}",
            identifier_uris=[f"api://ha-{r}"], app_roles=["Data.Read"])
        for r in range(RESOURCES)
    ]  # fmt: skip
    return config


def partition_key(prefix: str, tenant: str) -> str:
    return f"{prefix}partition:{HA_CLIENT_ID}_{tenant}_AppTokenCache"


def own_tokens(process: int) -> list[tuple[str, int]]:
    return [(tenant, 3 + process) for tenant in TENANTS]


def outage_token(process: int) -> tuple[str, int]:
    return (TENANTS[process % len(TENANTS)], OUTAGE_RESOURCE)


class Fleet:
    """The app processes, each answering one JSON line per command (bounded waits)."""

    def __init__(self, topology: str, target: str, base_url: str, prefix: str) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        self.lines: list[queue.Queue[str]] = []
        self.errors: list[list[str]] = []  # each process's stderr, drained as it comes
        self.pumps: list[threading.Thread] = []
        for n in range(PROCESSES):
            api = "sync" if n < PROCESSES // 2 else "aio"
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.redis._ha_worker", api, topology, target,
                 base_url, prefix],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            lines: queue.Queue[str] = queue.Queue()
            errors: list[str] = []
            assert process.stdout is not None
            assert process.stderr is not None
            self.pumps += [
                threading.Thread(target=_pump, args=(process.stdout, lines.put), daemon=True),
                threading.Thread(target=_pump, args=(process.stderr, errors.append), daemon=True),
            ]
            self.pumps[-2].start()
            self.pumps[-1].start()
            self.processes.append(process)
            self.lines.append(lines)
            self.errors.append(errors)
        for n in range(PROCESSES):
            assert self._answer(n) == {"ready": True}

    def _answer(self, n: int) -> dict[str, Any]:
        try:
            line = self.lines[n].get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"process {n} did not answer: {self._stderr(n)}") from None
        if not line:
            raise AssertionError(f"process {n} ended: {self._stderr(n)}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _stderr(self, n: int) -> str:
        return "".join(self.errors[n])[-3000:] or "(nothing on stderr)"

    def each(self, command: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
        """Send every process its command at once, then collect the answers in order."""
        for n, process in enumerate(self.processes):
            assert process.stdin is not None
            process.stdin.write(json.dumps(command(n)) + "\n")
            process.stdin.flush()
        return [self._answer(n) for n in range(PROCESSES)]

    def close(self) -> None:
        for process in self.processes:
            if process.stdin is not None and not process.stdin.closed:
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for pump in self.pumps:
            pump.join(timeout=10)  # the pipes reach their end when the processes have
        for process in self.processes:
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()


def _pump(pipe: IO[str], put: Callable[[str], None]) -> None:
    """Pass on each line of ``pipe``, then "" when it ends (the process exited)."""
    for line in pipe:
        put(line)
    put("")


def token_posts(requests: Sequence[tuple[str, str]]) -> int:
    return sum(1 for method, path in requests if method == "POST" and path.endswith("/token"))


def run_failover_scenario(
    fleet: Fleet,
    *,
    posts: Callable[[], int],
    fail_master: Callable[[], None],
    fail_over: Callable[[], None],
    stored_targets: Callable[[str], set[str]],
) -> None:
    """Phases A, B and C of the module docstring (the callbacks act on the topology)."""
    # A: everyone acquires the same tokens.
    shared = fleet.each(lambda n: {"acquire": SHARED})
    assert all(a["errors"] == [] and not a["unavailable"] for a in shared), shared

    # B: a master is down and no replica has taken over yet.
    fail_master()
    during = fleet.each(lambda n: {"acquire": [*SHARED, outage_token(n)]})
    for answer in during:
        assert answer["errors"] == [], answer
        assert answer["unavailable"]  # Redis could not answer during this phase...
        assert answer["sources"][:-1] == ["cache"] * len(SHARED)  # ... the first level did
        assert answer["sources"][-1] == "identity_provider"

    # C: a replica took over.
    fail_over()
    reached = fleet.each(lambda n: {"reach": list(SHARED[0])})
    assert all(a["reached"] for a in reached), reached
    before = posts()
    written = fleet.each(lambda n: {"acquire": own_tokens(n)})
    assert all(a["errors"] == [] for a in written), written
    assert all(a["sources"] == ["identity_provider"] * len(TENANTS) for a in written), written
    assert posts() - before == PROCESSES * len(TENANTS)

    # Nothing written after the failover is lost: every token is in its tenant's key.
    for tenant in TENANTS:
        expected = {scope(r) for t, r in own_tokens_of_all() if t == tenant}
        expected |= {scope(r) for t, r in outage_tokens() if t == tenant}
        assert expected <= stored_targets(tenant), tenant

    # And every process is served all of them from the cache, with no token request.
    everything = [*own_tokens_of_all(), *outage_tokens()]
    before = posts()
    served = fleet.each(lambda n: {"acquire": everything})
    assert all(a["errors"] == [] for a in served), served
    assert all(a["sources"] == ["cache"] * len(everything) for a in served), served
    assert posts() == before


def own_tokens_of_all() -> list[tuple[str, int]]:
    return [token for n in range(PROCESSES) for token in own_tokens(n)]


def outage_tokens() -> list[tuple[str, int]]:
    return sorted({outage_token(n) for n in range(PROCESSES)})
