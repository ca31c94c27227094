"""The asyncio transport's throttle: the sync transport's rules (``_transport/_throttle.py``),
the same ``Throttle`` object, an http_cache touched off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any, Optional

import httpx
import pytest
import requests
import responses

from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._transport._async import AsyncTransport
from identitylib._transport._sync import SyncTransport
from identitylib._transport._throttle import (
    CONFIDENTIAL_CLIENT_SECONDS,
    DEVICE_CODE_GRANT,
    PREFIX,
    PUBLIC_CLIENT_SECONDS,
    NoThrottle,
    Throttle,
)
from identitylib.emulator import DEMO_CLI_ID, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator

from ._support import APP_SCOPES, run, token_posts

TOKEN_URL = "https://login.example.test/tenant/oauth2/v2.0/token"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Server:
    """An ``httpx.MockTransport`` handler answering every request with one reply."""

    def __init__(self, status: int, body: Any, headers: Optional[dict[str, str]] = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body, headers=self.headers)


def session() -> requests.Session:
    """A real requests session; the tests' ``http`` (``responses``) answers it."""
    made = requests.Session()
    made.trust_env = False
    return made


def post(**data: str) -> HttpRequest:
    return HttpRequest("POST", TOKEN_URL, data=data)


def refresh(token: str = "rt-revoked", **extra: str) -> HttpRequest:
    return post(client_id="public-app", grant_type="refresh_token", refresh_token=token, **extra)


async def send_all(
    server: Server, requests: list[HttpRequest], throttle: Optional[Throttle] = None
) -> list[HttpResponse]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        transport = AsyncTransport(client, throttle=throttle)
        return [await transport.send(request) for request in requests]


def sends(server: Server, throttle: Throttle, *requests: HttpRequest) -> list[HttpResponse]:
    return run(send_all(server, list(requests), throttle))


# --------------------------------------------------------------------- the rules


def test_429_replayed_within_retry_after_then_sent_again() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    server = Server(429, {"error": "too_many_requests"}, {"Retry-After": "10"})
    request = post(client_id="app", grant_type="client_credentials", scope="s")

    first, again = sends(server, throttle, request, request)
    assert len(server.requests) == 1  # the second answer came from memory
    assert first.status_code == again.status_code == 429
    assert json.loads(again.text) == {"error": "too_many_requests"}
    assert again.headers["retry-after"] == "10"

    # Another request (other fields) is not affected.
    sends(server, throttle, post(client_id="app", grant_type="client_credentials", scope="t"))
    assert len(server.requests) == 2

    clock.now += 9.9
    sends(server, throttle, request)
    assert len(server.requests) == 2  # still within Retry-After
    clock.now += 0.2
    [after] = sends(server, throttle, request)
    assert after.status_code == 429
    assert len(server.requests) == 3  # the window ended: sent again


def test_429_without_retry_after_is_replayed_for_five_seconds() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    server = Server(429, {"error": "too_many_requests"})
    sends(server, throttle, post(grant_type="x"), post(grant_type="x"))
    assert len(server.requests) == 1
    clock.now += 5.01
    sends(server, throttle, post(grant_type="x"))
    assert len(server.requests) == 2


def test_invalid_grant_to_a_public_client_is_replayed_for_a_minute() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    server = Server(400, {"error": "invalid_grant", "error_description": "AADSTS70000"})

    answers = sends(server, throttle, *[refresh()] * 20)
    assert len(server.requests) == 1
    assert all(json.loads(a.text)["error"] == "invalid_grant" for a in answers)
    sends(server, throttle, refresh("another-rt"))  # a different request goes out
    assert len(server.requests) == 2

    clock.now += PUBLIC_CLIENT_SECONDS - 1
    sends(server, throttle, refresh())
    assert len(server.requests) == 2
    clock.now += 1.01
    sends(server, throttle, refresh())
    assert len(server.requests) == 3


def test_invalid_grant_to_a_confidential_client_is_replayed_briefly() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    server = Server(400, {"error": "invalid_client"})
    request = refresh(client_secret="s3cret")
    sends(server, throttle, request, request)
    assert len(server.requests) == 1
    clock.now += CONFIDENTIAL_CLIENT_SECONDS + 0.01
    sends(server, throttle, request)
    assert len(server.requests) == 2


def test_device_code_polling_is_never_replayed() -> None:
    throttle = Throttle(clock=Clock())
    server = Server(400, {"error": "authorization_pending"})
    poll = post(client_id="public-app", grant_type=DEVICE_CODE_GRANT, device_code="dc")
    answers = sends(server, throttle, poll, poll, poll)
    assert len(server.requests) == 3
    assert all(json.loads(a.text)["error"] == "authorization_pending" for a in answers)


@pytest.mark.parametrize("error", ["temporarily_unavailable", "server_error"])
def test_a_400_saying_try_again_is_never_replayed(error: str) -> None:
    server = Server(400, {"error": error})
    sends(server, Throttle(clock=Clock()), refresh(), refresh(), refresh())
    assert len(server.requests) == 3


def test_400_with_retry_after_is_not_replayed() -> None:
    server = Server(400, {"error": "invalid_grant"}, {"Retry-After": "30"})
    sends(server, Throttle(clock=Clock()), refresh(), refresh())
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_never_replayed(status: int) -> None:
    server = Server(status, {"error": "busy"}, {"Retry-After": "60"})
    sends(server, Throttle(clock=Clock()), refresh(), refresh(), refresh())
    assert len(server.requests) == 3


def test_successes_and_gets_are_never_replayed() -> None:
    server = Server(200, {"access_token": "at", "expires_in": 3600})
    sends(server, Throttle(clock=Clock()), refresh(), refresh())
    assert len(server.requests) == 2
    failing = Server(429, {"error": "too_many_requests"})
    discovery = HttpRequest("GET", "https://login.example.test/tenant/v2.0/.well-known/x")
    sends(failing, Throttle(clock=Clock()), discovery, discovery)
    assert len(failing.requests) == 2


def test_default_is_a_private_throttle_per_transport() -> None:
    server = Server(429, {"error": "too_many_requests"}, {"Retry-After": "60"})

    async def main() -> tuple[AsyncTransport, AsyncTransport]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            first, second = AsyncTransport(client), AsyncTransport(client)
            for transport in (first, first, second, second):
                await transport.send(refresh())
            return first, second

    first, second = run(main())
    assert isinstance(first.throttle, Throttle)
    assert first.throttle is not second.throttle
    assert not first.throttle.uses_http_cache
    assert len(server.requests) == 2  # one per transport


def test_no_throttle_sends_everything() -> None:
    server = Server(429, {"error": "too_many_requests"}, {"Retry-After": "60"})
    sends(server, NoThrottle(), refresh(), refresh())
    assert len(server.requests) == 2


# ----------------------------------------------------------- identitylib's own client


def test_own_client_records_the_final_answer_after_its_retry(emu: Emulator) -> None:
    emu.faults.inject(429, count=2, path_contains="/token", retry_after=1)
    request = HttpRequest(
        "POST",
        emu.authority() + "/oauth2/v2.0/token",
        data={
            "client_id": DEMO_DAEMON_ID,
            "client_secret": DEMO_DAEMON_SECRET,
            "grant_type": "client_credentials",
            "scope": APP_SCOPES[0],
        },
    )

    async def main() -> list[HttpResponse]:
        transport = AsyncTransport(throttle=Throttle(clock=Clock()))
        try:
            return [await transport.send(request) for _ in range(3)]
        finally:
            await transport.aclose()

    answers = run(main())
    assert [a.status_code for a in answers] == [429, 429, 429]
    assert token_posts(emu) == 2  # one retry, then answered locally


def test_own_client_replays_invalid_grant_and_sends_5xx_again(emu: Emulator) -> None:
    url = emu.authority() + "/oauth2/v2.0/token"
    bad_refresh = HttpRequest(
        "POST",
        url,
        data={"client_id": DEMO_CLI_ID, "grant_type": "refresh_token",
              "refresh_token": "rt-unknown", "scope": "openid"},
    )  # fmt: skip
    daemon = HttpRequest(
        "POST",
        url,
        data={"client_id": DEMO_DAEMON_ID, "client_secret": DEMO_DAEMON_SECRET,
              "grant_type": "client_credentials", "scope": APP_SCOPES[0]},
    )  # fmt: skip

    async def main() -> list[HttpResponse]:
        transport = AsyncTransport()
        try:
            answers = [await transport.send(bad_refresh) for _ in range(3)]
            emu.faults.inject(503, count=2, path_contains="/token")
            answers.append(await transport.send(daemon))  # 503, retried once: 503
            answers.append(await transport.send(daemon))  # not replayed: a token
            return answers
        finally:
            await transport.aclose()

    answers = run(main())
    assert [json.loads(a.text).get("error") for a in answers[:3]] == ["invalid_grant"] * 3
    assert answers[3].status_code == 503
    assert answers[4].status_code == 200
    assert token_posts(emu) == 1 + 2 + 1


# ------------------------------------------------------------ shared with sync calls


def test_a_sync_record_answers_the_async_transport(http: responses.RequestsMock) -> None:
    http.post(
        TOKEN_URL, status=429, json={"error": "too_many_requests"}, headers={"Retry-After": "60"}
    )
    sync = SyncTransport(session())
    assert sync.send(refresh()).status_code == 429
    assert len(http.calls) == 1

    server = Server(200, {"access_token": "never-sent"})
    [replayed] = sends(server, sync.throttle, refresh())
    assert replayed.status_code == 429
    assert server.requests == []


def test_an_async_record_answers_the_sync_transport(http: responses.RequestsMock) -> None:
    http_cache: dict[Any, Any] = {}
    http.post(TOKEN_URL, json={"access_token": "never-sent"})
    sync = SyncTransport(session(), http_cache=http_cache)
    server = Server(400, {"error": "invalid_grant"})
    sends(server, sync.throttle, refresh())
    assert len(server.requests) == 1
    assert any(str(key).startswith(PREFIX) for key in http_cache)  # the app's http_cache

    replayed = sync.send(refresh())
    assert replayed.status_code == 400
    assert json.loads(replayed.text) == {"error": "invalid_grant"}
    assert len(http.calls) == 0


def test_shared_by_an_application_core_with_a_persisted_http_cache(
    http: responses.RequestsMock,
) -> None:
    """What an aio application does: its sync core's Throttle, used by both transports."""
    http_cache: dict[Any, Any] = {}
    http.post(TOKEN_URL, status=429, json={"error": "slow"}, headers={"Retry-After": "60"})
    core = SyncTransport(session(), http_cache=http_cache)
    server = Server(429, {"error": "slow"}, {"Retry-After": "60"})
    sync_first = core.send(refresh("rt-1"))
    [async_replay, async_first] = sends(server, core.throttle, refresh("rt-1"), refresh("rt-2"))
    sync_replay = core.send(refresh("rt-2"))
    assert sync_first.status_code == async_replay.status_code == 429
    assert async_first.status_code == sync_replay.status_code == 429
    assert len(http.calls) == 1
    assert len(server.requests) == 1
    assert sum(1 for key in http_cache if str(key).startswith(PREFIX)) == 2


# ----------------------------------------------------------------- the event loop


class ThreadNotingCache(MutableMapping[Any, Any]):
    """An http_cache that notes which thread touches it (and is slow, like a shelve)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.data: dict[Any, Any] = {}
        self.threads: set[int] = set()
        self.delay = delay

    def _touch(self) -> None:
        self.threads.add(threading.get_ident())
        if self.delay:
            threading.Event().wait(self.delay)

    def __getitem__(self, key: Any) -> Any:
        self._touch()
        return self.data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._touch()
        self.data[key] = value

    def __delitem__(self, key: Any) -> None:
        self._touch()
        del self.data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_an_http_cache_is_read_and_written_off_the_event_loop() -> None:
    http_cache = ThreadNotingCache(delay=0.2)
    throttle = Throttle(http_cache)
    assert throttle.uses_http_cache
    server = Server(429, {"error": "too_many_requests"}, {"Retry-After": "60"})

    async def main() -> tuple[int, int, list[HttpResponse]]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(ticker())
        answers = await send_all(server, [refresh(), refresh()], throttle)
        beat.cancel()
        return threading.get_ident(), ticks, answers

    loop_thread, ticks, answers = run(main())
    assert [a.status_code for a in answers] == [429, 429]
    assert len(server.requests) == 1
    assert http_cache.threads  # it was used...
    assert loop_thread not in http_cache.threads  # ...never from the event loop's thread
    assert ticks >= 10  # the loop kept running during ~0.6 s of slow cache access
