"""Process-wide discovery state is shared only between apps with the same trust key.

An app built with a fake or permissive ``http_client``, ``verify=False`` or a proxy must not
fill in the discovery documents that apps built the default way then trust; apps built the
default way (or sharing one ``http_client`` object) still share one discovery.
"""

from __future__ import annotations

import gc
import json
import weakref
from typing import Any

import pytest
import requests
import responses

import identitylib
from identitylib._authority import DEFAULT_TRUST, TrustKey
from identitylib._authority._registry import MAX_ENTRIES, REGISTRY
from identitylib._authority._trust import identity_of
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator

from .conftest import CLIENT_ID, oidc_config

APP_SCOPES = [f"{DEMO_API_URI}/.default"]


def discovery_path(emulator: Emulator) -> str:
    return emulator.authority().split(emulator.base_url, 1)[1] + (
        "/v2.0/.well-known/openid-configuration"
    )


def discoveries(emulator: Emulator) -> int:
    """Discovery requests the emulator served since its last reset."""
    path = discovery_path(emulator)
    return sum(1 for method, p in emulator.requests if (method, p) == ("GET", path))


def canned_token_endpoint(emulator: Emulator) -> str:
    return f"{emulator.authority()}/oauth2/v2.0/canned-token"


class CannedDiscovery(requests.Session):
    """A fake ``http_client`` (think of a test double or a debugging proxy): it answers
    the emulator's discovery with a canned document naming another token endpoint and
    sends everything else on."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__()
        self.trust_env = False
        self.discovery_url = emulator.authority() + "/v2.0/.well-known/openid-configuration"
        self.document = {
            "issuer": f"{emulator.authority()}/v2.0",
            "token_endpoint": canned_token_endpoint(emulator),
            "authorization_endpoint": f"{emulator.authority()}/oauth2/v2.0/authorize",
        }
        self.canned = 0

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if url == self.discovery_url:
            self.canned += 1
            response = requests.Response()
            response.status_code = 200
            response._content = json.dumps(self.document).encode()
            response.headers["Content-Type"] = "application/json"
            return response
        return super().get(url, **kwargs)


def daemon(emulator: Emulator, **kwargs: Any) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority(), **kwargs
    )


# ---------------------------------------------------------------- applications


def test_a_fake_http_client_does_not_answer_for_a_default_app(emulator: Emulator) -> None:
    fake = CannedDiscovery(emulator)
    poisoned = daemon(emulator, http_client=fake)
    assert poisoned.authority.token_endpoint == canned_token_endpoint(emulator)
    assert fake.canned == 1
    strict = daemon(emulator)
    assert strict.authority.token_endpoint != canned_token_endpoint(emulator)
    assert discoveries(emulator) == 1  # the default app asked the real server itself
    result = strict.acquire_token_for_client(APP_SCOPES)
    assert result.get("token_source") == "identity_provider", result
    # ... and the fake's app keeps its own answer without asking again.
    assert daemon(emulator, http_client=fake).authority.token_endpoint == (
        canned_token_endpoint(emulator)
    )
    assert fake.canned == 1


def test_default_apps_share_one_discovery(emulator: Emulator) -> None:
    for _ in range(3):
        result = daemon(emulator).acquire_token_for_client(APP_SCOPES)
        assert "access_token" in result, result
    assert discoveries(emulator) == 1


def test_apps_sharing_one_http_client_share_one_discovery(emulator: Emulator) -> None:
    session = requests.Session()
    session.trust_env = False
    other = requests.Session()
    other.trust_env = False
    for client in (session, session, other, other):
        result = daemon(emulator, http_client=client).acquire_token_for_client(APP_SCOPES)
        assert "access_token" in result, result
    assert discoveries(emulator) == 2  # one per http_client object, equal or not


def test_other_proxies_do_not_share_discovery(emulator: Emulator) -> None:
    # The proxy is for https only; the emulator speaks plain http, so requests go direct.
    proxied = daemon(emulator, proxies={"https": "http://proxy.invalid:3128"})
    assert "access_token" in proxied.acquire_token_for_client(APP_SCOPES)
    assert "access_token" in daemon(emulator).acquire_token_for_client(APP_SCOPES)
    assert discoveries(emulator) == 2


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_does_not_answer_for_a_strict_app(identitylib_emulator_tls: Emulator) -> None:
    emu = identitylib_emulator_tls
    emu.reset_requests()
    permissive = daemon(emu, verify=False)
    assert "access_token" in permissive.acquire_token_for_client(APP_SCOPES)
    for _ in range(2):  # strict apps: one discovery of their own, shared between them
        strict = daemon(emu, verify=emu.ca_path)
        assert "access_token" in strict.acquire_token_for_client(APP_SCOPES)
    assert discoveries(emu) == 2


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_http_cache_entries_are_kept_per_trust(identitylib_emulator_tls: Emulator) -> None:
    emu = identitylib_emulator_tls
    emu.reset_requests()
    http_cache: dict[Any, Any] = {}
    daemon(emu, verify=False, http_cache=http_cache).acquire_token_for_client(APP_SCOPES)
    REGISTRY.clear()  # a restart: only http_cache remembers
    strict = daemon(emu, verify=emu.ca_path, http_cache=http_cache)
    assert strict.authority.known_metadata is None  # not what verify=False learned
    assert "access_token" in strict.acquire_token_for_client(APP_SCOPES)
    assert discoveries(emu) == 2
    REGISTRY.clear()  # another restart: the strict app's own entry is there now
    again = daemon(emu, verify=emu.ca_path, http_cache=http_cache)
    assert again.authority.known_metadata is not None
    assert "access_token" in again.acquire_token_for_client(APP_SCOPES)
    assert discoveries(emu) == 2


def test_a_custom_http_client_does_not_persist_discovery(emulator: Emulator) -> None:
    http_cache: dict[Any, Any] = {}
    fake = CannedDiscovery(emulator)
    daemon(emulator, http_client=fake, http_cache=http_cache).authority.token_endpoint  # noqa: B018
    assert fake.canned == 1
    assert not [k for k in http_cache if str(k).startswith("identitylib.oidc-configuration")]


def test_an_unvalidated_document_does_not_answer_for_a_validating_app(
    http: responses.RequestsMock,
) -> None:
    authority = "https://login.contoso-cloud.example/contoso.example"
    http.get(
        "https://login.contoso-cloud.example/contoso.example/v2.0/.well-known/openid-configuration",
        json=oidc_config("https://login.contoso-cloud.example", "contoso.example"),
    )
    http.get(
        "https://login.microsoftonline.com/common/discovery/instance",
        json={"error": "invalid_instance", "error_description": "unknown host"},
    )
    unvalidated = identitylib.ConfidentialClientApplication(
        CLIENT_ID, "secret", authority=authority, validate_authority=False
    )
    assert unvalidated.authority.token_endpoint.startswith(authority)
    validating = identitylib.ConfidentialClientApplication(CLIENT_ID, "secret", authority=authority)
    with pytest.raises(ValueError, match="not known to Microsoft"):
        _ = validating.authority.token_endpoint


# ---------------------------------------------------------------- memory


def test_the_registry_does_not_keep_an_http_client_alive(emulator: Emulator) -> None:
    fake = CannedDiscovery(emulator)
    app = daemon(emulator, http_client=fake)
    assert app.authority.token_endpoint == canned_token_endpoint(emulator)
    gone = weakref.ref(fake)
    trust = app.authority.trust
    del app, fake
    gc.collect()
    assert gone() is None
    assert not trust.alive  # its registry entry is dropped first when room is needed


def test_the_registry_stays_bounded_and_drops_dead_clients_first() -> None:
    document = oidc_config()

    class Client:
        pass

    dead = Client()
    dead_trust = TrustKey.of(dead)
    REGISTRY.put(dead_trust, "https://idp.example/dead", document)
    REGISTRY.put(DEFAULT_TRUST, "https://idp.example/default", document)
    del dead
    gc.collect()
    keep = [Client() for _ in range(MAX_ENTRIES + 10)]
    for n, client in enumerate(keep):
        REGISTRY.put(TrustKey.of(client), f"https://idp.example/{n}", document)
        assert len(REGISTRY) <= MAX_ENTRIES
    assert REGISTRY.get(dead_trust, "https://idp.example/dead") is None
    assert REGISTRY.get(TrustKey.of(keep[-1]), f"https://idp.example/{len(keep) - 1}")


def test_a_new_object_at_a_reused_address_is_a_new_identity() -> None:
    class Client:
        pass

    first = Client()
    address, identity = id(first), identity_of(first)
    assert identity_of(first) is identity
    del first
    gc.collect()
    candidates = [Client() for _ in range(1000)]  # bounded: CPython reuses the block at once
    reused = [c for c in candidates if id(c) == address]
    if not reused:
        pytest.skip("the interpreter did not reuse the address")
    assert identity_of(reused[0]) is not identity
    assert not identity.alive


def test_trust_keys() -> None:
    session = requests.Session()
    assert TrustKey.of() == DEFAULT_TRUST == TrustKey.of(None, True, {})
    assert TrustKey.of(session) == TrustKey.of(session)
    assert TrustKey.of(session) != TrustKey.of(requests.Session())  # identity, not equality
    assert TrustKey.of(verify=False) != DEFAULT_TRUST
    assert TrustKey.of(verify="/ca.pem") == TrustKey.of(verify="/ca.pem")
    assert TrustKey.of(proxies={"https": "http://p:1"}) == TrustKey.of(
        proxies={"https": "http://p:1"}
    )
    assert TrustKey.of(proxies={"https": "http://p:1"}) != DEFAULT_TRUST
    # What may persist in http_cache: only keys that mean the same after a restart.
    assert DEFAULT_TRUST.persistent_tag is not None
    assert TrustKey.of(verify=False).persistent_tag not in (None, DEFAULT_TRUST.persistent_tag)
    assert TrustKey.of(session).persistent_tag is None
    # A proxy URL may carry a password: the key holds a digest only.
    secret = "http://user:hunter2@proxy:1"
    assert "hunter2" not in repr(TrustKey.of(proxies={"https": secret}))
