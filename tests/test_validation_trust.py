"""identitylib.validation: discovery and signing keys are shared only between validators
(and apps) with the same trust key: the same ``http_client`` object, ``verify``, ``proxies``.

There is no asyncio validator; the discovery registry it shares with the asyncio apps is
covered by tests/aio/test_shared_state.py.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from identitylib._authority import DEFAULT_TRUST, TrustKey
from identitylib.validation import TokenValidationError, _discovery
from identitylib.validation._jwks_cache import MAX_ENTRIES, JwksCache
from identitylib.validation._keys import Jwk, KeySet

from .test_validation_fakes import (
    AUTHORITY,
    ISSUER,
    KEY_B,
    FakeIssuer,
    jwks_uri,
    make_validator,
    public_jwk,
    reset_caches,
)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def issuer(http: responses.RequestsMock) -> FakeIssuer:
    return FakeIssuer(http)


class _Response:
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.text = json.dumps(body)
        self.headers = {"Content-Type": "application/json"}


class ForgingHttp:
    """A fake ``http_client`` serving AUTHORITY's discovery document and a key set that
    publishes KEY_B under the genuine key id "kid-a" (or failing every request)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.requests: list[str] = []

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        self.requests.append(url)
        if self.fail:
            raise ConnectionError("no route to host")
        if url.endswith("/.well-known/openid-configuration"):
            document = {
                "issuer": ISSUER,
                "jwks_uri": jwks_uri(),
                "token_endpoint": f"{AUTHORITY}/oauth2/v2.0/token",
            }
            return _Response(200, document)
        return _Response(200, {"keys": [public_jwk(KEY_B, "kid-a")]})

    def post(self, url: str, **kwargs: Any) -> Any:
        raise AssertionError("a validator never posts")


def rejection(validator: Any, token: str) -> TokenValidationError:
    with pytest.raises(TokenValidationError) as caught:
        validator.validate(token)
    return caught.value


def test_keys_from_a_fake_http_client_do_not_serve_a_default_validator(
    issuer: FakeIssuer,
) -> None:
    forged = issuer.token(key=KEY_B, kid="kid-a")  # signed with a key the issuer never had
    fooled = make_validator(http_client=ForgingHttp())
    assert fooled.validate(forged)["oid"]  # it trusts what its own transport says
    strict = make_validator()
    assert rejection(strict, forged).error == "invalid_token"
    assert strict.validate(issuer.token())["oid"]
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


def test_keys_fetched_with_verify_false_do_not_serve_a_default_validator(
    issuer: FakeIssuer,
) -> None:
    token = issuer.token()
    make_validator(verify=False).validate(token)
    make_validator().validate(token)
    make_validator().validate(token)
    assert (issuer.discovery_requests, issuer.jwks_requests) == (2, 2)


def test_validators_sharing_one_http_client_share_discovery_and_keys(
    issuer: FakeIssuer,
) -> None:
    http = ForgingHttp()
    forged = issuer.token(key=KEY_B, kid="kid-a")
    for _ in range(3):
        assert make_validator(http_client=http).validate(forged)["oid"]
    assert len(http.requests) == 2  # one discovery, one key set
    assert (issuer.discovery_requests, issuer.jwks_requests) == (0, 0)


def test_a_failed_discovery_through_one_transport_does_not_block_another(
    issuer: FakeIssuer,
) -> None:
    failing = make_validator(http_client=ForgingHttp(fail=True))
    assert rejection(failing, issuer.token()).error == "temporarily_unavailable"
    assert make_validator().validate(issuer.token())["oid"]  # at once, no back-off


def key_set(n: str) -> KeySet:
    return KeySet(
        (Jwk(kid="kid-a", kty="RSA", alg=None, issuer=None, members={"n": n, "e": "AQAB"}),)
    )


def test_jwks_cache_keeps_key_sets_per_trust_key() -> None:
    cache = JwksCache(clock=lambda: 1000.0)
    genuine, forged = key_set("genuine"), key_set("forged")
    other = TrustKey.of(verify=False)
    uri = "https://idp.example/keys"
    assert cache.key(uri, "kid-a", lambda: forged, trust=other) is forged.keys[0]
    assert cache.key(uri, "kid-a", lambda: genuine, trust=DEFAULT_TRUST) is genuine.keys[0]
    assert cache.key(uri, "kid-a", lambda: forged, trust=other) is forged.keys[0]
    assert (cache.fetch_count(uri, other), cache.fetch_count(uri)) == (1, 1)


def test_jwks_cache_is_bounded_and_drops_dead_clients_first() -> None:
    cache = JwksCache(clock=lambda: 1000.0)
    keys = key_set("k")

    class Client:
        pass

    def fill(trust: TrustKey, uri: str) -> Jwk:
        return cache.key(uri, "kid-a", lambda: keys, trust=trust)

    dead = Client()
    dead_trust = TrustKey.of(dead)
    fill(dead_trust, "https://idp.example/dead")
    fill(DEFAULT_TRUST, "https://idp.example/default")
    del dead
    gc.collect()
    for n in range(MAX_ENTRIES - 1):
        fill(TrustKey.of(verify=f"/ca-{n}.pem"), f"https://idp.example/{n}")
        assert len(cache) <= MAX_ENTRIES
    assert cache.fetch_count("https://idp.example/dead", dead_trust) == 0  # dropped first
    assert cache.fetch_count("https://idp.example/default") == 1  # still there


def test_discovery_locks_and_failures_stay_bounded(issuer: FakeIssuer) -> None:
    token = issuer.token()
    for _ in range(_discovery.MAX_TRACKED + 5):  # a new http_client each time
        assert rejection(make_validator(http_client=ForgingHttp(fail=True)), token).error == (
            "temporarily_unavailable"
        )
        assert len(_discovery._locks) <= _discovery.MAX_TRACKED
        assert len(_discovery._failures) <= _discovery.MAX_TRACKED
