"""Malformed input always gets an OAuth error (never an exception); stores stay bounded."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from identitylib.emulator import _token_endpoint
from identitylib.emulator._config import DEMO_CLI_ID, DEMO_WEB_ID, DEMO_WEB_SECRET
from identitylib.emulator._stores import BoundedStore

from .provider_support import (
    BASE,
    DEVICE_GRANT,
    OBO_GRANT,
    TENANT,
    WEB_REDIRECT,
    FakeClock,
    World,
    assert_error,
    body,
    get_code,
    make_world,
    redeem,
)

FIELDS = [
    "grant_type", "client_id", "client_secret", "scope", "code", "redirect_uri",
    "code_verifier", "refresh_token", "username", "password", "device_code", "code",
    "assertion", "requested_token_use", "client_assertion", "client_assertion_type",
    "claims", "client_info", "resource", "response_type", "response_mode", "state",
    "nonce", "prompt", "txn", "user_code", "action", "code_challenge",
    "code_challenge_method", "authorization_endpoint",
]  # fmt: skip
VALUES = [
    "", " ", "authorization_code", "refresh_token", "client_credentials", "password",
    DEVICE_GRANT, OBO_GRANT, DEMO_CLI_ID, DEMO_WEB_ID, DEMO_WEB_SECRET, "openid",
    "api://demo-api/.default", "User.Read offline_access", "a.b.c", "eyJ.eyJ.sig",
    "{}", "{\"access_token\":[1]}", "null", "[]", "\x00\xff", "%%%", "é" * 300,
    "x" * 5000, "on_behalf_of", "S256", "plain", "none", "form_post", "1", WEB_REDIRECT,
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "https://localhost/common",
]  # fmt: skip
TENANTS = [TENANT, "common", "organizations", "consumers", "nope", "", "../.."]


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def random_form(rng: random.Random) -> dict[str, str]:
    return {rng.choice(FIELDS): rng.choice(VALUES) for _ in range(rng.randint(0, 8))}


def test_fuzzed_token_requests_get_oauth_errors(world: World) -> None:
    rng = random.Random(1234)
    for _ in range(400):
        form = random_form(rng)
        headers = {"authorization": rng.choice(["", "Basic !!", "Basic Og==", "Bearer x"])}
        reply = world.provider.token(BASE, rng.choice(TENANTS), form, headers)
        data = body(reply)
        assert reply.status in (200, 400, 401), (form, data)
        if reply.status != 200:
            assert isinstance(data["error"], str), (form, data)
            assert data["error_codes"], (form, data)
            assert "Traceback" not in data["error_description"]


def test_fuzzed_other_endpoints_never_fail(world: World) -> None:
    rng = random.Random(99)
    p = world.provider
    for _ in range(200):
        form = random_form(rng)
        tenant = rng.choice(TENANTS)
        replies = [
            p.devicecode(BASE, tenant, form, {}),
            p.authorize(BASE, tenant, form),
            p.sign_in(BASE, tenant, form),
            p.device_login_page(BASE, form),
            p.device_login(BASE, form),
            p.instance_discovery(BASE, form),
            p.openid_configuration(BASE, tenant),
            p.jwks(tenant),
            p.user_realm(rng.choice(VALUES), base_url=BASE),
            p.managed_identity_token(form.get("scope"), client_id=form.get("client_id")),
        ]
        for reply in replies:
            assert reply.status < 500, (form, reply)


def test_internal_failure_is_a_500_without_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(_token_endpoint, "token", explode)
    reply = world.provider.token(BASE, TENANT, {}, {"client-request-id": "abc"})
    data = body(reply)
    assert reply.status == 500
    assert data["error"] == "server_error"
    assert data["correlation_id"] == "abc"
    assert "secret internal detail" not in repr(data)


def test_concurrent_redemption_succeeds_once() -> None:
    world = make_world()
    code = get_code(world)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        status = redeem(world, code).status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 15


@dataclass
class Item:
    expires_at: float


def test_store_is_bounded_and_purges_lazily() -> None:
    clock = FakeClock()
    store: BoundedStore[Item] = BoundedStore(clock, retention=10, max_entries=5)
    for i in range(8):
        store.put(str(i), Item(clock.now + 60))
    assert len(store) == 5
    assert store.get("0") is None
    assert store.get("7") is not None
    clock.advance(65)
    assert store.get("7") is not None  # expired but retained
    clock.advance(10)
    assert store.get("7") is None
    assert store.values() == []


def test_error_envelope_for_redirect_mismatch_at_token(world: World) -> None:
    code = get_code(world)
    data = assert_error(redeem(world, code, redirect_uri="http://x"), "invalid_request", 50011)
    assert data["error_uri"] == f"{BASE}/error?code=50011"


def valid_forms(world: World) -> list[dict[str, str]]:
    from .provider_support import ALICE, ALICE_PASSWORD, authorize_params, user_tokens

    tokens = user_tokens(world)
    return [
        {
            "grant_type": "authorization_code",
            "client_id": DEMO_WEB_ID,
            "client_secret": DEMO_WEB_SECRET,
            "code": get_code(world, authorize_params(code_challenge="c" * 43)),
            "redirect_uri": WEB_REDIRECT,
            "code_verifier": "c" * 43,
        },
        {
            "grant_type": "refresh_token",
            "client_id": DEMO_CLI_ID,
            "refresh_token": tokens["refresh_token"],
        },
        {
            "grant_type": "password",
            "client_id": DEMO_CLI_ID,
            "username": ALICE,
            "password": ALICE_PASSWORD,
            "scope": "openid offline_access User.Read",
        },
        {
            "grant_type": OBO_GRANT,
            "client_id": "a1b2c3d4-0003-4000-8000-0000000000a1",
            "client_secret": "demo-api-secret",
            "requested_token_use": "on_behalf_of",
            "assertion": tokens["access_token"],
            "scope": "User.Read openid offline_access",
        },
    ]


def test_mutated_valid_requests_never_raise(world: World, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(7)
    bases = valid_forms(world)
    for _ in range(300):
        form = dict(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            name = rng.choice([*form, rng.choice(FIELDS)])
            if rng.random() < 0.3:
                form.pop(name, None)
            else:
                form[name] = rng.choice(VALUES)
        reply = world.provider.token(BASE, rng.choice(TENANTS), form, {})
        assert reply.status in (200, 400, 401), (form, reply.json)
    assert "identity-provider model failed" not in caplog.text
