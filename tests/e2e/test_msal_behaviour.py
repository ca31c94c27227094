"""Behaviour msal's users and azure-identity rely on (issue #16, "Behaviour that differs"):
the same public calls on msal 1.39, identitylib and identitylib.aio against the emulator
over HTTPS, with the same results."""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import identitylib
import identitylib.aio
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    EmulatorConfig,
)
from tests._servers import require_module

from ._browser import form_post_fields, sign_in

msal = require_module("msal")
require_module("httpx")
pytestmark = pytest.mark.msal

ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
API = [f"{DEMO_API_URI}/access_as_user"]
GRAPH = ["https://graph.microsoft.com/User.Read"]
DAEMON_SCOPES = [f"{DEMO_API_URI}/.default"]
KINDS = ["msal", "identitylib", "identitylib.aio"]
REDIRECT_URI = "http://localhost:5000/getAToken"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig.default(), tls=True) as emulator:
        yield emulator


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The event loop the asyncio apps of a test run on (one per test)."""
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


class Driver:
    """Builds one library's apps and calls their public methods from blocking test code
    (an identitylib.aio coroutine runs to completion on the test's loop)."""

    def __init__(self, kind: str, emu: Emulator, loop: asyncio.AbstractEventLoop) -> None:
        self.kind = kind
        self.emu = emu
        self.loop = loop
        self.apps: list[Any] = []
        self.sessions: list[requests.Session] = []

    def cache(self) -> Any:
        return (msal if self.kind == "msal" else identitylib).SerializableTokenCache()

    def confidential(self, client_id: str, secret: str, **kwargs: Any) -> Any:
        authority = self.emu.authority()
        if self.kind == "msal":
            session = requests.Session()
            session.trust_env = False
            session.verify = self.emu.ca_path
            self.sessions.append(session)
            app = msal.ConfidentialClientApplication(
                client_id, secret, authority=authority, http_client=session,
                instance_discovery=False, **kwargs,
            )  # fmt: skip
        else:
            library = identitylib if self.kind == "identitylib" else identitylib.aio
            app = library.ConfidentialClientApplication(
                client_id, secret, authority=authority, verify=self.emu.ca_path, **kwargs
            )
        self.apps.append(app)
        return app

    def call(self, app: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(app, method)(*args, **kwargs)
        if inspect.isawaitable(result):
            result = self.loop.run_until_complete(result)
        return result

    def close(self) -> None:
        for app in self.apps:
            if isinstance(app, identitylib.aio.ClientApplication):
                self.loop.run_until_complete(app.aclose())
        for session in self.sessions:
            session.close()


@pytest.fixture(params=KINDS)
def lib(
    request: pytest.FixtureRequest, emu: Emulator, loop: asyncio.AbstractEventLoop
) -> Iterator[Driver]:
    emu.faults.reset()
    emu.reset_requests()
    driver = Driver(request.param, emu, loop)
    yield driver
    driver.close()


def user_assertion(emu: Emulator) -> str:
    """A user token for the demo API: the assertion its middle tier exchanges."""
    front = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ROPC
        result = front.acquire_token_by_username_password(*ALICE, API)
    assert "access_token" in result, result
    return str(result["access_token"])


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


def access_tokens(cache: Any) -> list[str]:
    return sorted(entry["secret"] for entry in cache.search("AccessToken"))


# --------------------------------------------------------- acquire_token_silent after OBO


def test_silent_serves_the_token_obtained_on_behalf_of_the_user(lib: Driver, emu: Emulator) -> None:
    """azure-identity's OnBehalfOfCredential: acquire_token_on_behalf_of once, then
    get_accounts() and acquire_token_silent(): the cached token, with no request."""
    assertion = user_assertion(emu)
    api = lib.confidential(DEMO_API_ID, DEMO_API_SECRET)
    first = lib.call(api, "acquire_token_on_behalf_of", assertion, GRAPH)
    assert first["token_source"] == "identity_provider", first
    (account,) = lib.call(api, "get_accounts", username=ALICE[0])
    emu.reset_requests()
    again = lib.call(api, "acquire_token_silent", GRAPH, account)
    assert again is not None
    assert (again["access_token"], again["token_source"]) == (first["access_token"], "cache")
    assert emu.requests == []


# ------------------------------------------------------------- app.token_cache = another


def test_an_assigned_token_cache_serves_every_later_call(lib: Driver, emu: Emulator) -> None:
    """After app.token_cache = other, acquisitions read and write the other cache."""
    first, second = lib.cache(), lib.cache()
    daemon = lib.confidential(DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, token_cache=first)
    one = lib.call(daemon, "acquire_token_for_client", DAEMON_SCOPES)
    assert one["token_source"] == "identity_provider", one

    daemon.token_cache = second
    assert daemon.token_cache is second
    two = lib.call(daemon, "acquire_token_for_client", DAEMON_SCOPES)
    assert two["token_source"] == "identity_provider", two  # the new cache had nothing
    assert access_tokens(first) == [one["access_token"]]
    assert access_tokens(second) == [two["access_token"]]

    daemon.token_cache = first
    back = lib.call(daemon, "acquire_token_for_client", DAEMON_SCOPES)
    assert (back["access_token"], back["token_source"]) == (one["access_token"], "cache")
    assert token_posts(emu) == 2


def test_an_assigned_token_cache_keeps_users_apart(lib: Driver, emu: Emulator) -> None:
    """A per-request cache: the user's tokens live in the cache that was assigned when
    they were obtained, and a call with another cache never sees them."""
    assertion = user_assertion(emu)
    users, empty = lib.cache(), lib.cache()
    api = lib.confidential(DEMO_API_ID, DEMO_API_SECRET, token_cache=users)
    obtained = lib.call(api, "acquire_token_on_behalf_of", assertion, GRAPH)
    (account,) = lib.call(api, "get_accounts")

    api.token_cache = empty
    assert lib.call(api, "get_accounts") == []
    assert lib.call(api, "acquire_token_silent", GRAPH, account) is None
    assert access_tokens(empty) == []

    api.token_cache = users
    served = lib.call(api, "acquire_token_silent", GRAPH, account)
    assert served is not None
    assert (served["access_token"], served["token_source"]) == (obtained["access_token"], "cache")


# ------------------------------------------------------------ a flow dict built by hand


def signed_in_by_hand(lib: Driver, emu: Emulator, kept: tuple[str, ...]) -> tuple[Any, Any]:
    """A web app that kept only some fields of its flow dict: (app, token result)."""
    web = lib.confidential(DEMO_WEB_ID, DEMO_WEB_SECRET)
    flow = lib.call(
        web, "initiate_auth_code_flow", API, redirect_uri=REDIRECT_URI, response_mode="form_post"
    )
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = emu.ca_path
    with browser:
        auth_response = form_post_fields(sign_in(browser, flow["auth_uri"], *ALICE))
    by_hand = {name: flow[name] for name in kept}
    return web, lib.call(web, "acquire_token_by_auth_code_flow", by_hand, auth_response)


def test_a_flow_dict_with_state_and_code_verifier_is_redeemed(lib: Driver, emu: Emulator) -> None:
    """Only state and code_verifier: the code is redeemed without redirect_uri and scope,
    and the server's answer (it wants the redirect_uri) is the result, in both libraries."""
    _, result = signed_in_by_hand(lib, emu, ("state", "code_verifier"))
    assert result["error"] == "invalid_request", result
    assert result["error_codes"] == [900144]
    assert "redirect_uri" in result["error_description"]
    assert token_posts(emu) == 1


def test_a_flow_dict_built_by_hand_signs_the_user_in(lib: Driver, emu: Emulator) -> None:
    """No scope in the flow dict: the granted scopes are cached, the account is listed and
    its token served silently."""
    kept = ("state", "code_verifier", "redirect_uri", "nonce")
    web, result = signed_in_by_hand(lib, emu, kept)
    assert result["token_source"] == "identity_provider", result
    assert result["id_token_claims"]["preferred_username"] == ALICE[0]
    (account,) = lib.call(web, "get_accounts")
    emu.reset_requests()
    again = lib.call(web, "acquire_token_silent", API, account)
    assert again is not None
    assert (again["access_token"], again["token_source"]) == (result["access_token"], "cache")
    assert emu.requests == []


def test_a_flow_dict_without_its_nonce(lib: Driver, emu: Emulator) -> None:
    """The documented difference: msal cannot check the ID token's nonce and raises
    KeyError; identitylib accepts the ID token (audience, issuer and lifetime checked)."""
    kept = ("state", "code_verifier", "redirect_uri")
    if lib.kind == "msal":
        with pytest.raises(KeyError, match="nonce"):
            signed_in_by_hand(lib, emu, kept)
        return
    _, result = signed_in_by_hand(lib, emu, kept)
    assert result["token_source"] == "identity_provider", result
    assert result["id_token_claims"]["preferred_username"] == ALICE[0]


def test_a_flow_dict_by_hand_must_still_match_the_state(lib: Driver, emu: Emulator) -> None:
    web = lib.confidential(DEMO_WEB_ID, DEMO_WEB_SECRET)
    forged = {"state": "expected", "code_verifier": "v" * 43}
    with pytest.raises(ValueError, match="state"):
        lib.call(web, "acquire_token_by_auth_code_flow", forged, {"code": "c", "state": "other"})
    assert token_posts(emu) == 0
