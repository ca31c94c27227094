"""examples/web/fastapi_app.py starts with one command against its own emulator, and a user
signs in, calls the API and signs out (a scripted user: requests and the emulator's robot)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests._servers import require_module

# The imports below need what require_module checks (as with pytest.importorskip).
# ruff: noqa: E402
require_module("fastapi")
require_module("uvicorn")

from identitylib.emulator import sign_in

from .conftest import ALICE, ALICE_PASSWORD, WAIT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "web" / "fastapi_app.py"
READY = re.compile(r"open (http://localhost:\d+)")


@pytest.fixture
def example() -> Iterator[str]:
    """``python examples/web/fastapi_app.py --emulator --port 0``; yields the app's URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITYLIB_")}
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--emulator", "--port", "0"],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()])
    reader.daemon = True
    reader.start()
    try:
        seen = []
        url = None
        while url is None:
            try:
                line = lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"the example did not start: {''.join(seen)}")
            seen.append(line)
            found = READY.search(line)
            url = found.group(1) if found else None
        yield url
    finally:
        process.terminate()
        process.wait(timeout=WAIT)


def test_the_fastapi_example_signs_in_calls_the_api_and_signs_out(example: str) -> None:
    with requests.Session() as browser:
        browser.trust_env = False
        assert "Not signed in" in browser.get(example, timeout=WAIT).text
        to_provider = browser.get(f"{example}/call-api", allow_redirects=False, timeout=WAIT)
        assert to_provider.status_code == 302
        answer = sign_in(to_provider.headers["Location"], ALICE, ALICE_PASSWORD)
        assert "code" in answer, answer
        posted = browser.post(
            f"{example}/auth/redirect", data=answer, allow_redirects=False, timeout=WAIT
        )
        assert posted.status_code == 303
        back = browser.get(f"{example}{posted.headers['Location']}", timeout=WAIT)
        assert back.url == f"{example}/call-api"
        assert back.json() == {
            "api_status": 200,
            "api_answer": {"preferred_username": ALICE, "scp": ["access_as_user"]},
        }
        home = browser.get(example, timeout=WAIT).text
        assert f"Signed in as {ALICE}" in home
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', home)
        assert csrf is not None
        out = browser.post(
            f"{example}/auth/logout",
            data={"csrf_token": csrf.group(1)},
            allow_redirects=False,
            timeout=WAIT,
        )
        assert out.status_code == 303
        assert urlsplit(out.headers["Location"]).path.endswith("/oauth2/v2.0/logout")
        assert parse_qs(urlsplit(out.headers["Location"]).query)["post_logout_redirect_uri"] == [
            f"{example}/"
        ]
        assert "Not signed in" in browser.get(example, timeout=WAIT).text
