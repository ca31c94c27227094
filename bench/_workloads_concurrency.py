"""Workloads 7 and 16 of ``bench/run.py``: many callers at once on one app.

- 7: 16 threads on cache hits against 1 thread (calls/s, in back-to-back pairs), beside the
  interpreter's own bound (a trivial function); 50 threads at once on a cold cache with a
  slow server (token requests sent, wall time).
- 16: ``identitylib.aio`` with 1,000 concurrent tasks beside the blocking API and msal in
  threads (``_concurrency``'s harnesses): hits, and a cold stampede.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from _common import median, ns_to_us, tenant_id
from _concurrency import pool_stampede, task_hits, task_stampede, thread_hits, threads_for
from _fixtures import AsyncFakeIdp, FakeIdp
from _harness import (
    Budget,
    Collected,
    Row,
    alternating,
    app_tokens,
    cc_scope,
    check_token,
    confidential_app,
    fresh_cache,
    log,
)

# ------------------------------------------------------------------------- 7. threads


def w7_threads(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    log("7. 16 threads on cache hits; 50-thread cold stampede")
    blob = app_tokens(1, 10)
    seconds = 1.0 if b.rounds > 1 else 0.3
    tput: dict[str, dict[str, list[float]]] = {n: {"single": [], "multi": []} for n in libs}
    # 16 threads against 1 thread of the same library: measured in back-to-back pairs
    # (a slower stretch of a shared VM then affects both of a pair), three pairs a round.
    paired: dict[str, list[float]] = {n: [] for n in libs}
    for r in range(b.rounds):
        for name in alternating(libs, r):
            lib = libs[name]
            app = confidential_app(lib, tenant_id(0), FakeIdp(), fresh_cache(lib, blob))
            app.acquire_token_for_client([cc_scope(0)])
            for _ in range(3):
                single = _throughput(app, 1, seconds)
                multi = _throughput(app, 16, seconds)
                tput[name]["single"].append(single)
                tput[name]["multi"].append(multi)
                paired[name].append(multi / single)
    baseline = [
        _calls_per_second(_trivial, 16, seconds) / _calls_per_second(_trivial, 1, seconds)
        for _ in range(3 * b.rounds)
    ]
    out.notes.append(
        f"16 threads: the interpreter's own bound on this machine (a trivial function, "
        f"no library) is {median(baseline):.2f}x its 1-thread throughput"
    )
    for key, label in (("single", "1 thread"), ("multi", "16 threads")):
        m = median(tput["msal"][key])
        o = median(tput["identitylib"][key])
        row = Row("7 cache hits throughput", label, "", "calls/s", m, o)
        if key == "multi":
            own = median(paired["identitylib"])  # median of the pairs' 16-thread/1-thread
            row.target = ">= 3x msal and >= 0.8x own 1-thread"
            row.met = o >= 3 * m and own >= 0.8
            out.notes.append(
                f"16 threads: identitylib {o:,.0f} calls/s = {own:.2f}x its 1-thread (median "
                f"of {len(paired['identitylib'])} back-to-back pairs; msal: "
                f"{median(paired['msal']):.2f}x), {o / m:.2f}x msal's 16 threads"
            )
        out.rows.append(row)
    # Cold stampede: 50 threads, same scope, server takes 50 ms.
    counts: dict[str, int] = {}
    walls: dict[str, float] = {}
    for name, lib in libs.items():
        counts[name], walls[name], results = _cold_stampede(lib)
        if not all("access_token" in res for res in results):
            out.notes.append(f"{name} stampede: some calls got no token")
    out.rows.append(
        Row(
            "7 cold stampede, 50 threads",
            "token requests",
            "",
            "requests",
            counts["msal"],
            counts["identitylib"],
            target="ours == 1",
            met=counts["identitylib"] == 1,
        )
    )
    out.rows.append(
        Row(
            "7 cold stampede, 50 threads",
            "wall time",
            "",
            "ms",
            walls["msal"],
            walls["identitylib"],
            target="(info)",
        )
    )


def _cold_stampede(lib: ModuleType) -> tuple[int, float, list[Any]]:
    """50 threads released at once on one scope of a cold cache, the server answering
    after 50 ms: token requests sent, wall time (ms) and every result."""
    http = FakeIdp(delay_s=0.05)
    app = confidential_app(lib, tenant_id(77), http)
    app.acquire_token_for_client(["api://bench-warm/.default"])  # discovery out of the way
    before = http.posts
    barrier = threading.Barrier(50)
    results: list[Any] = []

    def worker() -> None:
        barrier.wait()
        results.append(app.acquire_token_for_client(["api://bench-stampede/.default"]))

    pool = [threading.Thread(target=worker) for _ in range(50)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = (time.perf_counter() - start) * 1000
    return http.posts - before, wall, results


def _throughput(app: Any, threads: int, seconds: float) -> float:
    """Calls/s of ``app.acquire_token_for_client`` on 10 cached scopes, from ``threads``."""
    return _calls_per_second(app.acquire_token_for_client, threads, seconds)


def _trivial(scopes: list[str]) -> dict[str, Any]:
    """As much Python as a cache hit, minus the library: the GIL baseline's workload."""
    return {"access_token": scopes[0], "token_type": "Bearer", "expires_in": 3599}


def _calls_per_second(call: Callable[[list[str]], Any], threads: int, seconds: float) -> float:
    counts = [0] * threads
    scopes = [[cc_scope(s)] for s in range(10)]

    def work(k: int, stop: threading.Event) -> None:
        n = 0
        while not stop.is_set():
            for s in scopes:
                call(s)
            n += len(scopes)
        counts[k] = n

    elapsed = threads_for(threads, seconds, work)
    return sum(counts) / elapsed


# ------------------------------------ 16. asyncio tasks against threads (1,000 at once)

#: Workload 16's sizes: concurrent tasks, threads on hits (as in workload 7), the thread pool
#: of the blocking stampede, and the fake server's delay on a cold cache.
AIO_TASKS = 1_000
AIO_HIT_THREADS = 16
AIO_POOL_THREADS = 100
AIO_SERVER_DELAY_S = 0.05


def w16_asyncio(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """identitylib.aio with 1,000 concurrent tasks beside the blocking API (and msal, which
    has no asyncio API) in threads: hits (calls/s, per-call median) and a cold stampede
    (token requests, wall time)."""

    aio = importlib.import_module("identitylib.aio")
    log(
        f"16. asyncio: {AIO_TASKS:,} tasks on hits and a cold cache, beside "
        f"{AIO_HIT_THREADS} threads (hits) and a pool of {AIO_POOL_THREADS} (cold)"
    )
    blob = app_tokens(1, 10)
    scopes = [[cc_scope(s)] for s in range(10)]
    seconds = 1.0 if b.rounds > 1 else 0.3
    check = check_token("cache", "16 hit")
    hits: dict[str, dict[str, list[float]]] = {
        who: {"tput": [], "median": []} for who in ("aio", "threads", "msal", "loop", "gil")
    }
    cold: dict[str, dict[str, list[float]]] = {
        who: {"requests": [], "wall": []} for who in ("aio", "threads", "msal")
    }

    def note_hits(who: str, measured: tuple[float, list[int]]) -> None:
        hits[who]["tput"].append(measured[0])
        hits[who]["median"].append(ns_to_us(median(measured[1])))

    async def aio_hits() -> tuple[float, list[int]]:
        fake = AsyncFakeIdp()
        async with fake.client() as client:
            cache = fresh_cache(libs["identitylib"], blob)
            app = confidential_app(aio, tenant_id(0), client, cache)
            check(await app.acquire_token_for_client(scopes[0]))
            return await task_hits(app.acquire_token_for_client, AIO_TASKS, seconds, scopes, check)

    async def loop_bound() -> tuple[float, list[int]]:
        async def trivial(s: list[str]) -> object:
            return _trivial(s)

        return await task_hits(trivial, AIO_TASKS, seconds, scopes, lambda result: None)

    for r in range(b.rounds):
        order = ["aio", "threads", "msal"] if r % 2 == 0 else ["msal", "threads", "aio"]
        for who in order:
            gc.collect()
            if who == "aio":
                note_hits(who, asyncio.run(aio_hits()))
                continue
            lib = libs["msal" if who == "msal" else "identitylib"]
            app = confidential_app(lib, tenant_id(0), FakeIdp(), fresh_cache(lib, blob))
            check(app.acquire_token_for_client(scopes[0]))
            note_hits(
                who,
                thread_hits(app.acquire_token_for_client, AIO_HIT_THREADS, seconds, scopes, check),
            )
        note_hits("loop", asyncio.run(loop_bound()))
        note_hits("gil", thread_hits(_trivial, AIO_HIT_THREADS, seconds, scopes, lambda _: None))
        for who in order:
            requests, wall = _w16_stampede(who, libs, aio, f"api://bench-aio-stampede-{r}/.default")
            cold[who]["requests"].append(requests)
            cold[who]["wall"].append(wall)
    _w16_rows(out, hits, cold)


def _w16_stampede(
    who: str, libs: dict[str, ModuleType], aio: ModuleType, scope: str
) -> tuple[float, float]:
    """Token requests and wall time (ms) of ``AIO_TASKS`` identical calls on a cold cache
    (the server answers after ``AIO_SERVER_DELAY_S``): asyncio tasks for ``aio``, else
    jobs of a pool of ``AIO_POOL_THREADS`` threads."""

    check = check_token("identity_provider" if who != "msal" else None, f"16 {who} stampede")
    loose = check_token(None, f"16 {who} stampede")  # later callers may be served the cache
    tenant = tenant_id(78)
    if who == "aio":

        async def run() -> tuple[float, float]:
            fake = AsyncFakeIdp(AIO_SERVER_DELAY_S)
            async with fake.client() as client:
                app = confidential_app(aio, tenant, client)
                check(await app.acquire_token_for_client(["api://bench-aio-warm/.default"]))
                before = fake.posts
                wall = await task_stampede(
                    lambda: app.acquire_token_for_client([scope]), AIO_TASKS, loose
                )
                return float(fake.posts - before), wall

        return asyncio.run(run())
    lib = libs["msal" if who == "msal" else "identitylib"]
    http = FakeIdp(delay_s=AIO_SERVER_DELAY_S)
    app = confidential_app(lib, tenant, http)
    check(app.acquire_token_for_client(["api://bench-aio-warm/.default"]))  # discovery (msal)
    before = http.posts
    wall = pool_stampede(
        lambda: app.acquire_token_for_client([scope]), AIO_TASKS, AIO_POOL_THREADS, loose
    )
    return float(http.posts - before), wall


def _w16_rows(
    out: Collected, hits: dict[str, dict[str, list[float]]], cold: dict[str, dict[str, list[float]]]
) -> None:
    def med(table: dict[str, dict[str, list[float]]], who: str, what: str) -> float:
        return median(table[who][what])

    tasks, threads, pool = f"{AIO_TASKS:,} tasks", f"{AIO_HIT_THREADS} threads", AIO_POOL_THREADS
    nan = float("nan")
    for who, case in (
        ("aio", f"identitylib.aio, {tasks} (msal: {threads})"),
        ("threads", f"blocking API, {threads} (msal: {threads})"),
    ):
        for workload, what, unit in (
            ("16 asyncio hits throughput", "tput", "calls/s"),
            ("16 asyncio hits, per-call median", "median", "us"),
        ):
            msal, ours = med(hits, "msal", what), med(hits, who, what)
            out.rows.append(Row(workload, case, "", unit, msal, ours))
    aio_vs_threads = med(hits, "aio", "tput") / med(hits, "threads", "tput")
    bound = med(hits, "loop", "tput") / med(hits, "gil", "tput")
    case = f"aio {tasks} / blocking {threads}"
    out.rows.append(
        Row("16 asyncio hits throughput", case, "", "x", nan, aio_vs_threads, target="(info)")
    )
    out.notes.append(
        f"16 hits: {tasks} yielding after every call reach {med(hits, 'loop', 'tput'):,.0f} "
        f"calls/s with a no-op coroutine, {threads} {med(hits, 'gil', 'tput'):,.0f} with a "
        f"no-op function ({bound:.2f}x): the harnesses' own bounds on this machine"
    )
    stampede = "16 asyncio cold stampede"
    measures = (("requests", "token requests", "requests"), ("wall", "wall time", "ms"))
    for who, case in (
        ("aio", f"identitylib.aio, {tasks} (msal: {pool} threads)"),
        ("threads", f"blocking API, {AIO_TASKS:,} calls over {pool} threads (msal: the same)"),
    ):
        for what, label, unit in measures:
            msal, ours = med(cold, "msal", what), med(cold, who, what)
            row = Row(stampede, f"{label}: {case}", "", unit, msal, ours, target="(info)")
            if what == "requests":
                row.target, row.met = "ours == 1", all(n == 1 for n in cold[who]["requests"])
            out.rows.append(row)
    for what, label, _unit in measures:
        ratio = med(cold, "aio", what) / med(cold, "threads", what)
        case = f"{label}: aio {tasks} / blocking {pool} threads"
        out.rows.append(Row(stampede, case, "", "x", nan, ratio, target="(info)"))
