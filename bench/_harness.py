"""How ``bench/run.py`` measures and records: budgets, table rows, timed cases, apps.

- ``Budget`` (``FULL``, ``QUICK``): how much of each kind of workload to run.
- ``Row`` and ``Collected``: the table's lines and the notes under it.
- ``timed_rounds``: one workload, repeated for several rounds on fresh caches and apps
  (``_common.time_interleaved`` within a round); the median over rounds of each round's
  median and p99, and the requests per call, per library.
- ``Workload``, ``Timed`` and ``run_timed``: a timed workload described as data, what its
  rows share (``Workload``: name, plot series, requests per call, flatness) and one
  ``Timed`` per row (size, setup, ``Pace``, target), run by one function, which adds the
  flatness rows (largest size against smallest) of the workloads that ask for them.
- App and cache builders shared by the workloads (the same for both libraries).
"""

from __future__ import annotations

import gc
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Optional

from _common import (
    CLIENT_ID,
    Samples,
    authority_url,
    median,
    ns_to_us,
    percentile,
    serialized_app_token_cache,
    tenant_id,
    time_interleaved,
)
from _fixtures import USER_TENANT, FakeIdp

#: What a timed workload prepares per library and round: (library name, module, round) ->
#: (the call, taking the call number; the fake server that answers it).
Setup = Callable[[str, ModuleType, int], tuple[Callable[[int], object], Any]]
#: Per library, per statistic ("median", "p99" in us; "rpc": requests per call): a number.
Stats = dict[str, dict[str, float]]


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


#: The full run and the smoke run (``--quick``), fields in the order above.
FULL = Budget(3, 3000, 0.6, 150, 1.5, 10_000, 100_000, 100_000, 7)
QUICK = Budget(1, 300, 0.15, 20, 0.3, 10_000, 100_000, 10_000, 3)


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


def alternating(libs: Mapping[str, ModuleType], r: int) -> list[str]:
    """The libraries' names in the order of round ``r``: as given, reversed every other."""
    return list(libs) if r % 2 == 0 else list(reversed(list(libs)))


# --------------------------------------------------------------------- apps and caches


def cc_scope(j: int) -> str:
    return f"api://bench-resource-{j}/.default"


def app_tokens(tenants: int, per: int) -> str:
    """A serialized cache of ``per`` app tokens (scopes ``cc_scope(0 .. per-1)``) in each of
    ``tenants`` tenants, tenant by tenant."""
    return serialized_app_token_cache(
        CLIENT_ID, [(tenant_id(t), cc_scope(s)) for t in range(tenants) for s in range(per)]
    )


def fresh_cache(lib: ModuleType, blob: str) -> Any:
    cache = lib.SerializableTokenCache()
    cache.deserialize(blob)
    return cache


def confidential_app(
    lib: ModuleType, tenant: str, http: Any, cache: Any = None, credential: Any = "secret"
) -> Any:
    """``lib``'s confidential client of the bench's client id in ``tenant``, over ``http``
    (and ``cache``, when given)."""
    kwargs = {} if cache is None else {"token_cache": cache}
    return lib.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=credential,
        authority=authority_url(tenant),
        http_client=http,
        **kwargs,
    )


def public_app(lib: ModuleType, blob: str) -> tuple[Any, FakeIdp]:
    http = FakeIdp()
    app = lib.PublicClientApplication(
        CLIENT_ID,
        authority=authority_url(USER_TENANT),
        http_client=http,
        token_cache=fresh_cache(lib, blob),
    )
    return app, http


# ------------------------------------------------------------------------------ timing


def check_token(source: Optional[str], what: str) -> Callable[[object], None]:
    def check(result: object) -> None:
        if not (isinstance(result, dict) and "access_token" in result):
            raise RuntimeError(f"{what}: no token: {result!r}"[:500])
        if source and result.get("token_source") != source:
            raise RuntimeError(f"{what}: token_source {result.get('token_source')!r}")

    return check


@dataclass(frozen=True)
class Pace:
    """How a timed workload runs in each round: up to ``calls`` calls per library, which
    stop once they took ``seconds`` and made ``min_calls``, in turns of ``block`` calls;
    every token must come from ``source`` (None: either); ``library_only``: each call's
    time less the time the fake server (a ``FakeIdp``) spent answering it, i.e. the
    library's own time."""

    calls: int
    seconds: float
    block: int
    source: Optional[str]
    min_calls: int = 5
    library_only: bool = False


def hits(b: Budget, source: Optional[str] = "cache") -> Pace:
    """The pace of cache hits."""
    return Pace(b.hit_calls, b.hit_s, 100, source)


def misses(b: Budget) -> Pace:
    """The pace of calls that request a token (one request each)."""
    return Pace(b.miss_calls, b.miss_s, 10, "identity_provider")


def round_stats(samples: Mapping[str, Samples]) -> Stats:
    """Per library, the median and p99 (us) of one round's samples."""
    return {
        name: {
            "median": ns_to_us(median(s.durations_ns)),
            "p99": ns_to_us(percentile(s.durations_ns, 99)),
        }
        for name, s in samples.items()
    }


def over_rounds(rounds: Sequence[Stats]) -> Stats:
    """Per library and statistic, the median over ``rounds``."""
    return {
        name: {k: float(statistics.median(r[name][k] for r in rounds)) for k in stats}
        for name, stats in rounds[0].items()
    }


def interleaved_rounds(
    rounds: int,
    calls: Callable[[], Mapping[str, Callable[[int], object]]],
    pace: Pace,
    checks: Mapping[str, Callable[[object], None]],
) -> Stats:
    """Median over ``rounds`` of each round's median and p99 (us) of the calls ``calls()``
    makes anew each round, timed at ``pace`` (its ``source`` unused: ``checks`` judge)."""
    return over_rounds(
        [
            round_stats(
                time_interleaved(
                    calls(),
                    pace.calls,
                    block=pace.block,
                    budget_s=pace.seconds,
                    min_iterations=pace.min_calls,
                    checks=checks,
                )
            )
            for _ in range(rounds)
        ]
    )


def timed_rounds(
    libs: dict[str, ModuleType], rounds: int, setup: Setup, pace: Pace, what: str
) -> Stats:
    """Median over rounds of per-round median/p99 (us) and requests per call, per library."""
    per_round: list[Stats] = []
    for r in range(rounds):
        prepared = {name: setup(name, libs[name], r) for name in alternating(libs, r)}
        server_ns: dict[str, list[int]] = {name: [] for name in prepared}
        tidy = {name: getattr(call, "tidy", None) for name, (call, _) in prepared.items()}
        if pace.library_only:
            prepared = {
                name: (_less_server(call, http, server_ns[name]), http)
                for name, (call, http) in prepared.items()
            }
        gc.collect()
        before = {name: p[1].requests for name, p in prepared.items()}
        samples = time_interleaved(
            {name: p[0] for name, p in prepared.items()},
            pace.calls,
            block=pace.block,
            budget_s=pace.seconds,
            min_iterations=pace.min_calls,
            checks={
                name: _then(check_token(pace.source, f"{name} {what}"), tidy[name])
                for name in prepared
            },
        )
        if pace.library_only:
            for name, s in samples.items():
                s.durations_ns = [t - x for t, x in zip(s.durations_ns, server_ns[name])]
        stats = round_stats(samples)
        for name, s in samples.items():
            made = prepared[name][1].requests - before[name]
            stats[name]["rpc"] = made / max(1, s.calls)
            stats[name]["calls"] = s.calls
        per_round.append(stats)
        del prepared
    return over_rounds(per_round)


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


# -------------------------------------------------------------------------------- rows


def measured_row(
    workload: str, case: str, n: Optional[int], stats: Stats, target: str, series: str = ""
) -> Row:
    """The row of timed calls: medians and p99s (us), and requests per call when counted."""
    m, o = stats["msal"], stats["identitylib"]
    return Row(
        workload,
        case,
        "" if n is None else f"{n:,}",
        "us",
        m["median"],
        o["median"],
        m["p99"],
        o["p99"],
        requests=f"{m['rpc']:.3g} / {o['rpc']:.3g}" if "rpc" in o else "",
        target=target,
        size=n,
        series=series,
    )


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


@dataclass(frozen=True)
class Workload:
    """What the rows of one timed workload share: its name in the table, its series in the
    plot, the name of its call in a failed check, the requests per call identitylib must
    make (None: not judged) and whether a flatness row follows its rows."""

    name: str
    series: str
    what: str
    requests: Optional[float] = None
    flat: bool = False

    def case(
        self, case: str, n: int, setup: Setup, pace: Pace, target: str, limit: Optional[float]
    ) -> Timed:
        """The row of size ``n``."""
        return Timed(self, case, n, setup, pace, target, limit)


@dataclass(frozen=True)
class Timed:
    """One timed row: ``setup`` prepares each library's call, run at ``pace``; the row is
    met when ours/msal <= ``limit`` (None: not judged) and identitylib made the requests
    per call its workload expects."""

    workload: Workload
    case: str
    n: int
    setup: Setup
    pace: Pace
    target: str
    limit: Optional[float]


def run_timed(
    libs: dict[str, ModuleType], b: Budget, out: Collected, cases: Iterable[Timed]
) -> None:
    """Time each case in turn (``cases`` may prepare each one lazily) and add its row; then
    the flatness row of each workload that has one, in the order first seen."""
    flat: dict[str, list[Row]] = {}
    for case in cases:
        kind = case.workload
        stats = timed_rounds(libs, b.rounds, case.setup, case.pace, kind.what)
        row = measured_row(kind.name, case.case, case.n, stats, case.target, kind.series)
        if case.limit is not None:
            row.met = row.ratio <= case.limit
        ours = stats["identitylib"]["rpc"]
        if kind.requests is not None and ours != kind.requests:
            row.met = False
            out.notes.append(
                f"{kind.name} {case.case} N={case.n:,}: identitylib made {ours:g} req/call"
            )
        out.rows.append(row)
        if kind.flat:
            flat.setdefault(kind.name, []).append(row)
    for workload, rows in flat.items():
        add_flatness(out, workload, sorted(rows, key=lambda r: r.size or 0))
