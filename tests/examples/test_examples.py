"""Every example in examples/ runs against the emulator with no edits."""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from identitylib.emulator import (
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    Emulator,
    sign_in,
)
from tests._servers import require_module, unavailable

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 120  #: seconds for a whole example run
ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of an example: no identitylib settings, no browser, no SSH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IDENTITYLIB_")
        and k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "SSH_CONNECTION", "SSH_CLIENT")
        and k != "SSH_TTY"
    }
    env.update(extra)
    return env


def run_example(name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_clean_env(**env),
        cwd=str(EXAMPLES.parent),
        check=False,
    )


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name[:-3]}", EXAMPLES / name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_daemon_client_credentials(emulator: Emulator) -> None:
    done = run_example(
        "daemon_client_credentials.py",
        IDENTITYLIB_AUTHORITY=emulator.authority(),
        IDENTITYLIB_CLIENT_ID=DEMO_DAEMON_ID,
        IDENTITYLIB_SECRET=DEMO_DAEMON_SECRET,
        IDENTITYLIB_SCOPE=f"{DEMO_API_URI}/.default",
    )
    assert done.returncode == 0, done.stderr
    assert "attempt 2: token from cache" in done.stdout


def test_cli_device_code() -> None:
    done = run_example("cli_device_code.py", "--emulator")
    assert done.returncode == 0, done.stderr
    assert "enter the code" in done.stdout
    assert "second call: token from cache" in done.stdout


def test_desktop_interactive() -> None:
    done = run_example("desktop_interactive.py", "--emulator")
    assert done.returncode == 0, done.stderr
    assert f"signed in as {ALICE[0]}" in done.stdout
    assert "second call: token from cache" in done.stdout


def test_redis_cache(tmp_path: Path) -> None:
    if importlib.util.find_spec("redis") is None:
        unavailable("the redis Python package (pip install -e '.[redis]')")
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable("redis-server (Debian package)")
    from tests._ports import free_port
    from tests.redis.conftest import RedisServer

    server = RedisServer(executable, free_port(), str(tmp_path))
    server.start()
    try:
        done = run_example("redis_cache.py", "--emulator", IDENTITYLIB_REDIS_URL=server.url)
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "worker 2: token from cache" in done.stdout


# --- the web apps, in process --------------------------------------------------------


@pytest.fixture
def flask_site(emulator: Emulator) -> Iterator[str]:
    """examples/web/flask_app.py serving on a free port; yields http://localhost:<port>."""
    require_module("flask")
    from werkzeug.serving import make_server

    module = load_example("web/flask_app.py")
    app = module.create_app(emulator.authority())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_flask_web_app_signs_in_and_calls_the_api(flask_site: str) -> None:
    import re

    with requests.Session() as browser:
        browser.trust_env = False
        assert "Sign in" in browser.get(flask_site, timeout=10).text
        to_provider = browser.get(f"{flask_site}/call-api", allow_redirects=False, timeout=10)
        assert to_provider.status_code == 302
        answer = sign_in(to_provider.headers["Location"], *ALICE)
        assert "code" in answer, answer
        # The provider's form_post, then the same-site GET that completes the sign-in.
        back = browser.post(f"{flask_site}/auth/redirect", data=answer, timeout=20)
        assert back.status_code == 200
        assert back.url == f"{flask_site}/call-api"
        called = back.json()
        assert called["api_status"] == 200
        assert called["api_answer"]["preferred_username"] == ALICE[0]
        home = browser.get(flask_site, timeout=10).text
        assert f"Signed in as {ALICE[0]}" in home
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', home)
        assert csrf is not None
        out = browser.post(f"{flask_site}/auth/logout", data={"csrf_token": csrf.group(1)},
                           allow_redirects=False, timeout=10)  # fmt: skip
        assert out.status_code == 303
        after = browser.get(f"{flask_site}/call-api", allow_redirects=False, timeout=10)
        assert after.status_code == 302  # signed out: back to the sign-in


EXITED = "(exited)\n"


@pytest.fixture
def django_site() -> Iterator[str]:
    """examples/web/django_app/run.py --emulator, in a process of its own (Django's settings
    are per process); yields its http://localhost:<port>."""
    require_module("django")
    process = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "web" / "django_app" / "run.py"),
            "--emulator",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_clean_env(),
        cwd=str(EXAMPLES.parent),
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_forward_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        seen: list[str] = []
        while not (seen and seen[-1].startswith("serving at ")):
            try:
                seen.append(lines.get(timeout=60))
            except queue.Empty:
                pytest.fail(f"the Django example did not start: {''.join(seen)}")
            if seen[-1] == EXITED:
                pytest.fail(f"the Django example exited: {''.join(seen)}")
        yield seen[-1].split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def _forward_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(EXITED)


def test_django_web_app_signs_in_calls_the_api_and_signs_out(django_site: str) -> None:
    with requests.Session() as browser:
        browser.trust_env = False
        assert "Sign in" in browser.get(django_site, timeout=10).text
        to_provider = browser.get(f"{django_site}/call-api", allow_redirects=False, timeout=10)
        assert to_provider.status_code == 302
        answer = sign_in(to_provider.headers["Location"], *ALICE)
        assert "code" in answer, answer
        posted = browser.post(
            f"{django_site}/auth/redirect", data=answer, allow_redirects=False, timeout=10
        )
        assert posted.status_code == 303
        called = browser.get(f"{django_site}{posted.headers['Location']}", timeout=20)
        assert called.url == f"{django_site}/call-api"
        assert called.json() == {
            "api_status": 200,
            "api_answer": {"preferred_username": ALICE[0]},
        }
        home = browser.get(django_site, timeout=10).text
        assert f"Signed in as {ALICE[0]}" in home
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home)
        assert token is not None
        out = browser.post(
            f"{django_site}/auth/logout",
            data={"csrfmiddlewaretoken": token.group(1)},
            allow_redirects=False,
            timeout=10,
        )
        assert out.status_code == 303
        assert "/oauth2/v2.0/logout?" in out.headers["Location"]
        after = browser.get(f"{django_site}/call-api", allow_redirects=False, timeout=10)
        assert after.status_code == 302  # signed out: back to the sign-in


def test_flask_api_refuses_a_missing_token(flask_site: str) -> None:
    answer = requests.get(f"{flask_site}/api/me", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def _user_token(emulator: Emulator) -> str:
    import identitylib

    app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emulator.authority())
    result = app.acquire_token_by_username_password(
        *ALICE, scopes=[f"{DEMO_API_URI}/access_as_user"]
    )
    return str(result["access_token"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fastapi_web_api_validates_and_calls_downstream(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_module("fastapi")
    from fastapi.testclient import TestClient

    downstream: list[str] = []
    module = load_example("fastapi_web_api.py")
    settings = module.Settings(authority=emulator.authority())
    with _downstream_server(downstream) as url:
        settings.downstream_url = url
        client = TestClient(module.create_app(settings))
        assert client.get("/me").status_code == 401
        assert client.get("/me", headers={"Authorization": "Bearer x.y.z"}).status_code == 401
        headers = {"Authorization": f"Bearer {_user_token(emulator)}"}
        first = client.get("/me", headers=headers).json()
        second = client.get("/me", headers=headers).json()
    assert first["preferred_username"] == ALICE[0]
    assert first["downstream"]["token_source"] == "identity_provider"
    assert first["downstream"]["status"] == 200
    assert second["downstream"]["token_source"] == "cache"
    assert len(downstream) == 2
    assert downstream[0] == downstream[1] != ""  # the cached OBO token, sent by the adapter


class _Recorder:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.seen.append(environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer "))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


class _downstream_server:  # a context manager used like a function
    def __init__(self, seen: list[str]) -> None:
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = make_server("127.0.0.1", 0, _Recorder(seen), handler_class=Quiet)

    def __enter__(self) -> str:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}/downstream"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
