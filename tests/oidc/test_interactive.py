"""Interactive sign-in against oidc-provider: a scripted browser and the loopback listener."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import pytest

from tests.oidc_peer_fixture import OidcPeer

from ._support import API_READ, PEER_GROUP, Background, claims_of, public_app

pytestmark = PEER_GROUP

#: Seconds acquire_token_interactive may wait for the scripted browser.
SIGN_IN_TIMEOUT = 30


class ScriptedUser:
    """Plays the browser: signs in on the provider and lands on the loopback listener."""

    def __init__(self, peer: OidcPeer, username: str) -> None:
        self.peer = peer
        self.username = username
        self.visits: list[Background] = []
        self.urls: list[str] = []

    def visit(self, url: str) -> None:
        # The app waits on its listener after launching the browser, so the browser works
        # on its own thread, as a real one would.
        self.urls.append(url)
        browser = self.peer.browser(self.username)

        def browse() -> Any:
            try:
                return browser.open(url)
            finally:
                browser.close()

        self.visits.append(Background(browse))

    def launcher(self) -> Callable[[str], bool]:
        def open_browser(url: str) -> bool:
            self.visit(url)
            return True

        return open_browser

    def final_page(self) -> str:
        assert len(self.visits) == 1, self.urls
        return str(self.visits[0].result().page)

    def sign_in(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run the app's interactive call; if it fails, report the browser's failure first."""
        try:
            return call()
        except Exception:
            for visit in self.visits:
                visit.result()  # raises what went wrong in the browser, if anything
            raise


def patch_browser(
    monkeypatch: pytest.MonkeyPatch, launcher: Callable[[str], bool]
) -> Optional[str]:
    """Replace the library's browser launcher; None when there is no such launcher yet."""
    try:
        from identitylib._interactive import _browser
    except ImportError:
        return None
    monkeypatch.setattr(_browser, "open_browser", launcher)
    return "identitylib._interactive._browser.open_browser"


def test_interactive_sign_in(oidc_peer: OidcPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    user = ScriptedUser(oidc_peer, "grace")
    assert patch_browser(monkeypatch, user.launcher())
    app = public_app(oidc_peer)
    result = user.sign_in(
        lambda: app.acquire_token_interactive([API_READ], timeout=SIGN_IN_TIMEOUT)
    )
    assert "access_token" in result, result
    assert claims_of(result["access_token"])["aud"] == oidc_peer.api_resource
    assert result["id_token_claims"]["sub"] == "grace"
    assert result["refresh_token"]
    # The native client's registered redirect URI is http://localhost without a port:
    # oidc-provider accepts any loopback port for it (RFC 8252 §7.3).
    assert "redirect_uri=http%3A%2F%2Flocalhost%3A" in user.urls[0]
    assert "response_mode=form_post" in user.urls[0]
    assert "<form" not in user.final_page()  # the listener's success page
    (account,) = app.get_accounts()
    assert account["home_account_id"] == "grace"
    assert account["account_source"] == "authorization_code"


def test_interactive_through_auth_uri_callback(
    oidc_peer: OidcPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MSAL's documented hook for when no browser can be opened.
    user = ScriptedUser(oidc_peer, "heidi")
    patch_browser(monkeypatch, lambda url: False)
    app = public_app(oidc_peer)
    result = user.sign_in(
        lambda: app.acquire_token_interactive(
            [API_READ], timeout=SIGN_IN_TIMEOUT, auth_uri_callback=user.visit
        )
    )
    assert result.get("id_token_claims", {}).get("sub") == "heidi", result
    user.final_page()


def test_interactive_prompt_none_without_session(
    oidc_peer: OidcPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The provider's error comes back to the listener (HTTP 400 form_post page) and
    # becomes an error result.
    user = ScriptedUser(oidc_peer, "ivan")
    patch_browser(monkeypatch, user.launcher())
    app = public_app(oidc_peer)
    result = user.sign_in(
        lambda: app.acquire_token_interactive([API_READ], prompt="none", timeout=SIGN_IN_TIMEOUT)
    )
    assert result.get("error") == "login_required", result
    user.final_page()


def test_interactive_then_refresh_with_consent_prompt(
    oidc_peer: OidcPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = ScriptedUser(oidc_peer, "judy")
    patch_browser(monkeypatch, user.launcher())
    app = public_app(oidc_peer)
    first = user.sign_in(
        lambda: app.acquire_token_interactive([API_READ], prompt="consent", timeout=SIGN_IN_TIMEOUT)
    )
    assert "access_token" in first, first
    (account,) = app.get_accounts()
    refreshed = app.acquire_token_silent_with_error([API_READ], account, force_refresh=True)
    assert refreshed is not None
    assert refreshed.get("token_source") == "identity_provider", refreshed
    assert refreshed["refresh_token"] != first["refresh_token"]  # public client: rotated
