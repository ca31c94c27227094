"""identitylib.validation: the process-wide JWKS cache (rollover, rate limit, threads)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses

from identitylib._authority import DEFAULT_TRUST
from identitylib.validation import TokenValidationError
from identitylib.validation._jwks_cache import (
    DEFAULT_MAX_AGE,
    DEFAULT_REFETCH_INTERVAL,
    JWKS_CACHE,
    JwksCache,
)
from identitylib.validation._keys import KeySet

from .test_validation_fakes import (
    API_URI,
    KEY_A,
    KEY_B,
    FakeIssuer,
    make_validator,
    reset_caches,
)

#: Seconds any test thread may take.
THREAD_TIMEOUT = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(JWKS_CACHE, "clock", fake)
    return fake


@pytest.fixture
def issuer(http: responses.RequestsMock) -> FakeIssuer:
    return FakeIssuer(http)


def test_key_rollover_needs_one_refetch(issuer: FakeIssuer) -> None:
    validator = make_validator()
    validator.validate(issuer.token())
    issuer.publish({"kid-a": KEY_A, "kid-b": KEY_B})  # the issuer rolls its key over
    for _ in range(3):
        validator.validate(issuer.token(key=KEY_B, kid="kid-b"))
    validator.validate(issuer.token())  # the old key is still published
    assert issuer.jwks_requests == 2


def test_refetches_are_rate_limited(issuer: FakeIssuer, clock: FakeClock) -> None:
    validator = make_validator()
    validator.validate(issuer.token())
    for _ in range(50):
        with pytest.raises(TokenValidationError, match="key"):
            validator.validate(issuer.token(key=KEY_B, kid=uuid.uuid4().hex))
    assert issuer.jwks_requests == 2  # the first fetch, and one refetch
    # a real rollover within the interval waits for it ...
    issuer.publish({"kid-a": KEY_A, "kid-b": KEY_B})
    clock.now += DEFAULT_REFETCH_INTERVAL - 1
    with pytest.raises(TokenValidationError):
        validator.validate(issuer.token(key=KEY_B, kid="kid-b"))
    assert issuer.jwks_requests == 2
    # ... and is followed once the interval has passed
    clock.now += 1
    validator.validate(issuer.token(key=KEY_B, kid="kid-b"))
    assert issuer.jwks_requests == 3


def test_refetch_interval_is_configurable(issuer: FakeIssuer, clock: FakeClock) -> None:
    validator = make_validator(jwks_refetch_interval=10)
    validator.validate(issuer.token())
    for step in range(3):
        with pytest.raises(TokenValidationError):
            validator.validate(issuer.token(key=KEY_B, kid="kid-b"))
        clock.now += 10
        assert issuer.jwks_requests == 2 + step


def test_keys_are_refreshed_after_their_max_age(issuer: FakeIssuer, clock: FakeClock) -> None:
    validator = make_validator()
    validator.validate(issuer.token())
    clock.now += DEFAULT_MAX_AGE - 1
    validator.validate(issuer.token())
    assert issuer.jwks_requests == 1
    clock.now += 1
    validator.validate(issuer.token())
    assert issuer.jwks_requests == 2


def test_a_key_dropped_by_the_issuer_stops_working(issuer: FakeIssuer, clock: FakeClock) -> None:
    validator = make_validator(jwks_max_age=60)
    validator.validate(issuer.token())
    issuer.publish({"kid-b": KEY_B})
    clock.now += 60
    with pytest.raises(TokenValidationError, match="key"):
        validator.validate(issuer.token())
    assert issuer.jwks_requests == 2


def test_stale_keys_are_used_while_the_issuer_is_down(issuer: FakeIssuer, clock: FakeClock) -> None:
    validator = make_validator()
    validator.validate(issuer.token())
    issuer.jwks_status = 503
    clock.now += DEFAULT_MAX_AGE + 1
    validator.validate(issuer.token())  # refresh failed: the cached key still works
    validator.validate(issuer.token())  # within the back-off: no new attempt
    assert issuer.jwks_requests == 3  # the first fetch, then the failed refresh and its retry
    with pytest.raises(TokenValidationError) as caught:  # an unknown key cannot be checked
        validator.validate(issuer.token(key=KEY_B, kid="kid-b"))
    assert caught.value.error == "temporarily_unavailable"
    issuer.jwks_status = 200
    clock.now += 10
    validator.validate(issuer.token())
    assert issuer.jwks_requests == 4


def test_cache_is_shared_by_validators(issuer: FakeIssuer) -> None:
    one = make_validator(required_scopes=["access_as_user"])
    two = make_validator(audience=API_URI, allowed_tenants=[issuer.tenant])
    one.validate(issuer.token())
    two.validate(issuer.token(aud=API_URI))
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)
    assert JWKS_CACHE.fetch_count(issuer.jwks_uri) == 1


def test_concurrent_first_fetch_is_made_once(issuer: FakeIssuer) -> None:
    issuer.jwks_delay = 0.3
    validator = make_validator()
    token = issuer.token()
    start = threading.Barrier(16, timeout=THREAD_TIMEOUT)

    def validate() -> str:
        start.wait()
        return str(validator.validate(token)["oid"])

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(validate) for _ in range(16)]
        results = [f.result(timeout=THREAD_TIMEOUT) for f in futures]
    assert len(results) == 16
    assert issuer.jwks_requests == 1
    assert issuer.discovery_requests == 1


def test_concurrent_rollover_refetches_once(issuer: FakeIssuer) -> None:
    validator = make_validator()
    validator.validate(issuer.token())
    issuer.publish({"kid-a": KEY_A, "kid-b": KEY_B})
    issuer.jwks_delay = 0.3
    new_token = issuer.token(key=KEY_B, kid="kid-b")
    old_token = issuer.token()
    start = threading.Barrier(12, timeout=THREAD_TIMEOUT)

    def validate(token: str) -> str:
        start.wait()
        return str(validator.validate(token)["oid"])

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(validate, new_token if i % 2 else old_token) for i in range(12)]
        results = [f.result(timeout=THREAD_TIMEOUT) for f in futures]
    assert len(results) == 12
    assert issuer.jwks_requests == 2


def test_concurrent_unknown_kids_make_one_request(issuer: FakeIssuer) -> None:
    validator = make_validator()
    validator.validate(issuer.token())
    issuer.jwks_delay = 0.2
    start = threading.Barrier(10, timeout=THREAD_TIMEOUT)

    def validate(kid: str) -> str:
        start.wait()
        try:
            validator.validate(issuer.token(key=KEY_B, kid=kid))
        except TokenValidationError as rejected:
            return rejected.error
        return "accepted"

    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(validate, f"forged-{i}") for i in range(10)]
        results = [f.result(timeout=THREAD_TIMEOUT) for f in futures]
    assert results == ["invalid_token"] * 10
    assert issuer.jwks_requests == 2


def test_jwks_cache_unit() -> None:
    clock = FakeClock()
    cache = JwksCache(clock)
    calls: list[int] = []
    keys = KeySet(())

    def fetch() -> KeySet:
        calls.append(1)
        return keys

    for _ in range(3):
        with pytest.raises(TokenValidationError):
            cache.key("https://idp/keys", "k", fetch, trust=DEFAULT_TRUST, refetch_interval=5)
    assert len(calls) == 2  # the first fetch, one refetch
    clock.now += 5
    with pytest.raises(TokenValidationError):
        cache.key("https://idp/keys", "k", fetch, trust=DEFAULT_TRUST, refetch_interval=5)
    assert len(calls) == 3
    assert cache.fetch_count("https://idp/keys") == 3
    cache.clear()
    assert cache.fetch_count("https://idp/keys") == 0
