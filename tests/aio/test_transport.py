"""The asyncio driver and transport: waits, exceptions into the flow, redirects, TLS."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from identitylib import aio
from identitylib._protocol._messages import WAITED, Flow, HttpRequest, HttpResponse, Wait
from identitylib._transport._async import AsyncTransport, run_async
from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator
from tests._blocking import BlockingCalls

from ._support import APP_SCOPES, run


class Recorder:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, HttpResponse)
        return answer


def test_waits_sleep_without_blocking_and_send_waited() -> None:
    assert inspect.signature(run_async).parameters["sleep"].default is asyncio.sleep

    def flow() -> Flow[list[Any]]:
        seen = []
        seen.append((yield Wait(0.2)))
        seen.append((yield HttpRequest("GET", "https://example.test/")))
        return seen

    async def main() -> list[Any]:
        events: list[object] = []
        released = asyncio.Event()

        async def sleep(seconds: float) -> None:  # the flow's wait lasts until released
            events.append(("sleep", seconds))
            await released.wait()
            events.append("woke")

        async def other_task() -> None:  # runs only if the wait leaves the loop free
            events.append("other task ran")
            released.set()

        recorder = Recorder(HttpResponse(200, "ok"))
        helper = asyncio.create_task(other_task())
        result = await run_async(flow(), recorder, sleep=sleep)
        await helper
        assert events == [("sleep", 0.2), "other task ran", "woke"]
        assert [request.url for request in recorder.sent] == ["https://example.test/"]
        return result

    assert run(main()) == [WAITED, HttpResponse(200, "ok")]


def test_transport_errors_are_thrown_into_the_flow() -> None:
    def recovering() -> Flow[str]:
        try:
            yield HttpRequest("POST", "https://example.test/token")
        except ConnectionError as exc:
            return f"recovered from {exc}"
        return "no error"

    def giving_up() -> Flow[str]:
        yield HttpRequest("POST", "https://example.test/token")
        return "unreachable"

    assert run(run_async(recovering(), Recorder(ConnectionError("down")))) == (
        "recovered from down"
    )
    with pytest.raises(ConnectionError):
        run(run_async(giving_up(), Recorder(ConnectionError("down"))))


def test_offloaded_steps_run_in_a_worker_thread() -> None:
    import threading

    def flow() -> Flow[list[str]]:
        names = [threading.current_thread().name]
        yield HttpRequest("GET", "https://example.test/")
        names.append(threading.current_thread().name)
        return names

    async def main() -> list[str]:
        return await run_async(flow(), Recorder(HttpResponse(200, "")), offload=True)

    names = run(main())
    assert threading.main_thread().name not in names


def test_cancellation_closes_the_flow() -> None:
    closed: list[bool] = []

    def flow() -> Flow[None]:
        try:
            yield Wait(10)
        except GeneratorExit:
            closed.append(True)
            raise

    async def main() -> None:
        task = asyncio.create_task(run_async(flow(), Recorder()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert closed == [True]


def test_post_never_follows_a_redirect_get_does() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"Location": "https://example.test/final"})
        return httpx.Response(200, text=f"{request.method} {request.url.path}")

    async def main() -> tuple[HttpResponse, HttpResponse]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            transport = AsyncTransport(client)
            post = await transport.send(
                HttpRequest("POST", "https://example.test/moved", data={"a": "b"})
            )
            get = await transport.send(HttpRequest("GET", "https://example.test/moved"))
            return post, get

    post, get = run(main())
    assert post.status_code == 302
    assert post.headers["location"] == "https://example.test/final"
    assert (get.status_code, get.text) == (200, "GET /final")


def test_form_body_query_and_headers_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"X-Thing": "1"})

    async def main() -> HttpResponse:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await AsyncTransport(client).send(
                HttpRequest(
                    "POST",
                    "https://example.test/token",
                    params={"p": "1"},
                    data={"grant_type": "client_credentials"},
                    headers={"client-request-id": "abc"},
                )
            )

    response = run(main())
    assert response.headers["x-thing"] == "1"
    assert response.is_success
    [request] = seen
    assert request.url.params["p"] == "1"
    assert request.content == b"grant_type=client_credentials"
    assert request.headers["client-request-id"] == "abc"


def test_only_an_async_httpx_client_is_accepted() -> None:
    with pytest.raises(TypeError):
        AsyncTransport(object())


@pytest.fixture(scope="module")
def emu_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(tls=True, state_dir=tmp_path_factory.mktemp("aio-tls")) as emulator:
        yield emulator


def test_verify_is_honoured_over_tls(emu_tls: Emulator) -> None:
    async def main(verify: Any) -> dict[str, Any]:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu_tls.authority(), verify=verify
        ) as app:
            return await app.acquire_token_for_client(APP_SCOPES)

    assert run(main(emu_tls.ca_path))["token_source"] == "identity_provider"
    with pytest.raises(httpx.ConnectError):  # the default trust store does not know the CA
        run(main(True))


def test_a_503_is_retried_once(emu: Emulator) -> None:
    emu.faults.inject(503, count=1, path_contains="/token")

    async def main() -> dict[str, Any]:
        async with aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority()
        ) as app:
            return await app.acquire_token_for_client(APP_SCOPES)

    assert run(main())["token_source"] == "identity_provider"


def test_the_detector_does_catch_a_blocking_hook(emu: Emulator, tmp_path: Path) -> None:
    """The blocking detector of test_concurrency is not vacuous: forced inline, it fires."""
    import identitylib

    stored = tmp_path / "cache.bin"
    stored.write_bytes(b"{}")

    def slow_hook(access: identitylib.CacheAccess) -> None:
        stored.read_bytes()

    cache = identitylib.TokenCache(before_access=slow_hook)

    async def main() -> list[str]:
        app = aio.ConfidentialClientApplication(
            DEMO_DAEMON_ID,
            DEMO_DAEMON_SECRET,
            authority=emu.authority(),
            token_cache=cache,
            cache_hooks_in_thread=False,
        )
        with BlockingCalls() as blocking:
            await app.acquire_token_for_client(APP_SCOPES)
        return blocking.calls

    assert any(call.startswith("open") for call in run(main()))
