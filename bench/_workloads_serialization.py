"""Workloads 6 and 14 of ``bench/run.py``: ``serialize()`` and ``deserialize()`` of large
caches (app tokens; access tokens of realistic size), and the memory a loaded cache holds.

Each repetition loads a new cache of each library (the libraries alternating), timing
each call once with ``perf_counter_ns``; the rows show the median and the largest time.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from types import ModuleType
from typing import Any

from _common import median, ns_to_us
from _fixtures import realistic_app_token_cache
from _harness import Budget, Collected, Row, alternating, app_tokens, log


def timed_load(lib: ModuleType, blob: str) -> tuple[Any, float]:
    """A new ``SerializableTokenCache`` of ``lib`` loaded from ``blob``, and how long (us)
    its ``deserialize()`` took."""
    cache = lib.SerializableTokenCache()
    start = time.perf_counter_ns()
    cache.deserialize(blob)
    return cache, ns_to_us(time.perf_counter_ns() - start)


def timed_dump(cache: Any) -> tuple[str, float]:
    """``cache.serialize()``, and how long (us) it took."""
    start = time.perf_counter_ns()
    text = cache.serialize()
    return text, ns_to_us(time.perf_counter_ns() - start)


def times_row(workload: str, case: str, n: int, times: dict[str, list[float]], limit: float) -> Row:
    """The row of one timed operation: medians and largest times (us), met when ours is at
    most ``limit`` times msal's median."""
    m, o = median(times["msal"]), median(times["identitylib"])
    return Row(
        workload,
        case,
        f"{n:,}",
        "us",
        m,
        o,
        max(times["msal"]),
        max(times["identitylib"]),
        target=f"<= {limit}",
        met=o <= limit * m,
    )


# -------------------------------------------------------------- 6. serialize/deserialize


def w6_serialization(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    for n in (1_000, b.huge):
        log(f"6. serialize/deserialize, {n} tokens")
        blob = app_tokens(n // 10, 10)
        reps = max(1, b.rounds * (5 if n <= 10_000 else 1))
        ser: dict[str, list[float]] = {name: [] for name in libs}
        de: dict[str, list[float]] = {name: [] for name in libs}
        size: dict[str, int] = {}
        for r in range(reps):
            for name in alternating(libs, r):
                gc.collect()
                cache, took = timed_load(libs[name], blob)
                de[name].append(took)
                cache.has_state_changed = True
                text, took = timed_dump(cache)
                ser[name].append(took)
                size[name] = len(text.encode())
                del cache, text
        for label, data, limit in (("serialize", ser, 0.5), ("deserialize", de, 1.0)):
            out.rows.append(times_row(f"6 {label}()", "access tokens", n, data, limit))
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
        for name in alternating(libs, r):
            gc.collect()
            cache, took = timed_load(libs[name], blob)
            times["de"][name].append(took)
            text, took = timed_dump(cache)  # unchanged since loaded
            times["ser"][name].append(took)
            del text
            cache.modify("AccessToken", extra, extra)  # one token written
            text, took = timed_dump(cache)
            times["ser_changed"][name].append(took)
            del cache, text
    for what, case, limit in (
        ("de", "deserialize()", 0.5),
        ("ser", "serialize(), unchanged since loaded", 0.2),
        ("ser_changed", "serialize() after one write", 0.2),
    ):
        out.rows.append(times_row("14 realistic entries", case, n, times[what], limit))
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
