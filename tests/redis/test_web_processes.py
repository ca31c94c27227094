"""Two processes of one web app behind one Redis: a user signs in through the first and is
served by the second (tokens in RedisTokenCache, the pending sign-in in RedisSignInStore)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests

from identitylib.emulator import Emulator, sign_in
from tests._servers import require_module

require_module("flask")

ROOT = Path(__file__).resolve().parents[2]
ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
START_TIMEOUT = 30


@contextmanager
def web_process(redis_url: str, authority: str) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.redis._web_worker", redis_url, authority],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            _, err = process.communicate(timeout=START_TIMEOUT)
            raise AssertionError(f"the web process did not start: {line!r} {err[-2000:]}")
        yield f"http://localhost:{int(line.split()[1])}"
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


def test_a_user_signed_in_through_one_process_is_served_by_the_other(
    redis_url: str, emulator: Emulator
) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(web_process(redis_url, emulator.authority()))
        second = stack.enter_context(web_process(redis_url, emulator.authority()))
        browser = stack.enter_context(requests.Session())
        browser.trust_env = False
        started = browser.get(f"{first}/orders", allow_redirects=False, timeout=10)
        assert started.status_code == 302
        answer: dict[str, Any] = sign_in(started.headers["Location"], ALICE, ALICE_PASSWORD)
        # The provider's form_post reaches the *second* process (a load balancer's choice):
        # the pending sign-in the first one made is in Redis.
        kept = browser.post(f"{second}/auth/redirect", data=answer, allow_redirects=False,
                            timeout=10)  # fmt: skip
        assert kept.status_code == 303
        done = browser.get(f"{second}{kept.headers['Location']}", allow_redirects=False,
                           timeout=10)  # fmt: skip
        assert done.status_code == 303, done.text
        assert done.headers["Location"] == "/orders"
        posts = token_posts(emulator)
        for base in (first, second):
            served = browser.get(f"{base}/orders", allow_redirects=False, timeout=10)
            assert served.status_code == 200, served.text
            assert served.json() == {"user": ALICE, "token_source": "cache"}
        assert token_posts(emulator) == posts  # both served from Redis, no new request
