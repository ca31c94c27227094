"""Single-flight per cache key: concurrent identical misses share one token request.

Functional tests only (request counts, results); nothing here is timed.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Optional
from urllib.parse import parse_qs

import identitylib
from identitylib._flows._single_flight import SingleFlight

TENANT = "7e4a0000-0000-4000-8000-000000005f11"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"


class _Response:
    def __init__(self, body: dict[str, Any], status: int = 200) -> None:
        self.status_code = status
        self.text = json.dumps(body)
        self.headers = {"Content-Type": "application/json"}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(self.status_code)


class SlowServer:
    """Discovery and token endpoint; each token request takes ``delay`` seconds."""

    def __init__(self, delay: float = 0.05, status: int = 200) -> None:
        self.delay = delay
        self.status = status
        self.lock = threading.Lock()
        self.posts: list[dict[str, str]] = []

    def get(self, url: str, params: Any = None, headers: Any = None, **kw: Any) -> _Response:
        base = AUTHORITY
        return _Response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
            }
        )

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> _Response:
        fields = (
            data if isinstance(data, dict) else {k: v[0] for k, v in parse_qs(data or "").items()}
        )
        with self.lock:
            self.posts.append(dict(fields))
            n = len(self.posts)
        time.sleep(self.delay)
        if self.status != 200:
            return _Response({"error": "invalid_client", "error_description": "no"}, self.status)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": 3600,
            "access_token": f"at-{n}",
        }
        if fields.get("grant_type") != "client_credentials":
            body["refresh_token"] = f"rt-{n}"
        return _Response(body)

    def close(self) -> None:
        pass


def _stampede(call: Any, threads: int = 50) -> list[Any]:
    barrier = threading.Barrier(threads)
    results: list[Optional[Any]] = [None] * threads

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = call()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def _app(server: SlowServer) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        "client-id", client_credential="secret", authority=AUTHORITY, http_client=server
    )


def test_fifty_threads_on_a_cold_cache_send_one_token_request() -> None:
    server = SlowServer()
    app = _app(server)
    results = _stampede(lambda: app.acquire_token_for_client(["api://a/.default"]))
    assert len(server.posts) == 1
    assert all(r["access_token"] == "at-1" for r in results)
    sources = sorted(r["token_source"] for r in results)
    assert sources.count("identity_provider") == 1
    assert sources.count("cache") == 49
    assert len(app._flights) == 0


def test_different_scopes_are_not_coalesced() -> None:
    server = SlowServer(delay=0.02)
    app = _app(server)
    scopes = [f"api://s{i}/.default" for i in range(5)]
    barrier = threading.Barrier(len(scopes))

    def worker(scope: str) -> None:
        barrier.wait()
        assert "access_token" in app.acquire_token_for_client([scope])

    pool = [threading.Thread(target=worker, args=(s,)) for s in scopes]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert len(server.posts) == 5


def test_claims_challenge_is_never_coalesced() -> None:
    server = SlowServer(delay=0.02)
    app = _app(server)
    claims = json.dumps({"access_token": {"nbf": {"essential": True, "value": "1"}}})
    _stampede(
        lambda: app.acquire_token_for_client(["api://a/.default"], claims_challenge=claims),
        threads=4,
    )
    assert len(server.posts) == 4


def test_followers_try_again_themselves_when_the_leader_failed() -> None:
    server = SlowServer(delay=0.02, status=401)
    app = _app(server)
    results = _stampede(lambda: app.acquire_token_for_client(["api://a/.default"]), threads=8)
    assert all(r.get("error") == "invalid_client" for r in results)
    # The followers tried again (one post each at most): sharing the failure would be one post.
    assert 2 <= len(server.posts) <= 8
    assert len(app._flights) == 0


def test_on_behalf_of_stampede_sends_one_request() -> None:
    server = SlowServer()
    app = _app(server)
    results = _stampede(
        lambda: app.acquire_token_on_behalf_of("incoming-token", ["api://down/.default"])
    )
    assert len(server.posts) == 1
    assert all("access_token" in r for r in results)


def test_a_lookup_that_straddles_the_leaders_write_is_redone() -> None:
    """Caller B's access-token lookup misses while leader A waits for its response; A then
    caches the tokens and leaves before B joins: B must look again, not redeem the
    refresh token A just cached (it did, once in a long run: two requests)."""
    a_may_answer = threading.Event()
    a_done = threading.Event()

    class GatedServer(SlowServer):
        def post(self, *args: Any, **kwargs: Any) -> _Response:
            if threading.current_thread().name == "A":
                assert a_may_answer.wait(5)
            return super().post(*args, **kwargs)

    server = GatedServer(delay=0)
    app = _app(server)
    cache = app.token_cache
    real_search = cache.search

    def search(credential_type: str, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "B" and credential_type == "RefreshToken":
            assert a_done.wait(5)  # B is preempted between its two lookups
        found = list(real_search(credential_type, *args, **kwargs))
        if threading.current_thread().name == "B" and credential_type == "AccessToken":
            a_may_answer.set()  # B's access-token lookup missed
        return iter(found)

    cache.search = search  # type: ignore[method-assign]
    results: dict[str, Any] = {}

    def call(name: str) -> None:
        results[name] = app.acquire_token_on_behalf_of("incoming-token", ["api://down/.default"])
        if name == "A":
            a_done.set()

    a = threading.Thread(target=call, args=("A",), name="A")
    a.start()
    b = threading.Thread(target=call, args=("B",), name="B")
    b.start()
    a.join(10)
    b.join(10)
    assert [post.get("grant_type") for post in server.posts] == [
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ]
    assert results["B"]["token_source"] == "cache"


def test_single_flight_leader_and_followers() -> None:
    flights = SingleFlight(25.0)
    leader, flight = flights.join("k")
    follower, same = flights.join("k")
    assert leader
    assert not follower
    assert same is flight
    assert flight.event is not None
    flights.leave("k", flight)
    assert flight.event.is_set()
    assert len(flights) == 0


def test_a_leader_without_followers_makes_no_event() -> None:
    """The usual miss has no follower: its flight makes no ``threading.Event`` (a lock and a
    condition per token request, for nobody to wait on); the first follower makes it."""
    flights = SingleFlight(25.0)
    leader, flight = flights.join("k")
    flights.leave("k", flight)
    assert leader
    assert flight.event is None
    assert len(flights) == 0
    leader, flight = flights.join("k")
    follower, same = flights.join("k")
    flights.leave("k", flight)
    assert (leader, follower) == (True, False)
    assert same.event is not None
    assert same.event.is_set()


class _ClientInfoServer(SlowServer):
    """Also returns client_info (as Entra ID does on refresh-token redemption)."""

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> _Response:
        response = super().post(url, params=params, data=data, headers=headers, **kw)
        body = json.loads(response.text)
        body["client_info"] = "eyJ1aWQiOiJ1aWQiLCJ1dGlkIjoidGlkIn0"  # {"uid":"uid","utid":"tid"}
        body["scope"] = "api://b/read"
        response.text = json.dumps(body)
        return response


def test_silent_refresh_stampede_sends_one_request() -> None:
    env = "login.microsoftonline.com"
    cache = identitylib.SerializableTokenCache()
    cache.deserialize(
        json.dumps(
            {
                "RefreshToken": {
                    f"uid.tid-{env}-refreshtoken-client-id--": {
                        "credential_type": "RefreshToken",
                        "secret": "rt-0",
                        "home_account_id": "uid.tid",
                        "environment": env,
                        "client_id": "client-id",
                        "target": "api://a/read",
                    }
                },
                "Account": {
                    f"uid.tid-{env}-tid": {
                        "home_account_id": "uid.tid",
                        "environment": env,
                        "realm": "tid",
                        "local_account_id": "uid",
                        "username": "a@contoso.example",
                        "authority_type": "MSSTS",
                    }
                },
            }
        )
    )
    server = _ClientInfoServer()
    app = identitylib.PublicClientApplication(
        "client-id", authority=AUTHORITY, http_client=server, token_cache=cache
    )
    (account,) = app.get_accounts()
    results = _stampede(lambda: app.acquire_token_silent(["api://b/read"], account), threads=20)
    assert all(r is not None and "access_token" in r for r in results)
    assert len(server.posts) == 1
