"""examples/web_api_obo.py, in-process against the emulator: validation, OBO, the cache."""

from __future__ import annotations

import base64
import importlib.util
import json
import queue
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

import identitylib
from identitylib.emulator import DEMO_CLI_ID, DEMO_TENANT_ID, Emulator
from identitylib.validation._discovery import clear_failures
from identitylib.validation._jwks_cache import JWKS_CACHE

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "web_api_obo.py"
ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
TIMEOUT = 10.0  #: seconds for every request, start and stop


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("web_api_obo_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def api(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The example serving on a free port (in a thread); yields its base URL."""
    for name in ("CLIENT_ID", "SECRET", "API_URI", "DOWNSTREAM_SCOPE", "CA_BUNDLE", "AUTHORITY"):
        monkeypatch.delenv(f"IDENTITYLIB_{name}", raising=False)
    emu.faults.reset()
    JWKS_CACHE.clear()
    clear_failures()
    example = load_example()
    servers: queue.Queue[Any] = queue.Queue()
    thread = threading.Thread(
        target=example.main,
        args=(["--port", "0", "--authority", emu.authority()],),
        kwargs={"on_ready": servers.put},
        daemon=True,
    )
    thread.start()
    server = servers.get(timeout=TIMEOUT)
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=TIMEOUT)
        assert not thread.is_alive()
        emu.faults.reset()


def user_token(emu: Emulator, scope: str = "api://demo-api/access_as_user") -> str:
    app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emu.authority())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(*ALICE, [scope])
    assert "access_token" in result, result
    return str(result["access_token"])


def get_me(api: str, authorization: str | None = None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return requests.get(f"{api}/me", headers=headers, timeout=TIMEOUT)


def test_me_calls_downstream_on_behalf_of_the_user(api: str, emu: Emulator) -> None:
    token = user_token(emu)
    first = get_me(api, f"Bearer {token}")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["name"] == "Alice Example"
    assert body["preferred_username"] == ALICE[0]
    assert body["tenant_id"] == DEMO_TENANT_ID
    assert body["oid"]
    assert body["downstream"]["from_cache"] is False
    assert body["downstream"]["token_source"] == "identity_provider"
    second = get_me(api, f"Bearer {token}")
    assert second.status_code == 200, second.text
    assert second.json()["downstream"]["from_cache"] is True
    assert token not in first.text


def test_claims_challenge_from_downstream_is_passed_on(api: str, emu: Emulator) -> None:
    token = user_token(emu)
    emu.faults.mfa_required = True
    answer = get_me(api, f"Bearer {token}")
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["WWW-Authenticate"]
    assert 'error="insufficient_claims"' in challenge
    encoded = challenge.split('claims="', 1)[1].split('"', 1)[0]
    assert "access_token" in json.loads(base64.b64decode(encoded))


def test_no_token_is_401_with_a_bare_challenge(api: str) -> None:
    answer = get_me(api)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["error"] == "invalid_request"


def test_bad_token_is_401_invalid_token(api: str, emu: Emulator) -> None:
    header, payload, signature = user_token(emu).split(".")
    answer = get_me(api, f"Bearer {header}.{payload}.{signature[:-4]}AAAA")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    answer = get_me(api, "Bearer not-a-jwt")
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_token_for_another_api_is_401(api: str, emu: Emulator) -> None:
    answer = get_me(api, f"Bearer {user_token(emu, 'https://graph.microsoft.com/User.Read')}")
    assert answer.status_code == 401
    assert "audience" in answer.headers["WWW-Authenticate"]


def test_other_paths_and_methods(api: str) -> None:
    assert requests.get(f"{api}/other", timeout=TIMEOUT).status_code == 404
    assert requests.post(f"{api}/me", timeout=TIMEOUT).status_code == 405


def test_main_prints_its_url(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example()
    done = threading.Event()

    def shut_down(server: Any) -> None:
        server.shutdown()
        done.set()

    def stop(server: Any) -> None:
        threading.Thread(target=shut_down, args=(server,), daemon=True).start()

    assert example.main(["--port", "0", "--authority", emu.authority()], on_ready=stop) == 0
    assert done.wait(TIMEOUT)
    out = capsys.readouterr().out
    assert out.startswith("Serving http://127.0.0.1:")
    assert "/me" in out
