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
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Optional

from _common import load_libraries, machine_info, write_json
from _harness import FULL, QUICK, Budget, Collected, Row, log
from _report import markdown, plot, table
from _workloads_calls import (
    w1_client_credentials,
    w2_silent_hits,
    w3_silent_refresh,
    w4_obo,
    w5_get_accounts,
    w12_rotating_hits,
)
from _workloads_concurrency import w7_threads, w16_asyncio
from _workloads_library_time import w15_library_time
from _workloads_processes import w8_cold_start, w9_import_memory, w13_first_token
from _workloads_serialization import w6_serialization, w14_realistic_entries
from _workloads_signing import w10_client_assertions, w11_api_guard

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results" / "run.json"
DEFAULT_PLOT = ROOT / "docs" / "img" / "bench_run.png"


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
