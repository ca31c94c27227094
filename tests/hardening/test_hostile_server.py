"""Each fault of a hostile server: the outcome and the number of requests, in both APIs.

Every test that goes through an application runs twice, against the blocking API and the
asyncio one (the ``api`` fixture): both transports keep the same promises. Bounds are
proven by what happened (the error raised, the requests made, the waits asked for), not by
timing the call.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from identitylib import ConfidentialClientApplication
from tests._ports import free_port

from ._apis import Api
from ._hostile import HostileServer, Recorded, Reply, running

SCOPE = ["api://hostile/.default"]
SECRET = "hostile-client-secret-value"


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Api:
    return Api(request.param)


def cca(api: Api, server: HostileServer, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", (1.0, 1.0))
    if "authority" not in kwargs:
        kwargs.setdefault("oidc_authority", server.issuer)
    return api.cca("hostile-client", SECRET, **kwargs)


def pca(api: Api, server: HostileServer, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", 1)
    return api.pca("hostile-public", oidc_authority=server.issuer, **kwargs)


def for_client(api: Api, app: Any) -> dict[str, Any]:
    return api.call(app, "acquire_token_for_client", SCOPE)  # type: ignore[no-any-return]


def record_waits(api: Api, app: Any) -> list[float]:
    """The waits the app's transport sleeps before retries (still really slept)."""
    import asyncio
    import time

    waits: list[float] = []
    transport = api.transport(app)
    if api.is_async:

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await asyncio.sleep(seconds)

        transport._sleep = sleep
    else:

        def blocking_sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        # The transport's clock moves with its sleeps only: the slices add up to the wait
        # asked for, however late the machine wakes the thread.
        started = time.monotonic()
        transport._sleep = blocking_sleep
        transport._clock = lambda: started + sum(waits)
    return waits


def test_stalled_server_times_out_without_retry(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.token_path] = Reply(stall=3.0, body={"access_token": "late"})
    app = cca(api, hostile)
    with pytest.raises(api.timeout_error):
        for_client(api, app)  # answered after 3 s: only a 1 s read timeout raises here
    assert len(hostile.token_requests()) == 1  # a read timeout is not retried


def test_dripped_body_is_abandoned_at_the_read_timeout(api: Api, hostile: HostileServer) -> None:
    # 240 bytes, one per 20 ms: each socket read is quick, the whole body takes ~5 s.
    body = {"access_token": "x" * 200, "expires_in": 3600}
    hostile.routes[hostile.token_path] = Reply(body=body, drip=0.02)
    app = cca(api, hostile)
    with pytest.raises(api.timeout_error):
        for_client(api, app)
    assert len(hostile.token_requests()) == 1


def test_default_timeout_is_finite() -> None:
    from identitylib._transport import DEFAULT_TIMEOUT

    app = ConfidentialClientApplication("c", SECRET, oidc_authority="http://127.0.0.1:9/t")
    assert app._transport._timeout == DEFAULT_TIMEOUT
    assert all(0 < t < 60 for t in DEFAULT_TIMEOUT)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_once_then_an_error_result(
    api: Api, hostile: HostileServer, status: int
) -> None:
    hostile.routes[hostile.token_path] = Reply(
        status, "<html>down</html>", {"Content-Type": "text/html"}
    )
    app = cca(api, hostile)
    result = for_client(api, app)
    assert result["error"] == "invalid_response"
    assert len(hostile.token_requests()) == 2
    # Not throttled: the app's own retry reaches the server again.
    again = for_client(api, app)
    assert again["error"] == "invalid_response"
    assert len(hostile.token_requests()) == 4


def test_transient_5xx_then_success(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.token_path] = [
        Reply(503, {"error": "temporarily_unavailable"}),
        Reply(body={"access_token": "second-try", "expires_in": 3600}),
    ]
    result = for_client(api, cca(api, hostile))
    assert result["access_token"] == "second-try"
    assert len(hostile.token_requests()) == 2


def test_5xx_on_discovery_is_retried_once(api: Api, hostile: HostileServer) -> None:
    hostile.discovery_reply = Reply(502, "bad gateway", {"Content-Type": "text/plain"})
    result = for_client(api, cca(api, hostile))
    assert result["error"] == "invalid_response"
    assert len(hostile.discovery_requests()) == 2
    assert hostile.token_requests() == []  # no credential went anywhere


def test_small_retry_after_is_honoured(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.token_path] = [
        Reply(429, {"error": "throttled"}, {"Retry-After": "1"}),
        Reply(body={"access_token": "after-wait", "expires_in": 3600}),
    ]
    app = cca(api, hostile)
    waits = record_waits(api, app)
    result = for_client(api, app)
    assert result["access_token"] == "after-wait"
    assert len(hostile.token_requests()) == 2
    assert sum(waits) == pytest.approx(1.0, abs=0.01)


def test_http_date_retry_after_is_honoured(api: Api, hostile: HostileServer) -> None:
    import time
    from email.utils import formatdate

    hostile.routes[hostile.token_path] = [
        Reply(503, {"error": "busy"}, {"Retry-After": formatdate(time.time() + 2, usegmt=True)}),
        Reply(body={"access_token": "after-date", "expires_in": 3600}),
    ]
    app = cca(api, hostile)
    waits = record_waits(api, app)
    result = for_client(api, app)
    assert result["access_token"] == "after-date"
    assert 0.5 <= sum(waits) <= 2.0  # the date's second granularity, not the 0.5 s back-off


def test_large_retry_after_returns_at_once_and_throttles(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.token_path] = Reply(
        429, {"error": "too_many_requests"}, {"Retry-After": "120"}
    )
    app = cca(api, hostile)
    waits = record_waits(api, app)
    result = for_client(api, app)
    assert result["error"] == "too_many_requests"
    assert len(hostile.token_requests()) == 1
    assert waits == []  # not waited for
    # The identical request within Retry-After is answered locally.
    again = for_client(api, app)
    assert again["error"] == "too_many_requests"
    assert len(hostile.token_requests()) == 1


def test_identical_invalid_grant_is_throttled_briefly(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.token_path] = Reply(
        400, {"error": "invalid_grant", "error_description": "AADSTS70000: bad grant"}
    )
    app = pca(api, hostile)
    first = api.call(app, "acquire_token_by_refresh_token", "rt-revoked", SCOPE)
    assert first["error"] == "invalid_grant"
    for _ in range(20):
        again = api.call(app, "acquire_token_by_refresh_token", "rt-revoked", SCOPE)
        assert again["error"] == "invalid_grant"
    assert len(hostile.token_requests()) == 1
    # A different request is not affected.
    api.call(app, "acquire_token_by_refresh_token", "another-rt", SCOPE)
    assert len(hostile.token_requests()) == 2


def test_throttle_is_persisted_in_http_cache(hostile: HostileServer) -> None:
    from identitylib._protocol._messages import HttpRequest
    from identitylib._transport import SyncTransport

    hostile.routes[hostile.token_path] = Reply(429, {"error": "slow"}, {"Retry-After": "300"})
    http_cache: dict[Any, Any] = {}
    request = HttpRequest("POST", hostile.base + hostile.token_path, data={"grant_type": "x"})
    first = SyncTransport(http_cache=http_cache).send(request)
    second = SyncTransport(http_cache=http_cache).send(request)  # "after a restart"
    assert first.status_code == second.status_code == 429
    assert len(hostile.token_requests()) == 1
    assert any(str(k).startswith("identitylib-throttle ") for k in http_cache)


def test_redirect_on_token_post_is_an_error_and_leaks_nothing(
    api: Api, hostile: HostileServer
) -> None:
    for other in running():
        for status in (302, 307, 308):
            hostile.routes[hostile.token_path] = Reply(
                status, "", {"Location": other.base + "/steal"}
            )
            result = for_client(api, cca(api, hostile))
            assert result["error"] == "invalid_response"
            assert "redirect" in result["error_description"]
        assert other.requests == []  # the secret never went to the redirect target


def test_redirect_not_followed_with_an_apps_own_client(api: Api, hostile: HostileServer) -> None:
    for other in running():
        hostile.routes[hostile.token_path] = Reply(307, "", {"Location": other.base + "/steal"})
        if api.is_async:
            import httpx

            client: Any = httpx.AsyncClient(follow_redirects=True)
        else:
            client = requests.Session()
        app = cca(api, hostile, http_client=client)
        assert for_client(api, app)["error"] == "invalid_response"
        assert other.requests == []


def test_huge_body_is_cut_and_an_error(api: Api, hostile: HostileServer) -> None:
    huge = b'{"access_token": "' + b"a" * (3 << 20) + b'", "expires_in": 3600}'
    hostile.routes[hostile.token_path] = Reply(body=huge)
    app = cca(api, hostile, timeout=(2.0, 5.0))
    result = for_client(api, app)
    assert result["error"] == "invalid_response"
    assert "larger than" in result["error_description"]
    assert len(hostile.token_requests()) == 1
    assert list(app.token_cache.search("AccessToken")) == []


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (
            Reply(200, "<html><body>Sign in</body></html>", {"Content-Type": "text/html"}),
            "not JSON",
        ),
        (Reply(200, '{"access_token": "trunc'), "not JSON"),
        (Reply(200, "[1, 2, 3]"), "not an object"),
        (Reply(200, '"a string"'), "not an object"),
        (Reply(200, {"token_type": "Bearer"}), "neither"),
        (Reply(200, {"access_token": 42}), "not a string"),
        (Reply(200, {"access_token": "at", "expires_in": -5}), "expires_in"),
        (Reply(200, {"access_token": "at", "expires_in": "soon"}), "expires_in"),
        (Reply(200, {"access_token": "at", "expires_in": None}), "expires_in"),
        (Reply(200, {"access_token": "at", "id_token": "not-a-jwt"}), "id_token"),
        (Reply(200, {"access_token": "at", "id_token": "a.b"}), "id_token"),
        (Reply(200, {"access_token": "at", "client_info": "%%%"}), "client_info"),
        (Reply(400, {"error": 7}), "non-string"),
        (Reply(401, "Unauthorized", {"Content-Type": "text/plain"}), "not JSON"),
        (Reply(200, "[" * 100000), "not JSON"),
    ],
)
def test_malformed_token_responses_are_error_results(
    api: Api, hostile: HostileServer, reply: Reply, fragment: str
) -> None:
    hostile.routes[hostile.token_path] = reply
    app = cca(api, hostile)
    result = for_client(api, app)
    assert result["error"] in ("invalid_response", "invalid_client"), result
    assert fragment in result["error_description"]
    assert list(app.token_cache.search("AccessToken")) == []


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [(10**12, 7 * 24 * 3600), ("3600", 3600), (3600.7, 3600), (0, 0)],
)
def test_lifetimes_are_normalised(
    api: Api, hostile: HostileServer, expires_in: Any, expected: int
) -> None:
    hostile.routes[hostile.token_path] = Reply(
        body={"access_token": "at", "expires_in": expires_in, "token_type": "Bearer"}
    )
    result = for_client(api, cca(api, hostile))
    assert result["expires_in"] == expected


def test_unknown_token_type_is_an_error_not_a_crash(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.token_path] = Reply(
        body={"access_token": "at", "expires_in": 60, "token_type": "Weird"}
    )
    app = cca(api, hostile)
    result = for_client(api, app)
    assert result["error"] == "invalid_response", result
    assert list(app.token_cache.search("AccessToken")) == []


ELSEWHERE = [
    {"token_endpoint": "http://127.0.0.2:1/steal/token"},
    {"token_endpoint": "https://evil.example/token"},
    {"device_authorization_endpoint": "https://evil.example/device"},
    {"authorization_endpoint": "https://evil.example/authorize"},
    {"token_endpoint": "javascript:alert(1)"},
    {"token_endpoint": 42},
    {"token_endpoint": None},
]


@pytest.mark.parametrize("override", ELSEWHERE)
def test_entra_discovery_leaving_the_authority_is_rejected(
    api: Api, hostile: HostileServer, override: dict[str, Any]
) -> None:
    """A Microsoft authority's endpoints must stay on its host."""
    hostile.discovery_reply = Reply(body=hostile.discovery(**override))
    result = for_client(api, cca(api, hostile, authority=hostile.issuer))
    assert result["error"] in ("invalid_authority", "invalid_response"), result
    assert hostile.token_requests() == []


@pytest.mark.parametrize(
    "override",
    [
        {"issuer": "https://someone-else.example/tenant"},
        {"issuer": None},
        {"issuer": 7},
        {"token_endpoint": 42},
        {"token_endpoint": None},
        {"token_endpoint": "ftp://127.0.0.1/token"},
    ],
)
def test_oidc_discovery_with_wrong_issuer_is_rejected(
    api: Api, hostile: HostileServer, override: dict[str, Any]
) -> None:
    """A generic OIDC provider may name endpoints on other hosts; its issuer must match."""
    hostile.discovery_reply = Reply(body=hostile.discovery(**override))
    result = for_client(api, cca(api, hostile))
    assert result["error"] in ("invalid_authority", "invalid_response", "issuer_mismatch"), result
    assert hostile.token_requests() == []


@pytest.mark.parametrize(
    "body",
    ["<html/>", "[]", {"issuer": 5}, {"token_endpoint": ["a"]}, "{" * 50000],
)
def test_malformed_discovery_is_an_error_result(
    api: Api, hostile: HostileServer, body: Any
) -> None:
    hostile.discovery_reply = Reply(body=body)
    result = for_client(api, cca(api, hostile))
    assert result["error"] in ("invalid_authority", "invalid_response"), result
    assert hostile.token_requests() == []


def _device_code(interval: Any, expires_in: Any) -> Reply:
    return Reply(
        body={
            "device_code": "dc-secret",
            "user_code": "ABCD-EFGH",
            "verification_uri": "https://example.test/device",
            "interval": interval,
            "expires_in": expires_in,
            "message": "go",
        }
    )


def test_device_code_polling_is_floored_and_ends_at_expiry(
    api: Api, hostile: HostileServer
) -> None:
    hostile.routes[hostile.device_path] = _device_code(0, 3)
    hostile.routes[hostile.token_path] = Reply(400, {"error": "authorization_pending"})
    app = pca(api, hostile)
    flow = api.call(app, "initiate_device_flow", SCOPE)
    assert "user_code" in flow
    result = api.call(app, "acquire_token_by_device_flow", flow)
    assert result["error"] == "authorization_pending"  # the last answer, kept at expiry
    polls = len(hostile.token_requests())
    # Floored to 1 s: a poll at once, then one a second until the 3-s lifetime ends (3, one
    # fewer on a slow machine). Unfloored, all six polls of the budget would go at once.
    assert 2 <= polls <= 3


def test_device_code_slow_down_and_absurd_interval(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.device_path] = _device_code("-1", 2)
    hostile.routes[hostile.token_path] = Reply(400, {"error": "slow_down"})
    app = pca(api, hostile)
    flow = api.call(app, "initiate_device_flow", SCOPE)
    result = api.call(app, "acquire_token_by_device_flow", flow)
    assert "error" in result
    assert len(hostile.token_requests()) <= 3


@pytest.mark.parametrize(
    "body",
    ["<html/>", "[]", {"user_code": 5}, {"device_code": "d"}, {"device_code": 1, "user_code": "u"}],
)
def test_malformed_device_code_response(api: Api, hostile: HostileServer, body: Any) -> None:
    hostile.routes[hostile.device_path] = Reply(body=body)
    flow = api.call(pca(api, hostile), "initiate_device_flow", SCOPE)
    assert "error" in flow
    assert hostile.token_requests() == []


def test_device_code_unusable_lifetime_gets_the_default(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.device_path] = _device_code("soon", "never")
    flow = api.call(pca(api, hostile), "initiate_device_flow", SCOPE)
    assert flow["expires_in"] == 1800
    assert flow["interval"] >= 1


def test_connection_refused_is_retried_once_then_raises(api: Api) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/tenant"  # nothing listens there: refused
    app = api.cca("c", SECRET, oidc_authority=issuer, timeout=(1, 1))
    waits = record_waits(api, app)
    with pytest.raises(api.connection_error):
        for_client(api, app)
    assert len(waits) >= 1  # the one retry of a request that never left


def test_custom_http_client_gets_only_msal_keywords(api: Api, hostile: HostileServer) -> None:
    seen: list[dict[str, Any]] = []

    class Client:
        def __init__(self) -> None:
            self.session = requests.Session()

        def get(self, url: str, **kwargs: Any) -> Any:
            seen.append(kwargs)
            return self.session.get(url, **kwargs)

        def post(self, url: str, **kwargs: Any) -> Any:
            seen.append(kwargs)
            return self.session.post(url, **kwargs)

    # The asyncio API sends through a blocking client in a worker thread, the same way.
    app = cca(api, hostile, http_client=Client())
    assert "access_token" in for_client(api, app)
    assert seen
    for kwargs in seen:
        assert set(kwargs) <= {"params", "headers", "data"}


def test_explicit_verify_beats_ca_bundles_of_the_environment(
    api: Api, identitylib_emulator_tls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = identitylib_emulator_tls
    other = requests.certs.where()  # a real bundle that does not hold the emulator's CA
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, other)
    app = api.cca(
        "hostile-client", SECRET, authority=emu.authority(), verify=emu.ca_path, timeout=5
    )
    result = for_client(api, app)
    # The TLS handshake succeeded with the explicit CA: the answer is an OAuth one.
    assert "error" not in result or result["error"] in ("invalid_client", "unauthorized_client")


def test_records_are_json(hostile: HostileServer) -> None:
    # Keep the helper honest: the server sees form bodies as sent.
    for_client(Api("sync"), cca(Api("sync"), hostile))
    token: Recorded = hostile.token_requests()[0]
    assert token.form["client_secret"] == SECRET
    assert json.loads(json.dumps(token.form))


def test_transient_oauth_errors_are_not_throttled(api: Api, hostile: HostileServer) -> None:
    hostile.routes[hostile.token_path] = Reply(400, {"error": "temporarily_unavailable"})
    app = cca(api, hostile)
    for _ in range(3):
        assert for_client(api, app)["error"] == "temporarily_unavailable"
    assert len(hostile.token_requests()) == 3


def test_an_apps_http_client_is_not_retried_unless_asked(hostile: HostileServer) -> None:
    from identitylib._protocol._messages import HttpRequest
    from identitylib._transport import SyncTransport
    from identitylib._transport._policy import RetryPolicy

    hostile.routes[hostile.token_path] = Reply(503, {"error": "busy"})
    request = HttpRequest("POST", hostile.base + hostile.token_path, data={"grant_type": "x"})
    assert SyncTransport(requests.Session()).send(request).status_code == 503
    assert len(hostile.token_requests()) == 1
    quick = RetryPolicy(backoff=0.01)
    assert SyncTransport(requests.Session(), retry=quick).send(request).status_code == 503
    assert len(hostile.token_requests()) == 3


def test_an_apps_httpx_client_is_not_retried(hostile: HostileServer) -> None:
    import asyncio

    import httpx

    from identitylib._protocol._messages import HttpRequest
    from identitylib._transport._async import AsyncTransport

    hostile.routes[hostile.token_path] = Reply(503, {"error": "busy"})
    request = HttpRequest("POST", hostile.base + hostile.token_path, data={"grant_type": "x"})

    async def send() -> int:
        async with httpx.AsyncClient() as client:
            response = await AsyncTransport(client).send(request)
        return response.status_code

    assert asyncio.run(send()) == 503
    assert len(hostile.token_requests()) == 1
