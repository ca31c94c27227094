"""Helpers for the tests against the oidc-provider peer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Optional

import jwt
import pytest
import requests

import identitylib
from tests.oidc_peer_fixture import OidcPeer

#: Every module here uses the session's oidc-provider: under pytest-xdist with --dist loadgroup
#: (as .ci/test runs the suite) they share one worker, which starts one Node.js server
#: instead of one per worker. Without xdist the mark does nothing.
PEER_GROUP = pytest.mark.xdist_group("oidc-peer")

API_READ = "api.read"
API_WRITE = "api.write"
#: Every test thread (a browser signing in meanwhile) is joined within this many seconds.
THREAD_TIMEOUT = 60.0


class CountingSession(requests.Session):
    """A ``requests.Session`` that records every request (an MSAL-style ``http_client``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        m = method.decode() if isinstance(method, bytes) else method
        u = url.decode() if isinstance(url, bytes) else url
        self.calls.append((m.upper(), u.split("?")[0]))
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)

    def paths(self, peer: OidcPeer) -> list[str]:
        """The paths requested on ``peer`` (e.g. ``/token``)."""
        return [u[len(peer.issuer) :] for _, u in self.calls if u.startswith(peer.issuer)]


def web_app(
    peer: OidcPeer, http_client: Optional[requests.Session] = None, **kwargs: Any
) -> identitylib.ConfidentialClientApplication:
    """The peer's confidential web client (client_secret_post)."""
    kwargs.setdefault("oidc_authority", peer.issuer)
    return identitylib.ConfidentialClientApplication(
        peer.web_client_id, peer.web_client_secret, http_client=http_client, **kwargs
    )


def public_app(
    peer: OidcPeer, http_client: Optional[requests.Session] = None, **kwargs: Any
) -> identitylib.PublicClientApplication:
    """The peer's public native client (no secret, PKCE, loopback redirect URIs)."""
    kwargs.setdefault("oidc_authority", peer.issuer)
    return identitylib.PublicClientApplication(
        peer.public_client_id, http_client=http_client, **kwargs
    )


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified."""
    return dict(jwt.decode(token, options={"verify_signature": False}))


def verified_claims(peer: OidcPeer, token: str, audience: str) -> dict[str, Any]:
    """The claims of a JWT the peer signed, with its signature checked against the JWKS."""
    jwks = requests.get(f"{peer.issuer}/jwks", timeout=10).json()
    kid = jwt.get_unverified_header(token).get("kid")
    key = next(k for k in jwks["keys"] if k.get("kid") == kid)
    return dict(
        jwt.decode(
            token,
            jwt.PyJWK(key).key,
            algorithms=[key.get("alg", "RS256")],
            audience=audience,
            issuer=peer.issuer,
        )
    )


class Background:
    """Run ``target`` on a daemon thread; :meth:`result` re-raises what it raised."""

    def __init__(self, target: Callable[[], Any]) -> None:
        self._target = target
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._target()
        except BaseException as exc:  # reported by result()
            self._error = exc

    @property
    def failed(self) -> bool:
        """True once the task ended with an exception."""
        return not self._thread.is_alive() and self._error is not None

    def result(self, timeout: float = THREAD_TIMEOUT) -> Any:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"background task still running after {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value


def sign_in(
    oidc_peer: OidcPeer,
    app: identitylib.ClientApplication,
    scopes: list[str],
    username: str = "alice",
    **options: Any,
) -> dict[str, Any]:
    """Start a flow, sign in at the provider as ``username``, redeem the code."""
    options.setdefault("redirect_uri", oidc_peer.web_redirect_uri)
    options.setdefault("response_mode", "form_post")
    flow = app.initiate_auth_code_flow(scopes, **options)
    auth_response = oidc_peer.sign_in(flow["auth_uri"], flow["redirect_uri"], username)
    return app.acquire_token_by_auth_code_flow(flow, auth_response)
