"""How token-cache size affects ``acquire_token_for_client``: msal beside identitylib.

What it measures, for caches of N app tokens (default N = 10, 100, 1,000, 10,000, 100,000):

- ``hit``: ``acquire_token_for_client`` for a scope that is cached for the app's tenant
  (the call every daemon makes before each API call). Zero requests expected.
- ``miss``: the same call for a scope that is not cached, so a token is requested from the
  fake identity provider and written to the cache (a new scope each call, so the cache
  grows by one per call). One request per call expected.
- ``fill``: filling the cache by ``deserialize()`` of the serialized N tokens (one sample
  per round; for context, not the subject).

Both libraries run in one process through the same public API, with the same in-memory
fake ``http_client`` (no network) and an identical cache, filled by deserializing one
pre-built cache in MSAL's unified schema. Two layouts spread the N tokens:
``1 tenant`` (1 tenant x N scopes) and ``N/10 tenants`` (N/10 tenants x 10 scopes).

Within a round the two libraries take turns in blocks of calls (who goes first alternates),
so machine noise hits both alike. Each workload is repeated for several rounds (fresh
cache and app each round); the table
shows the median over rounds of each round's median and p99 per-call latency, in
microseconds, and identitylib/msal (below 1: identitylib is faster). Workloads are
time-boxed; a workload cut short by its budget is listed after the table.

Run (about 1 minute on 2 cores; ``--quick`` stops at N = 10,000 and takes seconds)::

    .venv/bin/python bench/cache_scaling.py [--quick] [--sizes 10 1000] [--rounds 3]

Results go to ``bench/results/cache_scaling.json`` and, when matplotlib is installed, to
``docs/img/cache_scaling.png`` (``--no-save`` writes neither; ``--replot`` measures nothing
and redraws the table and plot from the JSON).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

from _common import (
    CLIENT_ID,
    LIBRARIES,
    FakeHttpClient,
    Samples,
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

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results" / "cache_scaling.json"
DEFAULT_PLOT = ROOT / "docs" / "img" / "cache_scaling.png"
FULL_SIZES = (10, 100, 1_000, 10_000, 100_000)
QUICK_SIZES = (10, 100, 1_000, 10_000)
WORKLOADS = ("hit", "miss", "fill")


@dataclass(frozen=True)
class Budget:
    """Iteration counts and time boxes of one run."""

    rounds: int
    hit_calls: int
    hit_seconds: float
    hit_min_calls: int
    miss_calls: int
    miss_seconds: float
    miss_min_calls: int


FULL = Budget(3, 5000, 1.0, 300, 200, 2.0, 20)
QUICK = Budget(2, 300, 0.2, 50, 40, 0.4, 10)


@dataclass(frozen=True)
class Layout:
    """How N cached tokens are spread over tenants and scopes, and which of them to hit."""

    name: str
    label: str
    scopes_per_tenant: Optional[int]  # None: all N scopes in one tenant

    def tenants(self, n: int) -> int:
        """How many tenants hold the N tokens."""
        return 1 if self.scopes_per_tenant is None else max(1, n // self.scopes_per_tenant)

    def tokens(self, n: int) -> list[tuple[str, str]]:
        """The ``(tenant, scope)`` of every cached token."""
        if self.scopes_per_tenant is None:
            return [(tenant_id(0), resource_scope(j)) for j in range(n)]
        per = self.scopes_per_tenant
        return [
            (tenant_id(t), resource_scope(s)) for t in range(self.tenants(n)) for s in range(per)
        ]

    def app_tenant(self, n: int) -> str:
        """The app's tenant: the middle one, so nothing depends on insertion order."""
        return tenant_id(self.tenants(n) // 2)

    def hit_scopes(self, n: int, count: int = 16) -> list[str]:
        """Cached scopes of the app's tenant, spread over the cache, for hits to cycle over."""
        per = n if self.scopes_per_tenant is None else min(n, self.scopes_per_tenant)
        picks = sorted({k * per // count for k in range(count)})
        return [resource_scope(j) for j in picks]


LAYOUTS = (
    Layout("one_tenant", "1 tenant", None),
    Layout("many_tenants", "N/10 tenants", 10),
)


def resource_scope(j: int) -> str:
    """The ``j``-th cached scope."""
    return f"api://bench-resource-{j}/.default"


def miss_scope(round_no: int, i: int) -> str:
    """A scope no cache holds."""
    return f"api://bench-miss-r{round_no}-{i}/.default"


# ------------------------------------------------------------------------------ running


@dataclass
class RoundResult:
    """One library's numbers for one (layout, N, round)."""

    fill_ns: int
    hit: Samples
    miss: Samples


def expect_source(source: str, what: str) -> Callable[[object], None]:
    """A result check: a token, served from ``source``."""

    def check(result: object) -> None:
        if not (isinstance(result, dict) and "access_token" in result):
            raise RuntimeError(f"{what}: no token: {result!r}")
        if result.get("token_source") != source:
            raise RuntimeError(f"{what}: token_source {result.get('token_source')!r}")

    return check


@dataclass
class Contender:
    """One library's app on its own filled cache and fake identity provider."""

    app: Any
    http: FakeHttpClient
    fill_ns: int


def prepare(
    lib: ModuleType, name: str, layout: Layout, n: int, blob: str, round_no: int
) -> Contender:
    """Fill a fresh cache from ``blob`` (timed), build an app on it, warm it up."""
    gc.collect()
    cache = lib.SerializableTokenCache()
    start = time.perf_counter_ns()
    cache.deserialize(blob)
    fill_ns = time.perf_counter_ns() - start

    http = FakeHttpClient()
    app = lib.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential="secret",
        authority=authority_url(layout.app_tenant(n)),
        http_client=http,
        token_cache=cache,
    )
    what = f"{name} {layout.name} N={n}"
    # Untimed: discovery and anything else built lazily on a first hit or miss.
    expect_source("cache", f"{what} hit")(app.acquire_token_for_client([layout.hit_scopes(n)[0]]))
    warm_miss = app.acquire_token_for_client([miss_scope(round_no, -1)])
    expect_source("identity_provider", f"{what} miss")(warm_miss)
    return Contender(app, http, fill_ns)


def run_round(
    libs: dict[str, ModuleType], layout: Layout, n: int, blob: str, round_no: int, budget: Budget
) -> dict[str, RoundResult]:
    """Both libraries on fresh caches: hits, then misses, the libraries taking turns."""
    order = LIBRARIES if round_no % 2 == 0 else tuple(reversed(LIBRARIES))
    contenders = {name: prepare(libs[name], name, layout, n, blob, round_no) for name in order}
    hit_scopes = [[scope] for scope in layout.hit_scopes(n)]

    def hit_call(app: Any) -> Callable[[int], object]:
        return lambda i: app.acquire_token_for_client(hit_scopes[i % len(hit_scopes)])

    def miss_call(app: Any) -> Callable[[int], object]:
        return lambda i: app.acquire_token_for_client([miss_scope(round_no, i)])

    def timed(
        workload: str,
        make_call: Callable[[Any], Callable[[int], object]],
        source: str,
        calls: int,
        seconds: float,
        minimum: int,
        block: int,
    ) -> dict[str, Samples]:
        before = {name: c.http.requests for name, c in contenders.items()}
        samples = time_interleaved(
            {name: make_call(c.app) for name, c in contenders.items()},
            calls,
            block=block,
            budget_s=seconds,
            min_iterations=minimum,
            checks={
                name: expect_source(source, f"{name} {workload} {layout.name} N={n}")
                for name in contenders
            },
        )
        for name, c in contenders.items():
            samples[name].requests = c.http.requests - before[name]
        return samples

    b = budget
    hits = timed("hit", hit_call, "cache", b.hit_calls, b.hit_seconds, b.hit_min_calls, 100)
    misses = timed(
        "miss", miss_call, "identity_provider", b.miss_calls, b.miss_seconds, b.miss_min_calls, 10
    )
    return {
        name: RoundResult(c.fill_ns, hits[name], misses[name]) for name, c in contenders.items()
    }


def summarize(rounds: Sequence[RoundResult], requested: dict[str, int]) -> dict[str, Any]:
    """Median over rounds of per-round median and p99 (us), calls, requests per call."""
    out: dict[str, Any] = {}
    for workload in ("hit", "miss"):
        samples = [getattr(r, workload) for r in rounds]
        calls = sum(s.calls for s in samples)
        out[workload] = {
            "median_us": ns_to_us(median([median(s.durations_ns) for s in samples])),
            "p99_us": ns_to_us(median([percentile(s.durations_ns, 99) for s in samples])),
            "round_medians_us": [ns_to_us(median(s.durations_ns)) for s in samples],
            "calls_per_round": [s.calls for s in samples],
            "calls_requested": requested[workload],
            "truncated": any(s.truncated for s in samples),
            "requests_per_call": sum(s.requests for s in samples) / calls if calls else None,
        }
    fills = [r.fill_ns for r in rounds]
    out["fill"] = {
        "median_us": ns_to_us(median(fills)),
        "p99_us": None,
        "round_medians_us": [ns_to_us(f) for f in fills],
    }
    return out


def run(sizes: Sequence[int], budget: Budget) -> dict[str, Any]:
    """Every layout, size and round, both libraries, alternating which goes first."""
    libs = load_libraries()
    results: list[dict[str, Any]] = []
    requested = {"hit": budget.hit_calls, "miss": budget.miss_calls}
    for n in sizes:
        for layout in LAYOUTS:
            blob = serialized_app_token_cache(CLIENT_ID, layout.tokens(n))
            per_lib: dict[str, list[RoundResult]] = {name: [] for name in LIBRARIES}
            started = time.perf_counter()
            for round_no in range(budget.rounds):
                for name, result in run_round(libs, layout, n, blob, round_no, budget).items():
                    per_lib[name].append(result)
                gc.collect()
            del blob
            gc.collect()
            print(
                f"  N={n:>7,} {layout.label:<13} done in {time.perf_counter() - started:5.1f} s",
                file=sys.stderr,
                flush=True,
            )
            results.append(
                {
                    "n": n,
                    "layout": layout.name,
                    "layout_label": layout.label,
                    "tenants": layout.tenants(n),
                    "libraries": {name: summarize(per_lib[name], requested) for name in LIBRARIES},
                }
            )
    return {"results": results}


# ------------------------------------------------------------------------------ reporting


def ratio(ours: float, theirs: float) -> float:
    """identitylib / msal."""
    return ours / theirs if theirs else float("nan")


def _opt(value: Optional[float]) -> float:
    return float("nan") if value is None else value


def report(results: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """Print the table and the notes (cut-short workloads, request counts); return both."""
    rows: list[list[str]] = []
    notes: list[str] = []
    for workload in WORKLOADS:
        for layout in LAYOUTS:
            for entry in results:
                if entry["layout"] != layout.name:
                    continue
                m = entry["libraries"]["msal"][workload]
                o = entry["libraries"]["identitylib"][workload]
                reqs = "-"
                if workload != "fill":
                    reqs = f"{m['requests_per_call']:g} / {o['requests_per_call']:g}"
                rows.append(
                    [
                        workload,
                        layout.label,
                        f"{entry['n']:,}",
                        format_us(m["median_us"]),
                        format_us(o["median_us"]),
                        format_ratio(ratio(o["median_us"], m["median_us"])),
                        format_us(_opt(m["p99_us"])),
                        format_us(_opt(o["p99_us"])),
                        reqs,
                    ]
                )
                if workload == "fill":
                    continue
                expected = 0 if workload == "hit" else 1
                for name in LIBRARIES:
                    stats = entry["libraries"][name][workload]
                    if stats["truncated"]:
                        notes.append(
                            f"{name} {workload} {layout.label} N={entry['n']:,}: "
                            f"{min(stats['calls_per_round'])}-{max(stats['calls_per_round'])} "
                            f"of {stats['calls_requested']} calls per round (time budget)"
                        )
                    if stats["requests_per_call"] != expected:
                        notes.append(
                            f"UNEXPECTED: {name} {workload} {layout.label} N={entry['n']:,} "
                            f"made {stats['requests_per_call']:g} requests per call "
                            f"(expected {expected})"
                        )
    headers = [
        "workload",
        "layout",
        "N",
        "msal med us",
        "identitylib med us",
        "ratio",
        "msal p99 us",
        "identitylib p99 us",
        "requests/call (msal / ours)",
    ]
    table = print_table(headers, rows)
    return table, notes


def growth(results: list[dict[str, Any]]) -> list[str]:
    """Median latency at the largest N over that at the smallest, per workload and library."""
    lines: list[str] = []
    for workload in ("hit", "miss"):
        for layout in LAYOUTS:
            entries = sorted(
                (e for e in results if e["layout"] == layout.name), key=lambda e: e["n"]
            )
            if len(entries) < 2:
                continue
            lo, hi = entries[0], entries[-1]
            parts = []
            for name in LIBRARIES:
                first = lo["libraries"][name][workload]["median_us"]
                last = hi["libraries"][name][workload]["median_us"]
                parts.append(f"{name} x{last / first:.2f}")
            lines.append(
                f"{workload} {layout.label}, N {lo['n']:,} -> {hi['n']:,}: " + ", ".join(parts)
            )
    return lines


def plot(results: list[dict[str, Any]], path: Path) -> Optional[str]:
    """Latency against N (log-log), hit and miss, both libraries; None if no matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
    colors = {"msal": "tab:red", "identitylib": "tab:blue"}
    styles = {"one_tenant": "-o", "many_tenants": "--s"}
    for ax, workload in zip(axes, ("hit", "miss")):
        for layout in LAYOUTS:
            entries = sorted(
                (e for e in results if e["layout"] == layout.name), key=lambda e: e["n"]
            )
            xs = [e["n"] for e in entries]
            for name in LIBRARIES:
                ys = [e["libraries"][name][workload]["median_us"] for e in entries]
                ax.plot(
                    xs,
                    ys,
                    styles[layout.name],
                    color=colors[name],
                    label=f"{name}, {layout.label}",
                    markersize=4,
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"acquire_token_for_client, cache {workload}")
        ax.set_xlabel("cached access tokens (N, log)")
        ax.set_ylabel("median latency per call (us, log)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


# ---------------------------------------------------------------------------------- main


def parse_sizes(values: Sequence[str]) -> list[int]:
    """``--sizes 10 1000`` or ``--sizes 10,1000`` (underscores allowed)."""
    sizes = [int(part.replace("_", "")) for v in values for part in v.split(",") if part]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def show(results: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """Print the table, the growth lines and the notes; return the table and notes."""
    print()
    table, notes = report(results)
    print("\nlatency growth from smallest to largest N (median):")
    for line in growth(results):
        print("  " + line)
    if notes:
        print("\nnotes:")
        for note in notes:
            print("  " + note)
    return table, notes


def save_plot(results: list[dict[str, Any]], path: Path) -> None:
    """Write the plot, or say why not."""
    written = plot(results, path)
    if written:
        print(f"wrote {written}")
    else:
        print("matplotlib is not installed: plot skipped (pip install matplotlib)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark, print the table, save JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N up to 10,000, fewer calls")
    parser.add_argument("--sizes", nargs="+", metavar="N", help="cache sizes to measure")
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 3, quick 2)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="PNG plot file")
    parser.add_argument("--no-save", action="store_true", help="write neither JSON nor plot")
    parser.add_argument(
        "--replot", action="store_true", help="measure nothing: table and plot from --json"
    )
    args = parser.parse_args(argv)

    if args.replot:
        results = json.loads(args.json.read_text(encoding="utf-8"))["results"]
        show(results)
        save_plot(results, args.plot)
        return 0

    budget = QUICK if args.quick else FULL
    if args.rounds:
        budget = replace(budget, rounds=args.rounds)
    sizes = (
        parse_sizes(args.sizes) if args.sizes else list(QUICK_SIZES if args.quick else FULL_SIZES)
    )

    info = machine_info()
    print(
        f"cache_scaling: sizes {sizes}, {budget.rounds} rounds, "
        f"msal {info['versions']['msal']}, identitylib {info['versions']['identitylib']}, "
        f"Python {info['python']}, {info['cpu_count']} CPUs",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    data = run(sizes, budget)
    elapsed = time.perf_counter() - started
    table, notes = show(data["results"])
    print(f"\ntotal {elapsed:.0f} s")

    if args.no_save:
        return 0
    payload = {
        "benchmark": "cache_scaling",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "budget": asdict(budget),
        "sizes": sizes,
        "elapsed_s": round(elapsed, 1),
        "table": table,
        "notes": notes,
        **data,
    }
    write_json(args.json, payload)
    print(f"wrote {args.json}")
    save_plot(data["results"], args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
