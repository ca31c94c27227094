"""The output of ``bench/run.py``: the plain-text table, the Markdown table (saved in
``bench/results/run.json``) and the plot of latency against cache size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from _common import format_ratio, format_us, print_table
from _harness import Row


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
        for lib, style in (("msal", "--o"), ("identitylib", "-s")):
            ys = [p.msal if lib == "msal" else p.ours for p in points]
            ax.plot(xs, ys, style, color=colors[name], markersize=4, label=f"{lib}: {name}")
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
