"""Helpers shared by the user-flow unit tests (device code, password, silent, accounts).

No tests here: token responses with ID tokens and client_info, request-body parsing, a
fake clock, and a driver that runs a flow generator without any sleeping.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs

import responses

from identitylib import PublicClientApplication
from identitylib._protocol._messages import WAITED, Flow, HttpRequest, HttpResponse, Wait

from .conftest import CLIENT_ID, TENANT, add_discovery, add_user_realm, oidc_config

HOST = "login.microsoftonline.com"
AUTHORITY = f"https://{HOST}/{TENANT}"
TOKEN_ENDPOINT = f"{AUTHORITY}/oauth2/v2.0/token"
DEVICE_ENDPOINT = f"{AUTHORITY}/oauth2/v2.0/devicecode"
UID = "0a1b2c3d-0000-4000-8000-00000000a11c"
HOME_ACCOUNT_ID = f"{UID}.{TENANT}"
USERNAME = "alice@contoso.com"


def b64json(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def make_id_token(**claims: Any) -> str:
    return ".".join([b64json({"alg": "none", "typ": "JWT"}), b64json(claims), "sig"])


def client_info(uid: str = UID, utid: str = TENANT) -> str:
    return b64json({"uid": uid, "utid": utid})


def user_token(
    access_token: str = "at-1",
    refresh_token: str | None = "rt-1",
    *,
    scope: str = "User.Read email openid profile",
    client_id: str = CLIENT_ID,
    uid: str = UID,
    utid: str = TENANT,
    tenant: str = TENANT,
    username: str = USERNAME,
    base: str = f"https://{HOST}",
    expires_in: Any = 3599,
    **extra: Any,
) -> dict[str, Any]:
    """A user token response with an ID token that passes identitylib's checks."""
    now = int(time.time())
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
        "id_token": make_id_token(
            aud=client_id,
            iss=f"{base}/{tenant}/v2.0",
            iat=now,
            nbf=now,
            exp=now + 3600,
            sub=f"sub-{uid}",
            oid=uid,
            tid=tenant,
            preferred_username=username,
        ),
        "client_info": client_info(uid, utid),
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    body.update(extra)
    return body


def oauth_error(error: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": description or f"AADSTS00000: {error}",
        "error_codes": [0],
        **extra,
    }


def body_of(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def token_posts(http: responses.RequestsMock, endpoint: str = TOKEN_ENDPOINT) -> list[Any]:
    return [c for c in http.calls if c.request.method == "POST" and c.request.url == endpoint]


def public_app(**kwargs: Any) -> PublicClientApplication:
    kwargs.setdefault("authority", AUTHORITY)
    return PublicClientApplication(kwargs.pop("client_id", CLIENT_ID), **kwargs)


def ropc_sign_in(
    http: responses.RequestsMock, app: Any, response: dict[str, Any], username: str = USERNAME
) -> dict[str, Any]:
    """Seed the app's cache through a password grant answered with ``response``."""
    add_discovery_once(http, app)
    add_user_realm(http, f"https://{app.authority.parsed.host}")
    endpoint = token_endpoint_of(app)
    http.upsert(responses.POST, endpoint, json=response)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result: dict[str, Any] = app.acquire_token_by_username_password(
            username, "password", ["User.Read"]
        )
    assert "access_token" in result, result
    return result


def token_endpoint_of(app: Any) -> str:
    parsed = app.authority.parsed
    return f"https://{parsed.host}/{parsed.tenant}/oauth2/v2.0/token"


def _registered(http: responses.RequestsMock, url: str) -> bool:
    return any(getattr(r, "url", None) == url for r in http.registered())


def add_discovery_once(http: responses.RequestsMock, app: Any) -> None:
    parsed = app.authority.parsed
    url = f"https://{parsed.host}/{parsed.tenant}/v2.0/.well-known/openid-configuration"
    if not _registered(http, url):
        add_discovery(http, f"https://{parsed.host}", parsed.tenant)


def expire_access_tokens(cache: Any, seconds_left: int = 60) -> None:
    """Make every cached AT expire in ``seconds_left`` seconds (inside the 300 s skew)."""
    for entry in list(cache._cache.get("AccessToken", {}).values()):
        cache.modify("AccessToken", entry, {"expires_on": str(int(time.time()) + seconds_left)})


@dataclass
class FakeClock:
    """A clock that only moves when a flow waits."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


@dataclass
class Drive:
    """What running a flow with :func:`drive` saw."""

    result: Any = None
    requests: list[tuple[float, HttpRequest]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    @property
    def polls(self) -> list[tuple[float, HttpRequest]]:
        return [(t, r) for t, r in self.requests if r.method == "POST"]


def json_response(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps(body), {"content-type": "application/json"})


def drive(
    flow: Flow[Any],
    answer: Callable[[HttpRequest], HttpResponse],
    clock: FakeClock,
    *,
    max_steps: int = 100_000,
) -> Drive:
    """Run ``flow``: requests are answered by ``answer``, waits advance ``clock``."""
    seen = Drive()
    step = next(flow)
    try:
        for _ in range(max_steps):
            if isinstance(step, Wait):
                assert 0 < step.seconds <= 1.0, step
                seen.waits.append(step.seconds)
                clock.now += step.seconds
                step = flow.send(WAITED)
            else:
                seen.requests.append((clock.now, step))
                step = flow.send(answer(step))
        raise AssertionError("the flow did not end")
    except StopIteration as stop:
        seen.result = stop.value
    return seen


def discovery_answer(request: HttpRequest) -> HttpResponse | None:
    """The OpenID configuration for GETs of the test tenant's discovery document."""
    if request.method == "GET" and request.url.endswith("/.well-known/openid-configuration"):
        return json_response(oidc_config())
    return None


def sequence(*bodies: tuple[int, dict[str, Any]]) -> Iterator[HttpResponse]:
    for status, body in bodies:
        yield json_response(body, status)
