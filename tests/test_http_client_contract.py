"""The ``http_client`` contract, both ways, beside msal 1.39: identitylib calls
``get(url, params=, headers=)`` and ``post(url, params=, data=, headers=)`` only and reads
only ``status_code``, ``text`` and ``headers`` of what they return, whether the client is
the app's own object or the default ``app.http_client`` whose ``get``/``post`` an app (or
a test) replaced; the default session's real responses stay streamed and bounded."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any
from unittest import mock

import pytest
import responses

import identitylib
from tests._fakes import MsalStyleClient, Recorder
from tests._servers import require_module

from .conftest import add_discovery, oidc_config

#: A domain tenant, so that every app discovers (a tenant GUID on a well-known cloud does
#: not) and the discovery GET goes through the http_client under test too.
TENANT = "contoso.onmicrosoft.com"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
CONFIG = oidc_config(tenant=TENANT)
TOKEN_ENDPOINT = str(CONFIG["token_endpoint"])
SCOPES = ["api://backend/.default"]


def discovery(http: responses.RequestsMock) -> None:
    """The real session's discovery: the OpenID configuration, and the instance discovery
    msal may ask for (its cache lookups list the authority's aliases)."""
    add_discovery(http, tenant=TENANT)
    http.get(
        re.compile(r"https://login\.microsoftonline\.com/common/discovery/instance\?.*"),
        json={"tenant_discovery_endpoint": "unused", "metadata": []},
    )


def token(access_token: str = "at") -> dict[str, Any]:
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": 3599}


@pytest.mark.msal
@pytest.mark.parametrize("library", ["msal", "identitylib"])
def test_a_replaced_post_of_the_default_http_client_is_called_as_msal_calls_it(
    http: responses.RequestsMock, library: str
) -> None:
    """msal's users patch app.http_client.post with a fake answering bare response objects."""
    lib = require_module("msal") if library == "msal" else identitylib
    discovery(http)  # the real session discovers (msal: in its constructor)
    app = lib.ConfidentialClientApplication("cid", "secret", authority=AUTHORITY)
    post = Recorder("POST", {TOKEN_ENDPOINT: token()})
    with mock.patch.object(app.http_client, "post", side_effect=post):
        result = app.acquire_token_for_client(SCOPES)
    assert {k: result[k] for k in ("access_token", "token_type", "token_source")} == {
        "access_token": "at",
        "token_type": "Bearer",
        "token_source": "identity_provider",
    }
    assert 3598 <= result["expires_in"] <= 3599
    post.check()
    assert len(post.calls) == 1


@pytest.mark.msal
@pytest.mark.parametrize("library", ["msal", "identitylib"])
def test_a_replaced_post_is_not_retried(http: responses.RequestsMock, library: str) -> None:
    """Its retries are the replacement's own business, as with an app's http_client."""
    lib = require_module("msal") if library == "msal" else identitylib
    discovery(http)
    app = lib.ConfidentialClientApplication("cid", "secret", authority=AUTHORITY)
    post = Recorder("POST", {TOKEN_ENDPOINT: {"error": "too_many_requests"}})
    with mock.patch.object(app.http_client, "post", side_effect=post):
        result = app.acquire_token_for_client(SCOPES)
    assert result["error"] == "too_many_requests"
    assert len(post.calls) == 1


def test_a_replaced_get_answers_for_its_app_alone(http: responses.RequestsMock) -> None:
    """Discovery through a replaced get is this app's: another app built the default way
    discovers for itself and never uses the fake document."""
    fake_endpoint = f"{AUTHORITY}/oauth2/v2.0/elsewhere"
    fake = oidc_config(tenant=TENANT)
    fake["token_endpoint"] = fake_endpoint
    discovery_url = f"{AUTHORITY}/v2.0/.well-known/openid-configuration"
    get = Recorder("GET", {discovery_url: fake})
    post = Recorder("POST", {fake_endpoint: token("fake-at")})
    patched = identitylib.ConfidentialClientApplication("cid", "secret", authority=AUTHORITY)
    with (
        mock.patch.object(patched.http_client, "get", side_effect=get),
        mock.patch.object(patched.http_client, "post", side_effect=post),
    ):
        assert patched.acquire_token_for_client(SCOPES)["access_token"] == "fake-at"
    get.check()
    post.check()

    real = add_discovery(http, tenant=TENANT)
    token_post = http.post(real, json=token("real-at"))
    other = identitylib.ConfidentialClientApplication("cid", "secret", authority=AUTHORITY)
    assert other.acquire_token_for_client(SCOPES)["access_token"] == "real-at"
    assert token_post.call_count == 1


def test_the_default_sessions_own_methods_still_stream(http: responses.RequestsMock) -> None:
    """Unreplaced, the default session sends with identitylib's timeout and streaming."""
    add_discovery(http, tenant=TENANT)
    token_post = http.post(TOKEN_ENDPOINT, json=token())
    app = identitylib.ConfidentialClientApplication("cid", "secret", authority=AUTHORITY)
    assert app.acquire_token_for_client(SCOPES)["access_token"] == "at"
    sent = token_post.calls[0].request
    assert sent.req_kwargs["stream"] is True
    assert sent.req_kwargs["timeout"] is not None


@pytest.mark.parametrize("api", ["blocking", "asyncio"])
def test_an_apps_own_http_client_is_used_within_the_contract(api: str) -> None:
    client = MsalStyleClient(
        {f"{AUTHORITY}/v2.0/.well-known/openid-configuration": oidc_config(tenant=TENANT)},
        {TOKEN_ENDPOINT: token()},
    )
    if api == "blocking":
        app = identitylib.ConfidentialClientApplication(
            "cid", "secret", authority=AUTHORITY, http_client=client
        )
        result = app.acquire_token_for_client(SCOPES)
    else:
        aio = require_module("identitylib.aio")
        aio_app = aio.ConfidentialClientApplication(
            "cid", "secret", authority=AUTHORITY, http_client=client
        )
        result = asyncio.run(aio_app.acquire_token_for_client(SCOPES))
    assert result["access_token"] == "at", result
    client.get.check()
    client.post.check()


def test_an_http_client_assigned_after_construction_sends(http: responses.RequestsMock) -> None:
    """An assigned ``app.http_client`` is used from then on (msal 1.39 keeps the client it
    was built with: docs/migrating.md)."""
    app = identitylib.ConfidentialClientApplication("cid", "secret", authority=AUTHORITY)
    client = MsalStyleClient(
        {f"{AUTHORITY}/v2.0/.well-known/openid-configuration": CONFIG}, {TOKEN_ENDPOINT: token()}
    )
    app.http_client = client
    result = app.acquire_token_for_client(SCOPES)
    assert result["token_source"] == "identity_provider"
    assert app.http_client is client
    assert [url for url, _, _ in client.post.calls] == [TOKEN_ENDPOINT]


def test_threads_that_first_use_the_default_session_share_one() -> None:
    """The own session is made on first use: threads asking for it at once get the same
    one, whose methods are its own (a session made twice would read as 'replaced' and be
    called without identitylib's timeouts and retries)."""
    from identitylib._transport._sync import SyncTransport

    for _ in range(20):  # (bounded: a race shows within a few rounds)
        transport = SyncTransport()
        start = threading.Barrier(8)
        seen: list[Any] = []

        args = (transport, start, seen)
        threads = [threading.Thread(target=_first_use, args=args) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(seen) == 8
        assert len({id(session) for session in seen}) == 1
        assert not transport.replaced("GET")
        assert not transport.replaced("POST")
        transport.close()


def _first_use(transport: Any, start: threading.Barrier, seen: list[Any]) -> None:
    start.wait(timeout=10)
    seen.append(transport.http_client)
