# ruff: noqa: B023  (closures built in a loop are used within the same iteration)
"""identitylib against msal on every workload of issue #8, with targets: ``bench/run.py``.

Both libraries run through the same public API, in one process (workloads 8 and 9 in fresh
subprocesses), with the same in-memory fake ``http_client`` that counts requests and an
identical cache deserialized from one blob in MSAL's unified schema. Timed calls take
turns between the libraries in blocks (see ``_common.time_interleaved``); each workload is
repeated for several rounds on fresh caches and apps, and the table shows the median over
rounds of each round's median and p99, the ratio identitylib/msal and whether the target
of the issue is met. Results go to ``bench/results/run.json`` and the plot (latency
against cache size) to ``docs/img/bench_run.png``.

Run: ``.venv/bin/python bench/run.py [--quick] [--rounds 3] [--only 1 2 7]``
(see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

from _common import (
    CLIENT_ID,
    authority_url,
    format_ratio,
    format_us,
    load_libraries,
    machine_info,
    median,
    ns_to_us,
    percentile,
    print_table,
    serialized_app_token_cache,
    tenant_id,
    time_interleaved,
    write_json,
)
from _concurrency import pool_stampede, task_hits, task_stampede, thread_hits
from _fixtures import (
    ENV,
    OBO_SCOPE,
    USER_SCOPE,
    USER_TENANT,
    AsyncFakeIdp,
    FakeIdp,
    account_of,
    assertion_of,
    bench_certificate,
    obo_cache,
    realistic_app_token_cache,
    user_cache,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_JSON = ROOT / "bench" / "results" / "run.json"
DEFAULT_PLOT = ROOT / "docs" / "img" / "bench_run.png"
PY = sys.executable


@dataclass(frozen=True)
class Budget:
    """How much of each kind of workload to run."""

    rounds: int
    hit_calls: int
    hit_s: float
    miss_calls: int
    miss_s: float
    large: int  # the largest "10,000"-style size
    huge: int  # the "100,000" size (serialize, memory, flatness)
    realistic: int  # access tokens of realistic size (workload 14)
    import_runs: int


FULL = Budget(
    rounds=3,
    hit_calls=3000,
    hit_s=0.6,
    miss_calls=150,
    miss_s=1.5,
    large=10_000,
    huge=100_000,
    realistic=100_000,
    import_runs=7,
)
QUICK = Budget(
    rounds=1,
    hit_calls=300,
    hit_s=0.15,
    miss_calls=20,
    miss_s=0.3,
    large=10_000,
    huge=100_000,
    realistic=10_000,
    import_runs=3,
)


@dataclass
class Row:
    """One line of the table."""

    workload: str
    case: str
    n: str
    unit: str
    msal: float
    ours: float
    msal_p99: float = float("nan")
    ours_p99: float = float("nan")
    requests: str = ""
    target: str = ""
    met: Optional[bool] = None
    size: Optional[int] = None  # for the plot
    series: str = ""  # for the plot

    @property
    def ratio(self) -> float:
        return self.ours / self.msal if self.msal else float("nan")


@dataclass
class Collected:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_token(source: Optional[str], what: str) -> Callable[[object], None]:
    def check(result: object) -> None:
        if not (isinstance(result, dict) and "access_token" in result):
            raise RuntimeError(f"{what}: no token: {result!r}"[:500])
        if source and result.get("token_source") != source:
            raise RuntimeError(f"{what}: token_source {result.get('token_source')!r}")

    return check


def fresh_cache(lib: ModuleType, blob: str) -> Any:
    cache = lib.SerializableTokenCache()
    cache.deserialize(blob)
    return cache


def timed_rounds(
    libs: dict[str, ModuleType],
    rounds: int,
    setup: Callable[[str, ModuleType, int], tuple[Callable[[int], object], FakeIdp]],
    calls: int,
    seconds: float,
    block: int,
    source: Optional[str],
    what: str,
    min_calls: int = 5,
    library_only: bool = False,
) -> dict[str, dict[str, float]]:
    """Median over rounds of per-round median/p99 (us) and requests per call, per library.

    ``library_only``: each call's time less the time the fake server (a ``FakeIdp``) spent
    answering it, i.e. the library's own time.
    """
    per: dict[str, dict[str, list[float]]] = {
        name: {"median": [], "p99": [], "rpc": [], "calls": []} for name in libs
    }
    for r in range(rounds):
        order = list(libs) if r % 2 == 0 else list(reversed(list(libs)))
        prepared = {name: setup(name, libs[name], r) for name in order}
        server_ns: dict[str, list[int]] = {name: [] for name in prepared}
        tidy = {name: getattr(call, "tidy", None) for name, (call, _) in prepared.items()}
        if library_only:
            prepared = {
                name: (_less_server(call, http, server_ns[name]), http)
                for name, (call, http) in prepared.items()
            }
        gc.collect()
        before = {name: p[1].requests for name, p in prepared.items()}
        samples = time_interleaved(
            {name: p[0] for name, p in prepared.items()},
            calls,
            block=block,
            budget_s=seconds,
            min_iterations=min_calls,
            checks={
                name: _then(check_token(source, f"{name} {what}"), tidy[name]) for name in prepared
            },
        )
        for name, s in samples.items():
            made = prepared[name][1].requests - before[name]
            if library_only:
                s.durations_ns = [t - x for t, x in zip(s.durations_ns, server_ns[name])]
            per[name]["median"].append(ns_to_us(median(s.durations_ns)))
            per[name]["p99"].append(ns_to_us(percentile(s.durations_ns, 99)))
            per[name]["rpc"].append(made / max(1, s.calls))
            per[name]["calls"].append(s.calls)
        del prepared
    return {
        name: {k: float(statistics.median(v)) for k, v in stats.items()}
        for name, stats in per.items()
    }


def _then(
    check: Callable[[object], None], tidy: Optional[Callable[[object], None]]
) -> Callable[[object], None]:
    """``check``, then the call's own ``tidy`` (both outside the timed region)."""
    if tidy is None:
        return check

    def both(result: object) -> None:
        check(result)
        tidy(result)

    return both


def _less_server(
    call: Callable[[int], object], http: FakeIdp, spent: list[int]
) -> Callable[[int], object]:
    """``call``, noting in ``spent`` the fake server's time within each call (in call order,
    as ``time_interleaved`` notes the durations)."""

    def noted(i: int) -> object:
        before = http.server_ns
        result = call(i)
        spent.append(http.server_ns - before)
        return result

    return noted


def add_timed(
    out: Collected,
    workload: str,
    case: str,
    n: int,
    stats: dict[str, dict[str, float]],
    target: str,
    limit: Optional[float],
    *,
    series: str = "",
    expect_ours_requests: Optional[float] = None,
) -> Row:
    m, o = stats["msal"], stats["identitylib"]
    row = Row(
        workload,
        case,
        f"{n:,}",
        "us",
        m["median"],
        o["median"],
        m["p99"],
        o["p99"],
        requests=f"{m['rpc']:.3g} / {o['rpc']:.3g}",
        target=target,
        size=n,
        series=series,
    )
    if limit is not None:
        row.met = row.ratio <= limit
    if expect_ours_requests is not None and o["rpc"] != expect_ours_requests:
        row.met = False
        out.notes.append(f"{workload} {case} N={n:,}: identitylib made {o['rpc']:g} req/call")
    out.rows.append(row)
    return row


def add_flatness(out: Collected, workload: str, rows: Sequence[Row], limit: float = 1.3) -> None:
    """identitylib's median at the largest size over that at the smallest."""
    if len(rows) < 2:
        return
    lo, hi = rows[0], rows[-1]
    growth = hi.ours / lo.ours
    msal_growth = hi.msal / lo.msal
    out.rows.append(
        Row(
            workload,
            f"flatness N {lo.n} -> {hi.n} (largest/smallest)",
            "",
            "x",
            msal_growth,
            growth,
            target=f"ours <= {limit}x",
            met=growth <= limit,
        )
    )


# ----------------------------------------------------------------- 1. client credentials


CC_LAYOUTS = (  # (tenants, scopes per tenant)
    (1, 10),
    (1_000, 10),
    (10_000, 1),
    (10_000, 10),  # 100,000 tokens: hit flatness
)


def cc_scope(j: int) -> str:
    return f"api://bench-resource-{j}/.default"


def w1_client_credentials(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    hit_rows: list[Row] = []
    for tenants, per in CC_LAYOUTS:
        tenants = min(tenants, b.large) if (tenants, per) != (10_000, 10) else b.huge // 10
        n = tenants * per
        log(f"1. client credentials, {tenants} tenants x {per} scopes")
        blob = serialized_app_token_cache(
            CLIENT_ID, [(tenant_id(t), cc_scope(s)) for t in range(tenants) for s in range(per)]
        )
        app_tenant = tenant_id(tenants // 2)

        def make_app(lib: ModuleType) -> tuple[Any, FakeIdp]:
            http = FakeIdp()
            app = lib.ConfidentialClientApplication(
                CLIENT_ID,
                client_credential="secret",
                authority=authority_url(app_tenant),
                http_client=http,
                token_cache=fresh_cache(lib, blob),
            )
            app.acquire_token_for_client([cc_scope(0)])  # warm: discovery
            return app, http

        def hit_setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
            app, http = make_app(lib)
            scopes = [[cc_scope(s)] for s in range(per)]
            return (lambda i: app.acquire_token_for_client(scopes[i % per])), http

        def miss_setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
            app, http = make_app(lib)
            app.acquire_token_for_client(["api://bench-miss-warm/.default"])
            return (lambda i: app.acquire_token_for_client([f"api://miss-{r}-{i}/.default"])), http

        label = f"{tenants:,} tenant x {per} scopes"
        hit = timed_rounds(libs, b.rounds, hit_setup, b.hit_calls, b.hit_s, 100, "cache", "cc hit")
        hit_rows.append(
            add_timed(
                out,
                "1 client credentials hit",
                label,
                n,
                hit,
                "<= 0.25",
                0.25,
                series="client credentials hit",
                expect_ours_requests=0,
            )
        )
        if (tenants, per) == (10_000, 10) and b.huge > b.large * 5:
            continue  # misses at 100,000: see cache_scaling.py
        miss = timed_rounds(
            libs, b.rounds, miss_setup, b.miss_calls, b.miss_s, 10, "identity_provider", "cc miss"
        )
        limit = 0.01 if n >= b.large else None
        add_timed(
            out,
            "1 client credentials miss",
            label,
            n,
            miss,
            "<= 0.01" if limit else "(not growing)",
            limit,
            series="client credentials miss",
            expect_ours_requests=1,
        )
    add_flatness(out, "1 client credentials hit", sorted(hit_rows, key=lambda r: r.size or 0))


# ---------------------------------------------------------------- 2./3. public client


def public_app(lib: ModuleType, blob: str) -> tuple[Any, FakeIdp]:
    http = FakeIdp()
    app = lib.PublicClientApplication(
        CLIENT_ID,
        authority=authority_url(USER_TENANT),
        http_client=http,
        token_cache=fresh_cache(lib, blob),
    )
    return app, http


def w2_silent_hits(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    sizes = [1, 100, b.large]
    exact_rows, subset_rows = [], []
    for n in sizes:
        log(f"2. public-client silent hit, {n} accounts")
        blobs = {False: user_cache(n, oidc_in_target=False), True: user_cache(n)}
        picks = sorted({k * n // 16 for k in range(16)})
        accounts = [account_of(i) for i in picks]

        def setup(oidc_in_target: bool) -> Callable[..., Any]:
            blob, scopes = blobs[oidc_in_target], [USER_SCOPE]

            def inner(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
                app, http = public_app(lib, blob)
                app.acquire_token_silent(scopes, accounts[0])  # warm: discovery
                k = len(accounts)
                return (lambda i: app.acquire_token_silent(scopes, accounts[i % k])), http

            return inner

        exact = timed_rounds(
            libs, b.rounds, setup(False), b.hit_calls, b.hit_s, 100, "cache", "silent exact"
        )
        exact_rows.append(
            add_timed(
                out,
                "2 silent hit (same scopes)",
                "accounts",
                n,
                exact,
                "<= 0.25",
                0.25,
                series="silent hit, same scopes",
                expect_ours_requests=0,
            )
        )
        subset = timed_rounds(
            libs, b.rounds, setup(True), b.hit_calls, b.hit_s, 100, "cache", "silent subset"
        )
        limit = 0.01 if n >= b.large else 0.25
        subset_rows.append(
            add_timed(
                out,
                "2 silent hit (subset scopes)",
                "accounts",
                n,
                subset,
                f"<= {limit}",
                limit,
                series="silent hit, subset scopes",
                expect_ours_requests=0,
            )
        )
    add_flatness(out, "2 silent hit (same scopes)", exact_rows)
    add_flatness(out, "2 silent hit (subset scopes)", subset_rows)


def w3_silent_refresh(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    for n in (100, b.large):
        log(f"3. silent refresh, {n} accounts")
        blob = user_cache(n)

        def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
            app, http = public_app(lib, blob)
            app.acquire_token_silent(["api://bench-refresh-warm/read"], account_of(0))  # discovery

            def call(i: int) -> object:
                # A scope no token has yet, for a different account each call: AT miss -> RT.
                return app.acquire_token_silent(
                    [f"api://bench-refresh-{r}-{i}/read"], account_of((i * 7919) % n)
                )

            return call, http

        stats = timed_rounds(
            libs, b.rounds, setup, b.miss_calls, b.miss_s, 10, "identity_provider", "silent refresh"
        )
        limit = 0.01 if n >= b.large else None
        add_timed(
            out,
            "3 silent refresh (RT)",
            "accounts",
            n,
            stats,
            "<= 0.01" if limit else "",
            limit,
            series="silent refresh",
            expect_ours_requests=1,
        )


# ------------------------------------------------------------------------------ 4. OBO


def w4_obo(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    for n in (100, b.large):
        log(f"4. on-behalf-of repeat, {n} users")
        blob = obo_cache(n)
        picks = sorted({k * n // 16 for k in range(16)})

        def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
            http = FakeIdp()
            app = lib.ConfidentialClientApplication(
                CLIENT_ID,
                client_credential="secret",
                authority=authority_url(USER_TENANT),
                http_client=http,
                token_cache=fresh_cache(lib, blob),
            )
            for i in picks:  # the first call of each user (msal requests; we hit the blob)
                app.acquire_token_on_behalf_of(assertion_of(i), [OBO_SCOPE])
            k = len(picks)
            return (
                lambda i: app.acquire_token_on_behalf_of(assertion_of(picks[i % k]), [OBO_SCOPE])
            ), http

        stats = timed_rounds(libs, b.rounds, setup, b.miss_calls * 4, b.miss_s, 20, None, "obo")
        add_timed(
            out,
            "4 on-behalf-of repeat",
            "users",
            n,
            stats,
            "<= 0.1, 0 requests",
            0.1,
            series="on-behalf-of repeat",
            expect_ours_requests=0,
        )


# ------------------------------------------------------------------------ 5. accounts


def w5_get_accounts(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    n = b.large
    log(f"5. get_accounts, {n} accounts")
    blob = user_cache(n)

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = public_app(lib, blob)
        app.get_accounts()

        def call(i: int) -> object:
            accounts = app.get_accounts()
            if len(accounts) != n:
                raise RuntimeError(f"{name}: {len(accounts)} accounts")
            return {"access_token": "-"}

        return call, http

    stats = timed_rounds(libs, b.rounds, setup, 40, b.miss_s, 2, None, "get_accounts", 3)
    add_timed(out, "5 get_accounts()", "accounts", n, stats, "<= 0.2", 0.2)


# -------------------------------------------------------------- 6. serialize/deserialize


def w6_serialization(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    for n in (1_000, b.huge):
        log(f"6. serialize/deserialize, {n} tokens")
        blob = serialized_app_token_cache(
            CLIENT_ID, [(tenant_id(i // 10), cc_scope(i % 10)) for i in range(n)]
        )
        reps = max(1, b.rounds * (5 if n <= 10_000 else 1))
        ser: dict[str, list[float]] = {name: [] for name in libs}
        de: dict[str, list[float]] = {name: [] for name in libs}
        size: dict[str, int] = {}
        for r in range(reps):
            for name in libs if r % 2 == 0 else list(reversed(list(libs))):
                gc.collect()
                cache = libs[name].SerializableTokenCache()
                start = time.perf_counter_ns()
                cache.deserialize(blob)
                de[name].append(ns_to_us(time.perf_counter_ns() - start))
                cache.has_state_changed = True
                start = time.perf_counter_ns()
                text = cache.serialize()
                ser[name].append(ns_to_us(time.perf_counter_ns() - start))
                size[name] = len(text.encode())
                del cache, text
        for label, data, limit in (("serialize", ser, 0.5), ("deserialize", de, 1.0)):
            out.rows.append(
                Row(
                    f"6 {label}()",
                    "access tokens",
                    f"{n:,}",
                    "us",
                    median(data["msal"]),
                    median(data["identitylib"]),
                    max(data["msal"]),
                    max(data["identitylib"]),
                    target=f"<= {limit}",
                    met=median(data["identitylib"]) <= limit * median(data["msal"]),
                )
            )
        out.rows.append(
            Row(
                "6 serialized size",
                "access tokens",
                f"{n:,}",
                "bytes",
                size["msal"],
                size["identitylib"],
                target="(info)",
            )
        )


# ------------------------------------------------------------------------- 7. threads


def w7_threads(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    log("7. 16 threads on cache hits; 50-thread cold stampede")
    blob = serialized_app_token_cache(CLIENT_ID, [(tenant_id(0), cc_scope(s)) for s in range(10)])
    seconds = 1.0 if b.rounds > 1 else 0.3
    tput: dict[str, dict[str, list[float]]] = {n: {"single": [], "multi": []} for n in libs}
    # 16 threads against 1 thread of the same library: measured in back-to-back pairs
    # (a slower stretch of a shared VM then affects both of a pair), three pairs a round.
    paired: dict[str, list[float]] = {n: [] for n in libs}
    for r in range(b.rounds):
        for name in libs if r % 2 == 0 else list(reversed(list(libs))):
            lib = libs[name]
            app = lib.ConfidentialClientApplication(
                CLIENT_ID,
                client_credential="secret",
                authority=authority_url(tenant_id(0)),
                http_client=FakeIdp(),
                token_cache=fresh_cache(lib, blob),
            )
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
        http = FakeIdp(delay_s=0.05)
        app = lib.ConfidentialClientApplication(
            CLIENT_ID,
            client_credential="secret",
            authority=authority_url(tenant_id(77)),
            http_client=http,
        )
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
        walls[name] = (time.perf_counter() - start) * 1000
        if not all("access_token" in res for res in results):
            out.notes.append(f"{name} stampede: some calls got no token")
        counts[name] = http.posts - before
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


def _throughput(app: Any, threads: int, seconds: float) -> float:
    """Calls/s of ``app.acquire_token_for_client`` on 10 cached scopes, from ``threads``."""
    return _calls_per_second(app.acquire_token_for_client, threads, seconds)


def _trivial(scopes: list[str]) -> dict[str, Any]:
    """As much Python as a cache hit, minus the library: the GIL baseline's workload."""
    return {"access_token": scopes[0], "token_type": "Bearer", "expires_in": 3599}


def _calls_per_second(call: Callable[[list[str]], Any], threads: int, seconds: float) -> float:
    stop = threading.Event()
    counts = [0] * threads
    scopes = [[cc_scope(s)] for s in range(10)]
    barrier = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        barrier.wait()
        n = 0
        while not stop.is_set():
            for s in scopes:
                call(s)
            n += len(scopes)
        counts[k] = n

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


# ------------------------------------------------------------------------ 8. cold start


def w8_cold_start(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    log("8. cold start (subprocesses, 20 ms per request)")
    res: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in libs:
            path = os.path.join(tmp, f"{name}.http_cache")
            cold = _child("coldstart", name, "20", path)
            warm = _child("coldstart", name, "20", path)  # a new process, persisted http_cache
            res[name] = {"cold": cold, "persisted": warm}
    m, o = res["msal"], res["identitylib"]
    for phase, app_key, label, limit in (
        ("cold", "first_app", "first call, new process", None),
        ("persisted", "first_app", "first call, persisted http_cache", 1),
        ("cold", "second_app", "second app, same authority", None),
    ):
        mm, oo = m[phase][app_key], o[phase][app_key]
        out.rows.append(
            Row(
                "8 cold start",
                label + " (requests)",
                "",
                "requests",
                mm["requests"],
                oo["requests"],
                target=f"ours == {limit}"
                if limit is not None
                else ("0 discovery requests" if app_key == "second_app" else "(info)"),
                met=(oo["requests"] == limit)
                if limit is not None
                else (oo["discovery_requests"] == 0 if app_key == "second_app" else None),
            )
        )
        out.rows.append(
            Row(
                "8 cold start",
                label + " (wall)",
                "",
                "ms",
                mm["wall_ms"],
                oo["wall_ms"],
                target="(info)",
            )
        )


def _child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [PY, str(HERE / "_children.py"), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------- 9. import, memory


IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(\S.*)$")


def _bytecode_env() -> dict[str, str]:
    """The environment, with bytecode caching on: an installed package has its .pyc files
    (msal's were written by pip); without them identitylib would be compiled every time."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_time_us(module: str) -> float:
    """Cumulative import time of ``module`` (us) in a fresh interpreter, .pyc in place."""
    proc = subprocess.run(
        [PY, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=_bytecode_env(),
    )
    total = 0.0
    for line in proc.stderr.splitlines():
        match = IMPORT_LINE.search(line)
        if match and match.group(3).strip() == module:
            total = float(match.group(2))
    return total


def w9_import_memory(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    log("9. import time and memory (subprocesses)")
    times: dict[str, list[float]] = {name: [] for name in libs}
    for name in libs:  # warm-up: writes the .pyc files if missing
        subprocess.run([PY, "-c", f"import {name}"], check=True, env=_bytecode_env())
    for r in range(b.import_runs):
        for name in libs if r % 2 == 0 else list(reversed(list(libs))):
            times[name].append(import_time_us(name))
    out.rows.append(
        Row(
            "9 import time",
            "python -X importtime",
            "",
            "ms",
            median(times["msal"]) / 1000,
            median(times["identitylib"]) / 1000,
            target="<= 0.5",
            met=median(times["identitylib"]) <= 0.5 * median(times["msal"]),
        )
    )
    mem = {name: _child("memory", name, str(b.huge)) for name in libs}
    for key, label in (
        ("peak_bytes", "peak (deserialize)"),
        ("retained_bytes", "retained"),
        ("after_lookup_bytes", "retained after a non-exact lookup"),
    ):
        m, o = mem["msal"][key] / 2**20, mem["identitylib"][key] / 2**20
        out.rows.append(
            Row(
                "9 memory, tokens held",
                label,
                f"{b.huge:,}",
                "MiB",
                m,
                o,
                target="<= 1" if key == "peak_bytes" else "(info)",
                met=(o <= m) if key == "peak_bytes" else None,
            )
        )


# ------------------------------------------------------------ 10. client assertions


#: (algorithm, client_credential key naming the certificate): both libraries pick RS256
#: with a SHA-1 ``thumbprint`` and PS256 with the ``public_certificate``.
CERT_FORMS = (("RS256", "thumbprint"), ("PS256", "public_certificate"))
ASSERTION_TENANT = tenant_id(10)


def certificate_credential(form: str) -> dict[str, str]:
    cert = bench_certificate()
    return {"private_key": cert["private_key"], form: cert[form]}


def assertion_signers(
    libs: dict[str, ModuleType], algorithm: str, form: str
) -> dict[str, Callable[[int], object]]:
    """Signing one client assertion: identitylib's credential (as on every token request)
    and msal's own signer (which msal calls once, then reuses the JWT for ~9 minutes)."""
    from identitylib._credential import parse_client_credential

    audience = f"{authority_url(ASSERTION_TENANT)}/oauth2/v2.0/token"
    ours = parse_client_credential(certificate_credential(form))
    cert = bench_certificate()
    thumbprint = (
        {"sha1_thumbprint": cert["thumbprint"]}
        if algorithm == "RS256"
        else {"sha256_thumbprint": cert["sha256"]}
    )
    creator = importlib.import_module("msal.oauth2cli").JwtAssertionCreator(
        cert["private_key"], algorithm, **thumbprint
    )
    return {
        "msal": lambda i: creator.create_normal_assertion(audience, CLIENT_ID),
        "identitylib": lambda i: ours.auth_fields(client_id=CLIENT_ID, token_endpoint=audience)[
            "client_assertion"
        ],
    }


def check_jwt(what: str) -> Callable[[object], None]:
    def check(result: object) -> None:
        text = result.decode() if isinstance(result, bytes) else result
        if not (isinstance(text, str) and len(text.split(".")) == 3):
            raise RuntimeError(f"{what}: not a JWT: {type(result).__name__}")

    return check


def w10_client_assertions(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """The cost of a fresh client assertion per token request (identitylib signs one for
    every request; msal reuses one signed JWT for about nine minutes)."""
    for algorithm, form in CERT_FORMS:
        log(f"10. client assertion per token request, {algorithm}")
        credential = certificate_credential(form)

        def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
            http = FakeIdp()
            app = lib.ConfidentialClientApplication(
                CLIENT_ID,
                client_credential=credential,
                authority=authority_url(ASSERTION_TENANT),
                http_client=http,
            )
            app.acquire_token_for_client(["api://bench-assertion-warm/.default"])  # discovery
            return (
                lambda i: app.acquire_token_for_client([f"api://assertion-{r}-{i}/.default"])
            ), http

        stats = timed_rounds(
            libs, b.rounds, setup, b.miss_calls, b.miss_s, 10, "identity_provider", "cert miss"
        )
        m, o = stats["msal"], stats["identitylib"]
        out.rows.append(
            Row(
                "10 client assertion",
                f"cc miss, certificate {algorithm} (msal reuses its JWT)",
                "",
                "us",
                m["median"],
                o["median"],
                m["p99"],
                o["p99"],
                requests=f"{m['rpc']:.3g} / {o['rpc']:.3g}",
                target="(info)",
                met=False if o["rpc"] != 1 else None,
            )
        )
        per: dict[str, dict[str, list[float]]] = {n: {"median": [], "p99": []} for n in libs}
        for _ in range(b.rounds):
            samples = time_interleaved(
                assertion_signers(libs, algorithm, form),
                b.miss_calls,
                block=10,
                budget_s=b.miss_s,
                min_iterations=5,
                checks={name: check_jwt(f"{name} sign {algorithm}") for name in libs},
            )
            for name, sample in samples.items():
                per[name]["median"].append(ns_to_us(median(sample.durations_ns)))
                per[name]["p99"].append(ns_to_us(percentile(sample.durations_ns, 99)))
        out.rows.append(
            Row(
                "10 client assertion",
                f"signing one, {algorithm} (identitylib: per token request)",
                "",
                "us",
                median(per["msal"]["median"]),
                median(per["identitylib"]["median"]),
                median(per["msal"]["p99"]),
                median(per["identitylib"]["p99"]),
                target="(info)",
            )
        )


class _KeysIdp:
    """An ``http_client`` serving an issuer's OpenID configuration and JWKS (one RSA key)."""

    def __init__(self, authority: str, jwk: dict[str, Any]) -> None:
        self.authority = authority
        self.jwk = jwk
        self.gets = 0

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        from _common import FakeResponse

        self.gets += 1
        if url.endswith("/keys"):
            return FakeResponse(200, {"keys": [self.jwk]})
        host = self.authority.split("/")[2]
        tenant = self.authority.rstrip("/").rsplit("/", 1)[1]
        return FakeResponse(
            200,
            {
                "issuer": f"https://{host}/{tenant}/v2.0",
                "token_endpoint": f"{self.authority}/oauth2/v2.0/token",
                "authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                "jwks_uri": f"{self.authority}/discovery/v2.0/keys",
            },
        )

    def post(self, url: str, **kwargs: Any) -> Any:
        raise RuntimeError("the guard benchmark makes no POST")


def w11_api_guard(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """A protected API's guard per request (``identitylib.web.ProtectedApi.authenticate``:
    signature with a cached RS256 key, issuer, audience, lifetime, scope), beside a plain
    PyJWT decode of the same token with the same checks (msal has no validator)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from identitylib.web import ProtectedApi

    log("11. protected API guard per request (cached keys, RS256)")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench-key", use="sig", alg="RS256")
    tenant = tenant_id(11)
    authority = authority_url(tenant)
    issuer = f"https://{authority.split('/')[2]}/{tenant}/v2.0"
    audience = "api://bench-guarded-api"
    now = int(time.time())
    claims = {
        "iss": issuer, "aud": audience, "tid": tenant, "azp": CLIENT_ID, "ver": "2.0",
        "iat": now, "nbf": now, "exp": now + 3600, "scp": "access_as_user", "sub": "bench-user",
        "oid": "0b0e0000-0000-4000-8000-000000000001", "name": "Bench User",
    }  # fmt: skip
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench-key"})
    header = f"Bearer {token}"
    http = _KeysIdp(authority, jwk)
    api = ProtectedApi(authority, audience=audience, http_client=http)
    api.authenticate(header, scopes=["access_as_user"])  # discovery and keys, once
    public = key.public_key()

    def guard(i: int) -> object:
        return api.authenticate(header, scopes=["access_as_user"]).claims["sub"]

    def plain(i: int) -> object:
        decoded = jwt.decode(token, public, algorithms=["RS256"], audience=audience, issuer=issuer)
        if "access_as_user" not in decoded["scp"].split():
            raise RuntimeError("scope missing")
        return decoded["sub"]

    def same(what: str) -> Callable[[object], None]:
        def check(result: object) -> None:
            if result != "bench-user":
                raise RuntimeError(f"{what}: {result!r}")

        return check

    per: dict[str, dict[str, list[float]]] = {n: {"median": [], "p99": []} for n in libs}
    for _ in range(b.rounds):
        samples = time_interleaved(
            {"msal": plain, "identitylib": guard},
            b.hit_calls,
            block=50,
            budget_s=b.hit_s,
            min_iterations=5,
            checks={"msal": same("PyJWT decode"), "identitylib": same("guard")},
        )
        for name, sample in samples.items():
            per[name]["median"].append(ns_to_us(median(sample.durations_ns)))
            per[name]["p99"].append(ns_to_us(percentile(sample.durations_ns, 99)))
    if http.gets != 2:
        out.notes.append(f"11 guard: {http.gets} key/metadata fetches (expected 2, once each)")
    out.rows.append(
        Row(
            "11 API guard",
            "authenticate (cached key, RS256) vs plain PyJWT decode in the msal column",
            "",
            "us",
            median(per["msal"]["median"]),
            median(per["identitylib"]["median"]),
            median(per["msal"]["p99"]),
            median(per["identitylib"]["p99"]),
            target="(info)",
        )
    )


# ---------------------------------------------------------------------------- output


# ------------------------------------------------------------- 12. rotating-key hits


def memo_off(lib: ModuleType, app: Any) -> Any:
    """identitylib's same-call memo stops remembering, so every hit takes the general
    (exact-key) path: the rows below measure that path, not the memo."""
    if lib.__name__ == "identitylib":
        app._core.hits._memo = _Forgetful()  # an AttributeError here: the bench is stale
    return app


class _Forgetful(dict):  # type: ignore[type-arg]
    """A memo that keeps nothing."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def rotating_picks(n: int, r: int, calls: int) -> list[int]:
    """A random key (0 .. n-1) per call, the same for both libraries in one round."""
    rnd = random.Random(1000 + r)
    return [rnd.randrange(n) for _ in range(max(calls, 1))]


ROTATING_TENANTS = (  # (tenants, scopes per tenant)
    (10, 1),
    (1_000, 1),
    (10_000, 1),
    (10_000, 10),  # 100,000 tokens
)


def w12_rotating_hits(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """Cache hits with another key each call: a multi-tenant daemon (one app per tenant,
    one shared cache), a web app's signed-in users, a web API's callers (OBO)."""
    rows: list[Row] = []
    for tenants, per in ROTATING_TENANTS:
        tenants = min(tenants, b.large)
        n = tenants * per
        log(f"12. rotating tenant, {tenants} tenants x {per} scopes")
        blob = serialized_app_token_cache(
            CLIENT_ID, [(tenant_id(t), cc_scope(s)) for t in range(tenants) for s in range(per)]
        )

        def cc_setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
            http, cache = FakeIdp(), fresh_cache(lib, blob)
            apps = [
                memo_off(
                    lib,
                    lib.ConfidentialClientApplication(
                        CLIENT_ID,
                        client_credential="secret",
                        authority=authority_url(tenant_id(t)),
                        http_client=http,
                        token_cache=cache,
                    ),
                )
                for t in range(tenants)
            ]
            for app in apps:  # each app's first call (msal's discovery ran in its constructor)
                app.acquire_token_for_client([cc_scope(0)])
            picks = rotating_picks(tenants, r, b.hit_calls)
            scopes = [[cc_scope(s)] for s in range(per)]
            k = len(picks)
            return (
                lambda i: apps[picks[i % k]].acquire_token_for_client(scopes[(i * 7) % per])
            ), http

        stats = timed_rounds(libs, b.rounds, cc_setup, b.hit_calls, b.hit_s, 100, "cache", "rot cc")
        rows.append(
            add_timed(
                out,
                "12 cc hit, rotating tenant",
                f"{tenants:,} tenants x {per} scopes",
                n,
                stats,
                "<= 0.25",
                0.25,
                series="cc hit, rotating tenant",
                expect_ours_requests=0,
            )
        )
    add_flatness(out, "12 cc hit, rotating tenant", rows)

    rows = []
    for n in (10, 1_000, b.large):
        log(f"12. rotating account, {n} accounts")
        blob = user_cache(n, oidc_in_target=False)

        def silent_setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
            app, http = public_app(lib, blob)
            memo_off(lib, app)
            accounts = [account_of(i) for i in range(n)]
            app.acquire_token_silent([USER_SCOPE], accounts[0])  # warm
            picks = rotating_picks(n, r, b.hit_calls)
            k = len(picks)
            return (lambda i: app.acquire_token_silent([USER_SCOPE], accounts[picks[i % k]])), http

        stats = timed_rounds(
            libs, b.rounds, silent_setup, b.hit_calls, b.hit_s, 100, "cache", "rot silent"
        )
        rows.append(
            add_timed(
                out,
                "12 silent hit, rotating account",
                "accounts",
                n,
                stats,
                "<= 0.25",
                0.25,
                series="silent hit, rotating account",
                expect_ours_requests=0,
            )
        )
    add_flatness(out, "12 silent hit, rotating account", rows)

    for n in (10, b.large):
        log(f"12. rotating assertion, {n} users")
        blob = obo_cache(n)

        def obo_setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
            http = FakeIdp()
            app = memo_off(
                lib,
                lib.ConfidentialClientApplication(
                    CLIENT_ID,
                    client_credential="secret",
                    authority=authority_url(USER_TENANT),
                    http_client=http,
                    token_cache=fresh_cache(lib, blob),
                ),
            )
            app.acquire_token_on_behalf_of(assertion_of(0), [OBO_SCOPE])  # warm
            picks = rotating_picks(n, r, b.hit_calls)
            k = len(picks)
            return (
                lambda i: app.acquire_token_on_behalf_of(assertion_of(picks[i % k]), [OBO_SCOPE])
            ), http

        stats = timed_rounds(libs, b.rounds, obo_setup, b.hit_calls, b.hit_s, 100, None, "rot obo")
        add_timed(
            out,
            "12 on-behalf-of hit, rotating assertion",
            "users",
            n,
            stats,
            "<= 0.25, 0 requests",
            0.25,
            series="on-behalf-of, rotating assertion",
            expect_ours_requests=0,
        )


# ------------------------------------------------ 13. first token from a persisted cache


def w13_first_token(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """A new process loads a cache file of ``b.huge`` app tokens and serves one hit:
    wall time from importing the library to the token (a subprocess per library and run,
    the libraries alternating; medians), and its phases. Two ways of loading: the bench
    reads the file as text and hands it to ``deserialize()`` (the same for both), and each
    library through its own persistence layer (msal-extensions' ``PersistedTokenCache`` on
    a ``FilePersistence`` for msal, identitylib's ``PersistedTokenCache`` on the path)."""
    log(f"13. first token from a persisted cache of {b.huge:,} tokens (subprocesses)")
    n = b.huge
    tokens = [(tenant_id(i // 10), cc_scope(i % 10)) for i in range(n)]
    runs = max(3, b.rounds)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in libs}
    persisted: dict[str, list[dict[str, Any]]] = {name: [] for name in libs}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cache.json")
        with open(path, "w", encoding="utf-8") as file:
            file.write(serialized_app_token_cache(CLIENT_ID, tokens))
        tenant = tenant_id((n // 10) * 3 // 7)  # one tenant's tokens among all
        for name in libs:  # writes the .pyc files if missing (as after pip install)
            subprocess.run([PY, "-c", f"import {name}"], check=True, env=_bytecode_env())
        for r in range(runs):
            for name in libs if r % 2 == 0 else list(reversed(list(libs))):
                found[name].append(_child("firsttoken", name, path, tenant))
                persisted[name].append(_child("firsttoken-persisted", name, path, tenant))
    for runs_of, phase, label, target in (
        (found, "total_ms", "import to token (text read by the bench)", "<= 0.2"),
        (found, "import_ms", "import", "(info)"),
        (found, "load_ms", "read + deserialize()", "(info)"),
        (found, "first_hit_ms", "app + first hit", "(info)"),
        (persisted, "total_ms", "import to token (own persistence layer)", "<= 0.2"),
        (persisted, "first_hit_ms", "app + first hit (reads the file)", "(info)"),
    ):
        m = median([run[phase] for run in runs_of["msal"]])
        o = median([run[phase] for run in runs_of["identitylib"]])
        out.rows.append(
            Row(
                "13 first token, persisted cache",
                label,
                f"{n:,}",
                "ms",
                m,
                o,
                target=target,
                met=(o <= 0.2 * m) if target != "(info)" else None,
            )
        )


# ------------------------------------------------- 14. realistic entries (Entra-sized JWTs)


def w14_realistic_entries(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    n = b.realistic
    log(f"14. realistic entries: {n} access tokens of 1.9 KB (~30 claims)")
    blob = realistic_app_token_cache(n)
    one_more = realistic_app_token_cache(1, now=int(time.time()) + 1)
    extra = next(iter(json.loads(one_more)["AccessToken"].values()))
    times: dict[str, dict[str, list[float]]] = {
        what: {name: [] for name in libs} for what in ("de", "ser", "ser_changed")
    }
    for r in range(max(1, b.rounds)):
        for name in libs if r % 2 == 0 else list(reversed(list(libs))):
            gc.collect()
            cache = libs[name].SerializableTokenCache()
            start = time.perf_counter_ns()
            cache.deserialize(blob)
            times["de"][name].append(ns_to_us(time.perf_counter_ns() - start))
            start = time.perf_counter_ns()
            text = cache.serialize()  # unchanged since loaded
            times["ser"][name].append(ns_to_us(time.perf_counter_ns() - start))
            del text
            cache.modify("AccessToken", extra, extra)  # one token written
            start = time.perf_counter_ns()
            text = cache.serialize()
            times["ser_changed"][name].append(ns_to_us(time.perf_counter_ns() - start))
            del cache, text
    for what, case, limit in (
        ("de", "deserialize()", 0.5),
        ("ser", "serialize(), unchanged since loaded", 0.2),
        ("ser_changed", "serialize() after one write", 0.2),
    ):
        m, o = median(times[what]["msal"]), median(times[what]["identitylib"])
        out.rows.append(
            Row(
                "14 realistic entries",
                case,
                f"{n:,}",
                "us",
                m,
                o,
                max(times[what]["msal"]),
                max(times[what]["identitylib"]),
                target=f"<= {limit}",
                met=o <= limit * m,
            )
        )
    held = {name: _memory_held(libs[name], blob) for name in libs}
    m, o = held["msal"] / 2**20, held["identitylib"] / 2**20
    out.rows.append(
        Row(
            "14 realistic entries",
            "memory held after deserialize() (text dropped by the caller)",
            f"{n:,}",
            "MiB",
            m,
            o,
            target="<= 0.8",
            met=o <= 0.8 * m,
        )
    )


def _memory_held(lib: ModuleType, blob: str) -> int:
    """Bytes still allocated once the caller dropped its copy of the text: the cache's
    content, and the loaded text when the library keeps it (tracemalloc, garbage collected)."""
    gc.collect()
    tracemalloc.start()
    try:
        text = blob.encode().decode()  # the caller's copy, allocated while tracing
        cache = lib.SerializableTokenCache()
        cache.deserialize(text)
        del text
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del cache
    return held


# ---------------------------------------------- 15. library time per token request


def w15_library_time(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """The library's own time per token request (each call's time less the fake server's):
    a client-credentials miss, a silent refresh through the refresh token and an
    on-behalf-of miss (an assertion never seen), with 10 and ``b.large`` tokens cached."""
    sizes = (10, b.large)
    cases: list[tuple[str, str, Callable[[int], tuple[Any, Any]]]] = [
        ("15 library time, cc miss", "app tokens", _w15_client_credentials),
        ("15 library time, silent refresh (RT)", "accounts (an AT and an RT each)", _w15_refresh),
        ("15 library time, on-behalf-of miss", "users' OBO tokens", _w15_obo),
    ]
    for workload, label, make in cases:
        rows: list[Row] = []
        for n in sizes:
            log(f"15. library time, {workload.split(', ', 1)[1]}, {n:,} cached")
            setup, source = make(n)
            stats = timed_rounds(
                libs,
                b.rounds,
                setup,
                b.miss_calls,
                b.miss_s,
                10,
                source,
                workload,
                library_only=True,
            )
            rows.append(
                add_timed(
                    out,
                    workload,
                    label,
                    n,
                    stats,
                    "<= 0.5",
                    0.5,
                    series=workload.split(", ", 1)[1],
                    expect_ours_requests=1,
                )
            )
        add_flatness(out, workload, rows)


_Setup = Callable[[str, ModuleType, int], tuple[Callable[[int], object], Any]]


def _w15_client_credentials(n: int) -> tuple[_Setup, str]:
    """``n`` app tokens (10 scopes per tenant); a new scope of the app's tenant each call."""
    tenants = max(1, n // 10)
    blob = serialized_app_token_cache(
        CLIENT_ID, [(tenant_id(t), cc_scope(s)) for t in range(tenants) for s in range(10)]
    )
    app_tenant = tenant_id(tenants // 2)

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        http = FakeIdp()
        app = lib.ConfidentialClientApplication(
            CLIENT_ID,
            client_credential="secret",
            authority=authority_url(app_tenant),
            http_client=http,
            token_cache=fresh_cache(lib, blob),
        )
        app.acquire_token_for_client(["api://bench-library-warm/.default"])  # discovery
        query = {"client_id": CLIENT_ID, "environment": ENV, "realm": app_tenant}
        query["home_account_id"] = None

        def scope(i: int) -> str:
            return f"api://lib-{r}-{i}/.default"

        return _Tidied(
            lambda i: app.acquire_token_for_client([scope(i)]),
            app.token_cache,
            lambda i: (scope(i), query),
        ), http

    return setup, "identity_provider"


class _Tidied:
    """A call whose ``tidy`` removes the access token it got (found through the request's
    own query), outside the timed region, so the cache keeps its size through the workload:
    msal's misses scan every token, and a cache growing by one token per call would time
    msal at a larger size than the row says."""

    def __init__(
        self, call: Callable[[int], object], cache: Any, lookup: Callable[[int], tuple[str, Any]]
    ) -> None:
        self._call = call
        self._cache = cache
        self._lookup = lookup  # call number -> (scope, query) of its token
        self._last = 0

    def __call__(self, i: int) -> object:
        self._last = i
        return self._call(i)

    def tidy(self, result: object) -> None:
        secret = result.get("access_token") if isinstance(result, dict) else None
        scope, query = self._lookup(self._last)
        for entry in list(self._cache.search("AccessToken", target=[scope], query=query)):
            if entry.get("secret") == secret:
                self._cache.remove_at(entry)


def _w15_refresh(n: int) -> tuple[_Setup, str]:
    """``n`` accounts; a scope no token has, for another account each call."""
    blob = user_cache(n)

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        app, http = public_app(lib, blob)
        app.acquire_token_silent(["api://bench-library-warm/read"], account_of(0))  # discovery
        accounts = [account_of(i) for i in range(n)]

        def call(i: int) -> object:
            return app.acquire_token_silent(
                [f"api://lib-refresh-{r}-{i}/read"], accounts[(i * 7919) % n]
            )

        def lookup(i: int) -> tuple[str, Any]:
            home = accounts[(i * 7919) % n]["home_account_id"]
            query = {"client_id": CLIENT_ID, "environment": ENV, "realm": USER_TENANT}
            return f"api://lib-refresh-{r}-{i}/read", {**query, "home_account_id": home}

        return _Tidied(call, app.token_cache, lookup), http

    return setup, "identity_provider"


def _w15_obo(n: int) -> tuple[_Setup, str]:
    """``n`` users' on-behalf-of tokens; an assertion never seen each call (no cached access
    or refresh token: the assertion is exchanged)."""
    blob = obo_cache(n)

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        http = FakeIdp()
        app = lib.ConfidentialClientApplication(
            CLIENT_ID,
            client_credential="secret",
            authority=authority_url(USER_TENANT),
            http_client=http,
            token_cache=fresh_cache(lib, blob),
        )
        app.acquire_token_on_behalf_of(assertion_of(0), [OBO_SCOPE])  # discovery
        return (
            lambda i: app.acquire_token_on_behalf_of(f"new-assertion-{r}-{i:08d}", [OBO_SCOPE])
        ), http

    return setup, "identity_provider"


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
    blob = serialized_app_token_cache(CLIENT_ID, [(tenant_id(0), cc_scope(s)) for s in range(10)])
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
            app = aio.ConfidentialClientApplication(
                CLIENT_ID,
                client_credential="secret",
                authority=authority_url(tenant_id(0)),
                http_client=client,
                token_cache=fresh_cache(libs["identitylib"], blob),
            )
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
            app = lib.ConfidentialClientApplication(
                CLIENT_ID,
                client_credential="secret",
                authority=authority_url(tenant_id(0)),
                http_client=FakeIdp(),
                token_cache=fresh_cache(lib, blob),
            )
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
    authority = authority_url(tenant_id(78))
    if who == "aio":

        async def run() -> tuple[float, float]:
            fake = AsyncFakeIdp(AIO_SERVER_DELAY_S)
            async with fake.client() as client:
                app = aio.ConfidentialClientApplication(
                    CLIENT_ID, client_credential="secret", authority=authority, http_client=client
                )
                check(await app.acquire_token_for_client(["api://bench-aio-warm/.default"]))
                before = fake.posts
                wall = await task_stampede(
                    lambda: app.acquire_token_for_client([scope]), AIO_TASKS, loose
                )
                return float(fake.posts - before), wall

        return asyncio.run(run())
    lib = libs["msal" if who == "msal" else "identitylib"]
    http = FakeIdp(delay_s=AIO_SERVER_DELAY_S)
    app = lib.ConfidentialClientApplication(
        CLIENT_ID, client_credential="secret", authority=authority, http_client=http
    )
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
    msal_tput, msal_lat = med(hits, "msal", "tput"), med(hits, "msal", "median")
    for who, case in (
        ("aio", f"identitylib.aio, {tasks} (msal: {threads})"),
        ("threads", f"blocking API, {threads} (msal: {threads})"),
    ):
        out.rows.append(
            Row(
                "16 asyncio hits throughput", case, "", "calls/s", msal_tput, med(hits, who, "tput")
            )
        )
        out.rows.append(
            Row(
                "16 asyncio hits, per-call median",
                case,
                "",
                "us",
                msal_lat,
                med(hits, who, "median"),
            )
        )
    aio_vs_threads = med(hits, "aio", "tput") / med(hits, "threads", "tput")
    bound = med(hits, "loop", "tput") / med(hits, "gil", "tput")
    out.rows.append(
        Row(
            "16 asyncio hits throughput",
            f"aio {tasks} / blocking {threads}",
            "",
            "x",
            nan,
            aio_vs_threads,
            target="(info)",
        )
    )
    out.notes.append(
        f"16 hits: {tasks} yielding after every call reach {med(hits, 'loop', 'tput'):,.0f} "
        f"calls/s with a no-op coroutine, {threads} {med(hits, 'gil', 'tput'):,.0f} with a "
        f"no-op function ({bound:.2f}x): the harnesses' own bounds on this machine"
    )
    for who, case in (
        ("aio", f"identitylib.aio, {tasks} (msal: {pool} threads)"),
        ("threads", f"blocking API, {AIO_TASKS:,} calls over {pool} threads (msal: the same)"),
    ):
        out.rows.append(
            Row(
                "16 asyncio cold stampede",
                f"token requests: {case}",
                "",
                "requests",
                med(cold, "msal", "requests"),
                med(cold, who, "requests"),
                target="ours == 1",
                met=all(n == 1 for n in cold[who]["requests"]),
            )
        )
        out.rows.append(
            Row(
                "16 asyncio cold stampede",
                f"wall time: {case}",
                "",
                "ms",
                med(cold, "msal", "wall"),
                med(cold, who, "wall"),
                target="(info)",
            )
        )
    for what, label in (("requests", "token requests"), ("wall", "wall time")):
        out.rows.append(
            Row(
                "16 asyncio cold stampede",
                f"{label}: aio {tasks} / blocking {pool} threads",
                "",
                "x",
                nan,
                med(cold, "aio", what) / med(cold, "threads", what),
                target="(info)",
            )
        )


WORKLOADS: dict[str, Callable[[dict[str, ModuleType], Budget, Collected], None]] = {
    "1": w1_client_credentials,
    "2": w2_silent_hits,
    "3": w3_silent_refresh,
    "4": w4_obo,
    "5": w5_get_accounts,
    "6": w6_serialization,
    "7": w7_threads,
    "8": w8_cold_start,
    "9": w9_import_memory,
    "10": w10_client_assertions,
    "11": w11_api_guard,
    "12": w12_rotating_hits,
    "13": w13_first_token,
    "14": w14_realistic_entries,
    "15": w15_library_time,
    "16": w16_asyncio,
}


def fmt(value: float, unit: str) -> str:
    if value != value:  # NaN: no such number (a ratio row's msal column)
        return "-"
    if unit == "us":
        return format_us(value)
    if unit in ("requests", "bytes"):
        return f"{value:,.0f}"
    if unit == "calls/s":
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def table(rows: Sequence[Row]) -> str:
    headers = [
        "workload",
        "case",
        "N",
        "unit",
        "msal",
        "identitylib",
        "ratio",
        "msal p99",
        "ours p99",
        "req/call msal/ours",
        "target",
        "met",
    ]
    lines = []
    for r in rows:
        lines.append(
            [
                r.workload,
                r.case,
                r.n,
                r.unit,
                fmt(r.msal, r.unit),
                fmt(r.ours, r.unit),
                format_ratio(r.ratio) if r.unit != "x" else "",
                fmt(r.msal_p99, r.unit) if r.unit == "us" else "",
                fmt(r.ours_p99, r.unit) if r.unit == "us" else "",
                r.requests,
                r.target,
                "" if r.met is None else ("met" if r.met else "NOT MET"),
            ]
        )
    return print_table(headers, lines)


def markdown(rows: Sequence[Row]) -> str:
    out = [
        "| workload | case | N | unit | msal | identitylib | ratio | target | met |",
        "|---|---|--:|---|--:|--:|--:|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.workload} | {r.case} | {r.n} | {r.unit} | {fmt(r.msal, r.unit)} | "
            f"{fmt(r.ours, r.unit)} | {format_ratio(r.ratio) if r.unit != 'x' else ''} | "
            f"{r.target} | {'' if r.met is None else ('met' if r.met else '**not met**')} |"
        )
    return "\n".join(out)


def plot(rows: Sequence[Row], path: Path) -> Optional[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series: dict[str, list[Row]] = {}
    for r in rows:  # one point per size (the first layout measured at that size)
        if r.series and r.size and all(p.size != r.size for p in series.get(r.series, [])):
            series.setdefault(r.series, []).append(r)
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(10, 5.5))
    colors = dict(zip(series, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for name, points in series.items():
        points = sorted(points, key=lambda r: r.size or 0)
        xs = [p.size or 0 for p in points]
        ax.plot(
            xs,
            [p.msal for p in points],
            "--o",
            color=colors[name],
            markersize=4,
            label=f"msal: {name}",
        )
        ax.plot(
            xs,
            [p.ours for p in points],
            "-s",
            color=colors[name],
            markersize=4,
            label=f"identitylib: {name}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cache size (tokens or accounts, log)")
    ax.set_ylabel("median latency per call (us, log)")
    ax.set_title("identitylib (solid) vs msal (dashed): latency against cache size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, fewer calls (smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 3)")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(WORKLOADS, key=int), help="workloads to run"
    )
    parser.add_argument(
        "--realistic", type=int, help="access tokens in workload 14 (default 100,000)"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    parser.add_argument("--no-save", action="store_true", help="write neither JSON nor plot")
    parser.add_argument(
        "--replot", action="store_true", help="measure nothing: table and plot from --json"
    )
    args = parser.parse_args(argv)
    if args.replot:
        saved = json.loads(args.json.read_text(encoding="utf-8"))
        fields = set(Row.__dataclass_fields__)
        rows = [Row(**{k: v for k, v in r.items() if k in fields}) for r in saved["rows"]]
        table(rows)
        written = plot(rows, args.plot)
        print(f"wrote {written}" if written else "plot skipped (matplotlib not installed)")
        return 0
    budget = QUICK if args.quick else FULL
    if args.rounds:
        budget = Budget(**{**asdict(budget), "rounds": args.rounds})
    if args.realistic:
        budget = Budget(**{**asdict(budget), "realistic": args.realistic})
    libs = load_libraries()
    info = machine_info()
    log(
        f"bench/run.py: msal {info['versions']['msal']}, identitylib "
        f"{info['versions']['identitylib']}, Python {info['python']}, {info['cpu_count']} CPUs, "
        f"{budget.rounds} rounds"
    )
    collected = Collected()
    started = time.perf_counter()
    for key in args.only or sorted(WORKLOADS, key=int):
        WORKLOADS[key](libs, budget, collected)
    elapsed = time.perf_counter() - started
    print()
    text = table(collected.rows)
    judged = [r for r in collected.rows if r.met is not None]
    failed = [r for r in judged if not r.met]
    print(f"\ntargets met: {len(judged) - len(failed)} of {len(judged)}; total {elapsed:.0f} s")
    for note in collected.notes:
        print("  note: " + note)
    if args.no_save:
        return 0
    write_json(
        args.json,
        {
            "benchmark": "run",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": info,
            "budget": asdict(budget),
            "elapsed_s": round(elapsed, 1),
            "table": text,
            "markdown": markdown(collected.rows),
            "notes": collected.notes,
            "rows": [{**asdict(r), "ratio": r.ratio} for r in collected.rows],
        },
    )
    print(f"wrote {args.json}")
    written = plot(collected.rows, args.plot)
    print(f"wrote {written}" if written else "plot skipped (matplotlib not installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
