"""identitylib's own flows end to end against the emulator, over real HTTP and HTTPS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

import identitylib
from identitylib._demo import _assertion_signer
from identitylib.emulator import Emulator
from identitylib.emulator._config import (
    DEMO_API_ID,
    DEMO_API_URI,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_DOMAIN,
    DEMO_TENANT_ID,
)

API = [f"{DEMO_API_URI}/.default"]


@pytest.fixture(scope="module", params=["http", "https"])
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(tls=request.param == "https") as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.faults.reset()
    emu.reset_requests()


def make_app(
    emu: Emulator, credential: Any = DEMO_DAEMON_SECRET, **kwargs: Any
) -> identitylib.ConfidentialClientApplication:
    kwargs.setdefault("authority", emu.authority())
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, credential, verify=emu.ca_path or True, **kwargs
    )


def test_secret_then_cache(emu: Emulator) -> None:
    app = make_app(emu)
    first = app.acquire_token_for_client(API)
    assert first["token_source"] == "identity_provider", first
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert claims["aud"] == DEMO_API_ID
    assert claims["tid"] == DEMO_TENANT_ID
    requests_made = len(emu.requests)
    second = app.acquire_token_for_client(API)
    assert second["token_source"] == "cache"
    assert len(emu.requests) == requests_made


def test_discovery_once_per_process(emu: Emulator) -> None:
    make_app(emu).acquire_token_for_client(API)
    make_app(emu).acquire_token_for_client(API)
    discoveries = [p for m, p in emu.requests if p.endswith("openid-configuration")]
    assert len(discoveries) <= 1


@pytest.mark.parametrize("form", ["thumbprint", "sha256", "assertion"])
def test_certificate_and_assertion(emu: Emulator, form: str) -> None:
    cert = emu.demo_certificate
    credential: dict[str, Any]
    if form == "thumbprint":
        credential = {"private_key": cert["private_key"], "thumbprint": cert["thumbprint"]}
    elif form == "sha256":
        credential = {
            "private_key": cert["private_key"],
            "public_certificate": cert["public_certificate"],
        }
    else:  # a callable signing its own assertions, as an app with a key vault would
        credential = {"client_assertion": _assertion_signer(cert)}
    result = make_app(emu, credential).acquire_token_for_client(API)
    assert "access_token" in result, result


def test_domain_tenant_is_discovered(emu: Emulator) -> None:
    app = make_app(emu, authority=emu.authority(DEMO_TENANT_DOMAIN))
    result = app.acquire_token_for_client(API)
    assert "access_token" in result, result
    assert app.authority.tenant == DEMO_TENANT_ID
    assert app.acquire_token_for_client(API)["token_source"] == "cache"


def test_wrong_secret_is_the_servers_error(emu: Emulator) -> None:
    result = make_app(emu, "not-the-secret").acquire_token_for_client(API)
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]
    assert result["correlation_id"]


def test_bad_scope_and_unknown_tenant(emu: Emulator) -> None:
    assert make_app(emu).acquire_token_for_client(["User.Read"])["error"] == "invalid_scope"
    unknown = make_app(emu, authority=emu.authority("nosuch.example")).acquire_token_for_client(API)
    assert unknown["error"] == "invalid_tenant"


def test_injected_server_failures_become_error_results(emu: Emulator) -> None:
    app = make_app(emu)
    app.authority.token_endpoint  # noqa: B018 - discover first
    emu.faults.inject(503, count=1, path_contains="/token", text="<html>down</html>")
    assert "access_token" in app.acquire_token_for_client(API), "one 503 is retried"
    app.remove_tokens_for_client()
    emu.faults.inject(503, count=2, path_contains="/token", text="<html>down</html>")
    failed = app.acquire_token_for_client(API)
    assert failed["error"]
    emu.faults.inject(429, count=2, path_contains="/token", retry_after=1)
    throttled = app.acquire_token_for_client(API)
    assert throttled["error"]
    time.sleep(1.2)  # the 429 is throttled locally for its Retry-After
    assert "access_token" in app.acquire_token_for_client(API)


def test_refresh_in_drives_proactive_refresh(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from identitylib._flows._state import AppState

    emu.faults.refresh_in = 60
    app = make_app(emu, background_refresh=False)
    first = app.acquire_token_for_client(API)
    assert first["refresh_on"] <= time.time() + 61
    later = time.time() + 120
    monkeypatch.setattr(AppState, "now", staticmethod(lambda: later))
    second = app.acquire_token_for_client(API)
    assert second["token_source"] == "identity_provider"
