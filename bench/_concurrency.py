"""Harnesses of ``bench/run.py``'s workload 16: many asyncio tasks against threads.

- ``task_hits`` / ``thread_hits``: ``tasks`` coroutines (or ``threads`` threads) calling a
  cache-hit acquisition in a loop for ``seconds``: calls per second and each call's
  duration. The tasks yield to the loop (``asyncio.sleep(0)``) after every call, as request
  handlers do between requests; without that, one task would keep the loop to itself.
  ``threads_for``: the threads' harness (started, released at once, stopped; workload 7's
  throughput runs in it too).
- ``task_stampede`` / ``pool_stampede``: ``calls`` identical acquisitions released at once
  on a cold cache, as tasks of one event loop or as jobs of a thread pool of ``threads``
  workers (started, and waiting at a gate, before the clock starts): wall time from the
  release to the last answer, and every result.

Every result is checked (``check``) as it comes back; nothing here knows the libraries.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

Check = Callable[[object], None]


async def task_hits(
    call: Callable[[list[str]], Awaitable[object]],
    tasks: int,
    seconds: float,
    scopes: Sequence[list[str]],
    check: Check,
) -> tuple[float, list[int]]:
    """Calls per second of ``tasks`` concurrent tasks awaiting ``call(scopes[i])`` in turn
    for ``seconds``, and the duration of each call (ns)."""
    go = asyncio.Event()
    stop = False
    durations: list[list[int]] = [[] for _ in range(tasks)]
    clock = time.perf_counter_ns

    async def worker(k: int) -> None:
        own = durations[k]
        await go.wait()
        while not stop:
            for s in scopes:
                start = clock()
                result = await call(s)
                own.append(clock() - start)
                check(result)
                await asyncio.sleep(0)

    pool = [asyncio.create_task(worker(k)) for k in range(tasks)]
    await asyncio.sleep(0)  # every task waits at the gate
    go.set()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    stop = True
    await asyncio.gather(*pool)
    elapsed = time.perf_counter() - started
    flat = [d for own in durations for d in own]
    return len(flat) / elapsed, flat


def thread_hits(
    call: Callable[[list[str]], object],
    threads: int,
    seconds: float,
    scopes: Sequence[list[str]],
    check: Check,
) -> tuple[float, list[int]]:
    """Calls per second of ``threads`` threads calling ``call(scopes[i])`` in turn for
    ``seconds``, and the duration of each call (ns)."""
    durations: list[list[int]] = [[] for _ in range(threads)]
    clock = time.perf_counter_ns

    def work(k: int, stop: threading.Event) -> None:
        own = durations[k]
        while not stop.is_set():
            for s in scopes:
                start = clock()
                result = call(s)
                own.append(clock() - start)
                check(result)

    elapsed = threads_for(threads, seconds, work)
    flat = [d for own in durations for d in own]
    return len(flat) / elapsed, flat


def threads_for(
    threads: int, seconds: float, work: Callable[[int, threading.Event], None]
) -> float:
    """Run ``work(k, stop)`` in ``threads`` threads (k = 0 .. threads-1), all released at
    once after they started, for ``seconds`` (then ``stop`` is set): the wall time (s)
    from the release to the end of the last thread."""
    stop = threading.Event()
    barrier = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        barrier.wait()
        work(k, stop)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    return time.perf_counter() - started


async def task_stampede(call: Callable[[], Awaitable[object]], calls: int, check: Check) -> float:
    """Wall time (ms) of ``calls`` tasks released at once, each awaiting ``call()``."""
    go = asyncio.Event()

    async def one() -> object:
        await go.wait()
        return await call()

    pool = [asyncio.create_task(one()) for _ in range(calls)]
    await asyncio.sleep(0)  # every task waits at the gate
    started = time.perf_counter()
    go.set()
    results = await asyncio.gather(*pool)
    wall = (time.perf_counter() - started) * 1000
    for result in results:
        check(result)
    return wall


def pool_stampede(call: Callable[[], object], calls: int, threads: int, check: Check) -> float:
    """Wall time (ms) of ``calls`` jobs calling ``call()``, queued on a pool of ``threads``
    started threads and released at once (the first ``threads`` run together)."""
    go = threading.Event()
    ready = threading.Barrier(threads + 1)

    def job() -> object:
        go.wait()
        return call()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        warm = [pool.submit(ready.wait) for _ in range(threads)]  # every worker started
        ready.wait()
        wait(warm)
        futures = [pool.submit(job) for _ in range(calls)]
        started = time.perf_counter()
        go.set()
        results: list[Any] = [f.result() for f in futures]
        wall = (time.perf_counter() - started) * 1000
    for result in results:
        check(result)
    return wall
