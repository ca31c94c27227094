"""identitylib.web against a real OpenID Connect provider: a Flask app signs users in on
oidc-provider (generic OIDC, ``oidc_authority=``), calls its API for them, signs them out."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests._servers import require_module
from tests.oidc_peer_fixture import WEB_FRAMEWORK_REDIRECT_URI, OidcPeer

from ._support import API_READ, PEER_GROUP, verified_claims

pytestmark = PEER_GROUP

flask = require_module("flask")

from identitylib.web.flask import FlaskAuth  # noqa: E402


def make_app(peer: OidcPeer) -> tuple[Any, FlaskAuth]:
    app = flask.Flask(__name__)
    app.secret_key = "oidc-peer-web-test-key"
    auth = FlaskAuth(
        app,
        client_id=peer.web_client_id,
        client_credential=peer.web_client_secret,
        oidc_authority=peer.issuer,
        scopes=[API_READ],
    )

    @app.get("/")
    def index() -> Any:
        user = auth.user
        return {"user": user.username if user else None, "csrf": auth.csrf_token()}

    @app.get("/data")
    @auth.login_required
    def data() -> Any:
        return {"token": auth.token_for_user([API_READ])["access_token"]}

    return app, auth


def test_sign_in_api_token_and_sign_out_on_oidc_provider(oidc_peer: OidcPeer) -> None:
    app, auth = make_app(oidc_peer)
    client = app.test_client()
    started = client.get("/data")
    assert started.status_code == 302
    auth_uri = started.headers["Location"]
    assert auth_uri.startswith(f"{oidc_peer.issuer}/auth?")
    answer = oidc_peer.sign_in(auth_uri, WEB_FRAMEWORK_REDIRECT_URI)
    assert "code" in answer, answer
    kept = client.post("/auth/redirect", data=answer)  # the provider's form_post
    assert kept.status_code == 303
    done = client.get(kept.headers["Location"])
    assert done.status_code == 303
    assert done.headers["Location"] == "/data"
    token = client.get("/data").get_json()["token"]
    claims = verified_claims(oidc_peer, token, oidc_peer.api_resource)
    assert claims["sub"] == "alice"
    assert client.get("/").get_json()["user"] == "alice@example.test"

    csrf = client.get("/").get_json()["csrf"]
    out = client.post("/auth/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    location = urlsplit(out.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{oidc_peer.issuer}/session/end"
    )
    assert parse_qs(location.query)["post_logout_redirect_uri"] == ["http://localhost/"]
    assert client.get("/").get_json()["user"] is None
    assert auth.auth.application.get_accounts() == []
    # oidc-provider accepts the sign-out request (its confirmation page, not an error).
    browser = oidc_peer.browser()
    try:
        page = browser.session.get(out.headers["Location"], timeout=10, allow_redirects=False)
    finally:
        browser.close()
    assert page.status_code == 200, page.text[:300]
