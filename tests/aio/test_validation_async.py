"""AccessTokenValidator.validate_async: inline with cached keys, fetches off the event loop.

The asyncio web API guard (``identitylib.web.AsyncProtectedApi``) validates every request
with it, so a cached-key validation must not cost a worker thread, and a key fetch must
never block the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import responses

from identitylib.validation import TokenValidationError
from identitylib.web import AsyncProtectedApi
from tests._blocking import BlockingCalls
from tests.test_validation_fakes import (
    API_ID,
    DROP,
    KEY_A,
    KEY_B,
    OTHER_TENANT,
    FakeIssuer,
    make_validator,
    reset_caches,
)

from ._support import run


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def issuer(http: responses.RequestsMock) -> FakeIssuer:
    return FakeIssuer(http)


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting the work handed to it (asyncio.to_thread)."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.submitted = 0
        self._count_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._count_lock:
            self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_cached_keys_validate_inline_without_a_worker_thread(issuer: FakeIssuer) -> None:
    validator = make_validator(required_scopes=["access_as_user"])
    api = AsyncProtectedApi(validator=validator, audience=API_ID)
    token = issuer.token()
    validator.validate(token)  # metadata and keys now cached for the process

    async def main() -> tuple[int, list[str]]:
        executor = CountingExecutor()
        asyncio.get_running_loop().set_default_executor(executor)
        oids = [str((await validator.validate_async(token))["oid"]) for _ in range(10)]
        for _ in range(10):
            caller = await api.authenticate(f"Bearer {token}", scopes=["access_as_user"])
            oids.append(str(caller.claims["oid"]))
        return executor.submitted, oids

    submitted, oids = run(main())
    assert submitted == 0
    assert len(set(oids)) == 1
    assert len(oids) == 20
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


def test_first_validations_fetch_once_off_the_loop(issuer: FakeIssuer) -> None:
    validator = make_validator()
    token = issuer.token()

    async def main() -> tuple[list[str], list[str]]:
        with BlockingCalls() as blocking:
            claims = await asyncio.gather(*(validator.validate_async(token) for _ in range(12)))
        return [str(c["oid"]) for c in claims], blocking.calls

    oids, blocking_calls = run(main())
    assert len(oids) == 12
    assert blocking_calls == []
    assert issuer.fetch_threads
    assert threading.get_ident() not in issuer.fetch_threads
    assert (issuer.discovery_requests, issuer.jwks_requests) == (1, 1)


def test_the_detector_catches_a_fetch_made_on_the_loop(issuer: FakeIssuer) -> None:
    """The check above is not vacuous: the blocking validate, called on the loop, trips it."""
    validator = make_validator()
    token = issuer.token()

    async def main() -> None:
        validator.validate(token)

    run(main())
    assert threading.get_ident() in issuer.fetch_threads


def test_a_key_rollover_refetches_once_for_concurrent_callers(issuer: FakeIssuer) -> None:
    validator = make_validator()
    validator.validate(issuer.token())
    issuer.publish({"kid-a": KEY_A, "kid-b": KEY_B})
    issuer.jwks_delay = 0.2
    new_token = issuer.token(key=KEY_B, kid="kid-b")

    async def main() -> list[Any]:
        return await asyncio.gather(*(validator.validate_async(new_token) for _ in range(8)))

    assert len(run(main())) == 8
    assert issuer.jwks_requests == 2


BAD_TOKENS: dict[str, Callable[[FakeIssuer], str]] = {
    "expired": lambda i: i.token(exp=1000, nbf=DROP, iat=DROP),
    "another audience": lambda i: i.token(aud="api://someone-else"),
    "another tenant": lambda i: i.token(tid=OTHER_TENANT),
    "an ID token": lambda i: i.token(nonce="n"),
    "no scope": lambda i: i.token(scp="other"),
    "an unknown key": lambda i: i.token(key=KEY_B, kid="kid-unknown"),
    "HS256": lambda i: i.token(alg="HS256", key=b"k" * 32),
    "not a JWT": lambda i: "not-a-jwt",
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_the_asyncio_path_rejects_what_the_blocking_one_rejects(
    issuer: FakeIssuer, kind: str
) -> None:
    validator = make_validator(required_scopes=["access_as_user"], allowed_tenants=[issuer.tenant])
    validator.validate(issuer.token())
    token = BAD_TOKENS[kind](issuer)
    with pytest.raises(TokenValidationError) as blocking:
        validator.validate(token)

    async def main() -> TokenValidationError:
        with pytest.raises(TokenValidationError) as caught:
            await validator.validate_async(token)
        return caught.value

    rejected = run(main())
    assert (rejected.error, rejected.description, rejected.status_code) == (
        blocking.value.error,
        blocking.value.description,
        blocking.value.status_code,
    )


def test_an_unreachable_key_endpoint_is_temporarily_unavailable(issuer: FakeIssuer) -> None:
    issuer.jwks_status = 500
    validator = make_validator()

    async def main() -> TokenValidationError:
        with pytest.raises(TokenValidationError) as caught:
            await validator.validate_async(issuer.token())
        return caught.value

    rejected = run(main())
    assert (rejected.error, rejected.status_code) == ("temporarily_unavailable", 503)
