"""Server-side flows end to end against the emulator over real HTTP: on-behalf-of (cache
hits with no request, renewal with the OBO refresh token, users kept apart), regional
endpoints (explicit, MSAL_FORCE_REGION, detected through the emulator's IMDS, detection
failing fast), the claims-challenge round trip, SSH-certificate caching per key, and msal's
OBO result keys. Every request has a timeout; no test waits on anything unbounded."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import pytest
import requests

import identitylib
from identitylib._authority import _region
from identitylib._flows._state import AppState
from identitylib._protocol._challenge import claims_challenge_header, parse_claims_challenge
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_ID,
    Emulator,
    EmulatorConfig,
)
from identitylib.emulator._challenges import MFA_CLAIMS
from identitylib.emulator._managed_identity import EMULATOR_REGION
from identitylib.emulator._provider import IdentityProvider
from tests._ports import free_port
from tests._servers import require_module

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
BOB = ("bob@contoso.onmicrosoft.com", "bob-password")
API = [f"{DEMO_API_URI}/access_as_user"]
GRAPH = ["https://graph.microsoft.com/User.Read"]
DAEMON_SCOPE = [f"{DEMO_API_URI}/.default"]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
#: Timeout of every request the test's own sessions send.
TIMEOUT = (5.0, 15.0)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig.default()) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    emu.faults.reset()
    emu.reset_requests()
    for name in ("MSAL_FORCE_REGION", "REGION_NAME", "IDENTITYLIB_IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    _region.reset_detected_region()
    yield
    _region.reset_detected_region()


class RecordingSession(requests.Session):
    """A real HTTP client that records what it sends, with a finite timeout.

    Regional hosts such as ``westus2.127.0.0.1`` do not resolve: requests to any
    ``*.127.0.0.1`` host connect to 127.0.0.1 and keep the regional ``Host`` header, so
    the emulator sees exactly what Entra's regional endpoint would.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.sent: list[tuple[str, str, dict[str, str]]] = []  # (method, url, form body)

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Any:
        data = kwargs.get("data")
        self.sent.append((method.upper(), url, dict(data) if isinstance(data, dict) else {}))
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host.endswith(".127.0.0.1"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers["Host"] = parts.netloc
            kwargs["headers"] = headers
            url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(method, url, *args, **kwargs)

    def posts(self) -> list[tuple[str, dict[str, str]]]:
        return [(url, body) for method, url, body in self.sent if method == "POST"]


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def sign_in(
    emu: Emulator, user: tuple[str, str] = ALICE, claims_challenge: str | None = None
) -> dict[str, Any]:
    """The front end: a user token for the middle-tier API (the OBO assertion)."""
    app = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=identitylib.TokenCache()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ROPC on a public client
        result: dict[str, Any] = app.acquire_token_by_username_password(
            *user, API, claims_challenge=claims_challenge
        )
    return result


def assertion_of(emu: Emulator, user: tuple[str, str] = ALICE) -> str:
    result = sign_in(emu, user)
    assert "access_token" in result, result
    assert claims_of(result["access_token"])["aud"] == DEMO_API_ID
    return str(result["access_token"])


def middle_tier(emu: Emulator, **kwargs: Any) -> identitylib.ConfidentialClientApplication:
    kwargs.setdefault("token_cache", identitylib.SerializableTokenCache())
    return identitylib.ConfidentialClientApplication(
        DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority(), **kwargs
    )


def daemon(emu: Emulator, **kwargs: Any) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), **kwargs
    )


# ---------------------------------------------------------------- on-behalf-of


def test_obo_second_call_is_served_from_the_cache(emu: Emulator) -> None:
    assertion = assertion_of(emu)
    api = middle_tier(emu)
    emu.reset_requests()
    first = api.acquire_token_on_behalf_of(assertion, GRAPH)
    assert first["token_source"] == "identity_provider", first
    downstream = claims_of(first["access_token"])
    assert downstream["aud"] in (GRAPH_APP_ID, "https://graph.microsoft.com")
    assert downstream["azp"] == DEMO_API_ID
    assert downstream["oid"] == claims_of(assertion)["oid"]
    assert first["refresh_token"]
    assert token_posts(emu) == 1
    emu.reset_requests()
    second = api.acquire_token_on_behalf_of(assertion, GRAPH)
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert emu.requests == []  # not even discovery


def test_obo_renews_an_expiring_token_with_the_obo_refresh_token(emu: Emulator) -> None:
    assertion = assertion_of(emu)
    emu.faults.access_token_lifetime = 60  # under the 300 s margin: never served again
    session = RecordingSession()
    api = middle_tier(emu, http_client=session)
    first = api.acquire_token_on_behalf_of(assertion, GRAPH)
    assert "access_token" in first, first
    second = api.acquire_token_on_behalf_of(assertion, GRAPH)
    assert second["token_source"] == "identity_provider", second
    assert second["access_token"] != first["access_token"]
    (_, obo), (_, refresh) = session.posts()
    assert (obo["grant_type"], obo["assertion"]) == (JWT_BEARER, assertion)
    assert obo["requested_token_use"] == "on_behalf_of"
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["refresh_token"] == first["refresh_token"]
    assert "assertion" not in refresh
    assert claims_of(second["access_token"])["oid"] == claims_of(assertion)["oid"]


def test_obo_after_expiry_on_a_moving_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real expiry: the emulator and the app share a clock that jumps past the AT's life."""
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    class ClockedEmulator(Emulator):
        def _create_provider(self) -> IdentityProvider:
            return IdentityProvider(self.config, faults=self.faults, clock=clock)

    monkeypatch.setattr(AppState, "now", staticmethod(clock))
    with ClockedEmulator(EmulatorConfig.default()) as emu:
        assertion = assertion_of(emu)
        session = RecordingSession()
        api = middle_tier(emu, http_client=session)
        first = api.acquire_token_on_behalf_of(assertion, GRAPH)
        assert "access_token" in first, first
        offset[0] = 1800.0
        assert api.acquire_token_on_behalf_of(assertion, GRAPH)["token_source"] == "cache"
        offset[0] = float(first["expires_in"]) + 60  # the downstream AT has expired
        renewed = api.acquire_token_on_behalf_of(assertion, GRAPH)
        assert renewed["token_source"] == "identity_provider", renewed
        assert [body["grant_type"] for _, body in session.posts()] == [
            JWT_BEARER,
            "refresh_token",
        ]
        again = api.acquire_token_on_behalf_of(assertion, GRAPH)
        assert again["token_source"] == "cache"
        assert again["access_token"] == renewed["access_token"]


def test_two_users_never_share_tokens(emu: Emulator) -> None:
    alice, bob = assertion_of(emu, ALICE), assertion_of(emu, BOB)
    api = middle_tier(emu)
    for_alice = api.acquire_token_on_behalf_of(alice, GRAPH)
    for_bob = api.acquire_token_on_behalf_of(bob, GRAPH)
    assert for_bob["token_source"] == "identity_provider"  # not Alice's cached token
    alice_oid, bob_oid = claims_of(alice)["oid"], claims_of(bob)["oid"]
    assert alice_oid != bob_oid
    assert claims_of(for_alice["access_token"])["oid"] == alice_oid
    assert claims_of(for_bob["access_token"])["oid"] == bob_oid
    emu.reset_requests()
    for _ in range(3):
        again_alice = api.acquire_token_on_behalf_of(alice, GRAPH)
        again_bob = api.acquire_token_on_behalf_of(bob, GRAPH)
        assert again_alice["access_token"] == for_alice["access_token"]
        assert again_bob["access_token"] == for_bob["access_token"]
    assert emu.requests == []
    # A forged or unknown assertion never gets a cached token either.
    forged = api.acquire_token_on_behalf_of(alice + "x", GRAPH)
    assert forged["error"] == "invalid_grant"


def test_obo_with_partitioned_cache_blobs(emu: Emulator) -> None:
    """The documented web-API pattern: one serialized blob per incoming assertion."""
    store: dict[str, str] = {}

    def load(access: identitylib.CacheAccess) -> None:
        access.cache.deserialize(store.get(access.partition_key or "", ""))  # type: ignore[attr-defined]

    def save(access: identitylib.CacheAccess) -> None:
        if access.has_state_changed:
            store[access.partition_key or ""] = access.cache.serialize()  # type: ignore[attr-defined]

    cache = identitylib.SerializableTokenCache(before_access=load, after_access=save)
    alice, bob = assertion_of(emu, ALICE), assertion_of(emu, BOB)
    api = middle_tier(emu, token_cache=cache)
    api.acquire_token_on_behalf_of(alice, GRAPH)
    api.acquire_token_on_behalf_of(bob, GRAPH)
    assert len(store) == 2
    emu.reset_requests()
    assert api.acquire_token_on_behalf_of(alice, GRAPH)["token_source"] == "cache"
    assert api.acquire_token_on_behalf_of(bob, GRAPH)["token_source"] == "cache"
    assert token_posts(emu) == 0


# ---------------------------------------------------------------- regional endpoints


def _regional_posts(session: RecordingSession, region: str) -> list[str]:
    return [url for url, _ in session.posts() if urlsplit(url).hostname == f"{region}.127.0.0.1"]


def test_explicit_region(emu: Emulator) -> None:
    session = RecordingSession()
    app = daemon(emu, azure_region="westus2", http_client=session)
    result = app.acquire_token_for_client(DAEMON_SCOPE)
    assert "access_token" in result, result
    port = urlsplit(emu.base_url).port
    assert _regional_posts(session, "westus2") == [
        f"http://westus2.127.0.0.1:{port}/{DEMO_TENANT_ID}/oauth2/v2.0/token"
    ]
    gets = [url for method, url, _ in session.sent if method == "GET"]
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in gets)  # discovery: central
    assert not any("/metadata/" in url for url in gets)  # no IMDS probe
    assert ("POST", f"/{DEMO_TENANT_ID}/oauth2/v2.0/token") in emu.requests
    (entry,) = app.token_cache._cache["AccessToken"].values()
    assert entry["environment"] == "127.0.0.1"  # the authority's, not the regional host
    emu.reset_requests()
    assert app.acquire_token_for_client(DAEMON_SCOPE)["token_source"] == "cache"
    assert emu.requests == []


def test_forced_region(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSAL_FORCE_REGION", "eastus")
    session = RecordingSession()
    result = daemon(emu, http_client=session).acquire_token_for_client(DAEMON_SCOPE)
    assert "access_token" in result, result
    assert len(_regional_posts(session, "eastus")) == 1
    opted_out = RecordingSession()
    daemon(emu, azure_region=False, http_client=opted_out).acquire_token_for_client(DAEMON_SCOPE)
    assert [urlsplit(url).hostname for url, _ in opted_out.posts()] == ["127.0.0.1"]


def test_detected_region_through_the_emulators_imds(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITYLIB_IMDS_ENDPOINT", emu.base_url)
    session = RecordingSession()
    app = daemon(emu, azure_region=True, http_client=session)
    assert not any("/metadata/" in path for _, path in emu.requests)  # constructor: no I/O
    result = app.acquire_token_for_client(DAEMON_SCOPE)
    assert "access_token" in result, result
    assert ("GET", "/metadata/instance/compute") in emu.requests
    assert len(_regional_posts(session, EMULATOR_REGION)) == 1
    emu.reset_requests()
    other = daemon(emu, azure_region=True, http_client=session)
    other.acquire_token_for_client([f"{DEMO_API_URI}/.default"])
    assert ("GET", "/metadata/instance/compute") not in emu.requests  # once per process


def test_detection_fails_fast_when_imds_is_unreachable(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed_port = free_port()  # nothing listens there: refused
    monkeypatch.setenv("IDENTITYLIB_IMDS_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    session = RecordingSession()
    app = daemon(emu, azure_region=True, http_client=session)
    result = app.acquire_token_for_client(DAEMON_SCOPE)
    assert "access_token" in result, result
    assert [urlsplit(url).hostname for url, _ in session.posts()] == ["127.0.0.1"]  # central


def test_only_client_credentials_go_regional(emu: Emulator) -> None:
    assertion = assertion_of(emu)
    session = RecordingSession()
    api = middle_tier(emu, azure_region="westus2", http_client=session)
    assert "access_token" in api.acquire_token_on_behalf_of(assertion, GRAPH)
    assert [urlsplit(url).hostname for url, _ in session.posts()] == ["127.0.0.1"]


# ---------------------------------------------------------------- claims challenges


def test_claims_challenge_round_trip(emu: Emulator) -> None:
    assertion = assertion_of(emu)  # password only: amr ["pwd"]
    api = middle_tier(emu)
    emu.faults.mfa_required = True
    refused = api.acquire_token_on_behalf_of(assertion, GRAPH)
    assert refused["error"] == "interaction_required", refused
    assert refused["claims"] == MFA_CLAIMS
    assert api.token_cache._cache.get("AccessToken", {}) == {}

    # The middle tier relays the challenge to its caller as a 401 ...
    header = claims_challenge_header(
        refused["claims"], authorization_uri=f"{emu.authority()}/oauth2/v2.0/authorize"
    )
    # ... which parses it and signs the user in again, satisfying it.
    challenge = parse_claims_challenge(f'Bearer error="invalid_token", {header}')
    assert challenge == MFA_CLAIMS
    stepped_up = sign_in(emu, ALICE, claims_challenge=challenge)
    assert "access_token" in stepped_up, stepped_up
    assert "mfa" in claims_of(stepped_up["access_token"])["amr"]

    result = api.acquire_token_on_behalf_of(stepped_up["access_token"], GRAPH)
    assert result["token_source"] == "identity_provider", result
    assert "mfa" in claims_of(result["access_token"])["amr"]


def test_refresh_needing_mfa_falls_back_to_the_assertion_and_relays_the_claims(
    emu: Emulator,
) -> None:
    assertion = assertion_of(emu)
    emu.faults.access_token_lifetime = 60  # the next call redeems the OBO refresh token
    session = RecordingSession()
    api = middle_tier(emu, http_client=session)
    assert "access_token" in api.acquire_token_on_behalf_of(assertion, GRAPH)
    emu.faults.mfa_required = True
    result = api.acquire_token_on_behalf_of(assertion, GRAPH)
    assert result["error"] == "interaction_required"
    assert result["claims"] == MFA_CLAIMS
    assert [body["grant_type"] for _, body in session.posts()] == [
        JWT_BEARER,
        "refresh_token",
        JWT_BEARER,
    ]


def test_claims_challenge_bypasses_the_cached_obo_token(emu: Emulator) -> None:
    assertion = assertion_of(emu)
    session = RecordingSession()
    api = middle_tier(emu, http_client=session, client_capabilities=["CP1"])
    first = api.acquire_token_on_behalf_of(assertion, GRAPH)
    cae = '{"access_token":{"nbf":{"essential":true,"value":"1702682181"}}}'
    second = api.acquire_token_on_behalf_of(assertion, GRAPH, claims_challenge=cae)
    assert second["token_source"] == "identity_provider"
    assert second["access_token"] != first["access_token"]
    (_, body) = session.posts()[-1]
    assert body["grant_type"] == JWT_BEARER
    assert "xms_cc" in body["claims"]
    assert "nbf" in body["claims"]
    assert claims_of(second["access_token"]).get("xms_cc") == ["cp1"]


# ---------------------------------------------------------------- SSH certificates


def test_ssh_certificates_are_cached_per_key(emu: Emulator) -> None:
    jwk = '{"kty":"RSA","n":"sXch","e":"AQAB","kid":"key1"}'
    session = RecordingSession()
    app = daemon(emu, http_client=session)

    def ssh(key_id: str) -> dict[str, Any]:
        data = {"token_type": "ssh-cert", "key_id": key_id, "req_cnf": jwk}
        return app.acquire_token_for_client(DAEMON_SCOPE, data=data)

    assert ssh("key1")["token_source"] == "identity_provider"
    (_, body) = session.posts()[-1]
    assert (body["token_type"], body["key_id"], body["req_cnf"]) == ("ssh-cert", "key1", jwk)
    emu.reset_requests()
    assert ssh("key1")["token_source"] == "cache"
    assert emu.requests == []
    assert ssh("key2")["token_source"] == "identity_provider"  # not key1's
    # A Bearer request never gets a key-bound token.
    bearer = app.acquire_token_for_client(DAEMON_SCOPE)
    assert bearer["token_source"] == "identity_provider"
    assert "key_id" not in session.posts()[-1][1]
    with pytest.raises(ValueError, match="key_id"):
        app.acquire_token_for_client(DAEMON_SCOPE, data={"token_type": "ssh-cert", "req_cnf": jwk})


# ---------------------------------------------------------------- msal compatibility


@pytest.mark.msal
def test_msal_obo_result_keys_and_request_match() -> None:
    msal = require_module("msal")
    with Emulator(EmulatorConfig.default(), tls=True) as emu:
        theirs_http, ours_http = RecordingSession(), RecordingSession()
        theirs_http.verify = ours_http.verify = emu.ca_path
        theirs_app = msal.ConfidentialClientApplication(
            DEMO_API_ID,
            DEMO_API_SECRET,
            authority=emu.authority(),
            http_client=theirs_http,
            instance_discovery=False,
        )
        ours_app = identitylib.ConfidentialClientApplication(
            DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority(), http_client=ours_http
        )
        front = identitylib.PublicClientApplication(
            DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            user = front.acquire_token_by_username_password(*ALICE, API)
        assertion = user["access_token"]
        theirs = theirs_app.acquire_token_on_behalf_of(assertion, GRAPH)
        ours = ours_app.acquire_token_on_behalf_of(assertion, GRAPH)
        assert "access_token" in theirs, theirs
        assert "access_token" in ours, ours
        assert set(ours) == set(theirs)
        assert ours["token_source"] == theirs["token_source"] == "identity_provider"
        assert set(ours["id_token_claims"]) == set(theirs["id_token_claims"])
        (_, their_body), (_, our_body) = theirs_http.posts()[-1], ours_http.posts()[-1]
        assert set(our_body) == set(their_body)
        assert set(our_body["scope"].split()) == set(their_body["scope"].split())
        for field in ("grant_type", "assertion", "requested_token_use", "client_info"):
            assert str(our_body[field]) == str(their_body[field]), field
