"""The device code flow against oidc-provider, and refresh token rotation afterwards."""

from __future__ import annotations

import time
from typing import Any

import identitylib
from tests.oidc_peer_fixture import OidcPeer

from ._support import (
    API_READ,
    PEER_GROUP,
    Background,
    CountingSession,
    claims_of,
    public_app,
)

pytestmark = PEER_GROUP

#: Upper bound of one device sign-in (the peer asks for polls 1 s apart).
DEVICE_DEADLINE = 45.0


def bounded(flow: dict[str, Any]) -> dict[str, Any]:
    """Make the poll loop give up after DEVICE_DEADLINE (MSAL's documented expires_at)."""
    flow["expires_at"] = min(float(flow["expires_at"]), time.time() + DEVICE_DEADLINE)
    return flow


def device_sign_in(
    oidc_peer: OidcPeer,
    app: identitylib.PublicClientApplication,
    username: str,
    *,
    complete_uri: bool = False,
) -> dict[str, Any]:
    flow = app.initiate_device_flow([API_READ])
    assert "user_code" in flow, flow
    if complete_uri:
        approve = Background(
            lambda: oidc_peer.approve_device(flow["verification_uri_complete"], None, username)
        )
    else:
        approve = Background(
            lambda: oidc_peer.approve_device(flow["verification_uri"], flow["user_code"], username)
        )
    # Stop polling at once if the scripted user failed (result() then says why).
    result = app.acquire_token_by_device_flow(
        bounded(flow), exit_condition=lambda _: approve.failed
    )
    landing = approve.result()
    assert "Sign-in Success" in landing.page
    return result


def test_device_flow_dict(oidc_peer: OidcPeer) -> None:
    flow = public_app(oidc_peer).initiate_device_flow([API_READ])
    assert flow["verification_uri"] == f"{oidc_peer.issuer}/device"
    # An RFC 8628 field Entra does not send; oidc-provider sends no `message`, and an
    # `interval` only because the test peer adds one (its own default is RFC 8628's 5 s).
    assert flow["verification_uri_complete"].startswith(f"{oidc_peer.issuer}/device?user_code=")
    assert flow["interval"] == oidc_peer.device_interval == 1
    assert flow["expires_in"] == 600
    assert flow["expires_at"] > time.time() + 500
    assert flow["user_code"] in flow["message"]  # written by the library in Entra's words
    assert flow["verification_uri"] in flow["message"]


def test_device_code_sign_in(oidc_peer: OidcPeer) -> None:
    app = public_app(oidc_peer)
    result = device_sign_in(oidc_peer, app, "bob")
    assert result.get("token_source") == "identity_provider", result
    assert claims_of(result["access_token"])["aud"] == oidc_peer.api_resource
    assert result["id_token_claims"]["sub"] == "bob"
    assert result["refresh_token"]
    (account,) = app.get_accounts()
    assert account["home_account_id"] == "bob"
    assert account["account_source"] == "urn:ietf:params:oauth:grant-type:device_code"
    cached = app.acquire_token_silent([API_READ], account)
    assert cached is not None
    assert cached["token_source"] == "cache"


def test_device_code_with_verification_uri_complete(oidc_peer: OidcPeer) -> None:
    result = device_sign_in(oidc_peer, public_app(oidc_peer), "erin", complete_uri=True)
    assert result["id_token_claims"]["sub"] == "erin", result


def test_stopping_the_wait_returns_the_pending_error(oidc_peer: OidcPeer) -> None:
    app = public_app(oidc_peer)
    flow = app.initiate_device_flow([API_READ])
    asked: list[dict[str, Any]] = []

    def stop_now(flow: dict[str, Any]) -> bool:
        asked.append(flow)
        return True

    result = app.acquire_token_by_device_flow(flow, exit_condition=stop_now)
    assert result.get("error") == "authorization_pending", result
    assert len(asked) == 1  # stopped at the first check, with no further poll


def test_public_client_refresh_token_rotation(oidc_peer: OidcPeer) -> None:
    # oidc-provider replaces a public client's refresh token on every use and revokes the
    # whole grant if an old one is presented again: the cache must keep the newest.
    http = CountingSession()
    app = public_app(oidc_peer, http_client=http)
    signed_in = device_sign_in(oidc_peer, app, "frank")
    (account,) = app.get_accounts()
    tokens = [signed_in["refresh_token"]]
    for _ in range(2):
        refreshed = app.acquire_token_silent_with_error([API_READ], account, force_refresh=True)
        assert refreshed is not None
        assert refreshed.get("token_source") == "identity_provider", refreshed
        tokens.append(refreshed["refresh_token"])
    assert len(set(tokens)) == 3  # rotated each time
    cached_rts = list(app.token_cache.search("RefreshToken", query={"home_account_id": "frank"}))
    assert [rt["secret"] for rt in cached_rts] == [tokens[-1]]
