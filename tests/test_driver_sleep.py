"""Both drivers pause a flow's Wait steps with the sleep they are given, never a global one."""

from __future__ import annotations

import asyncio
from typing import Any

from identitylib._protocol._messages import WAITED, Flow, HttpResponse, Wait
from identitylib._transport._async import run_async
from identitylib._transport._sync import run_sync


def _waiting_flow(log: list[Any]) -> Flow[str]:
    answer = yield Wait(2.5)
    log.append(answer)
    answer = yield Wait(-1.0)  # a negative pause is no pause
    log.append(answer)
    return "done"


class _NoNetwork:
    def send(self, request: Any) -> HttpResponse:
        raise AssertionError(f"unexpected request {request!r}")


def test_run_sync_sleeps_with_the_injected_sleep() -> None:
    slept: list[float] = []
    log: list[Any] = []
    result = run_sync(_waiting_flow(log), _NoNetwork(), sleep=slept.append)  # type: ignore[arg-type]
    assert result == "done"
    assert slept == [2.5, 0.0]
    assert log == [WAITED, WAITED]


def test_run_async_sleeps_with_the_injected_sleep() -> None:
    slept: list[float] = []
    log: list[Any] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    result = asyncio.run(run_async(_waiting_flow(log), _NoNetwork(), sleep=record))
    assert result == "done"
    assert slept == [2.5, 0.0]
    assert log == [WAITED, WAITED]
