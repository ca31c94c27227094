"""A one-time credential (authorization code, refresh token) is never sent twice.

The emulator reads the whole token POST and then hangs up (``faults.drop``), or answers a
5xx: the client cannot know whether the server acted on the request. A refresh token or a
code must then reach the server exactly once (a provider that detects refresh-token reuse
revokes the user's whole token family; a re-sent code turns the real error into
``invalid_grant``), while requests without one (client credentials, on-behalf-of,
username/password, device-code polls) are retried as before. Both APIs, every grant.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import pytest

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
    approve_device_code,
    sign_in,
)

from ._apis import Api

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
APP_SCOPES = [f"{DEMO_API_URI}/.default"]
WEB_REDIRECT = "http://localhost:5000/getAToken"


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Api:
    return Api(request.param)


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    return emulator


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


def password_tokens(emu: Emulator) -> dict[str, Any]:
    """A refresh token and an account for Alice, obtained before any fault is set."""
    import identitylib

    app = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=identitylib.SerializableTokenCache()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(ALICE, ALICE_PASSWORD, USER_SCOPES)
    assert "refresh_token" in result, result
    cache = app.token_cache
    assert isinstance(cache, identitylib.SerializableTokenCache)
    return {"result": result, "cache": cache.serialize()}


def attempt(call: Callable[[], Any], api: Api) -> Any:
    """The call's result, or the connection error it raised (either is a fair answer)."""
    try:
        return call()
    except api.connection_error as exc:
        return exc


# ---------------------------------------------------------------- one-time: never twice


def by_refresh_token(api: Api, emu: Emulator) -> Callable[[], Any]:
    refresh_token = password_tokens(emu)["result"]["refresh_token"]
    app = api.pca(DEMO_CLI_ID, authority=emu.authority())
    return lambda: api.call(app, "acquire_token_by_refresh_token", refresh_token, USER_SCOPES)


def silent_refresh(api: Api, emu: Emulator) -> Callable[[], Any]:
    import identitylib

    cache = identitylib.SerializableTokenCache()
    cache.deserialize(password_tokens(emu)["cache"])
    app = api.pca(DEMO_CLI_ID, authority=emu.authority(), token_cache=cache)
    account = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=cache
    ).get_accounts()[0]
    # force_refresh: the cached access token is skipped, the refresh token redeemed.
    return lambda: api.call(
        app, "acquire_token_silent_with_error", USER_SCOPES, account, force_refresh=True
    )


def auth_code_flow(api: Api, emu: Emulator) -> Callable[[], Any]:
    app = api.cca(DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.authority())
    flow = api.call(app, "initiate_auth_code_flow", USER_SCOPES, redirect_uri=WEB_REDIRECT)
    answer = sign_in(flow["auth_uri"], ALICE, ALICE_PASSWORD)
    assert "code" in answer, answer
    return lambda: api.call(app, "acquire_token_by_auth_code_flow", flow, answer)


def authorization_code(api: Api, emu: Emulator) -> Callable[[], Any]:
    app = api.cca(DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.authority())
    flow = api.call(app, "initiate_auth_code_flow", USER_SCOPES, redirect_uri=WEB_REDIRECT)
    code = sign_in(flow["auth_uri"], ALICE, ALICE_PASSWORD)["code"]

    def call() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return api.call(
                app,
                "acquire_token_by_authorization_code",
                code,
                USER_SCOPES,
                redirect_uri=WEB_REDIRECT,
                code_verifier=flow["code_verifier"],
            )

    return call


ONE_TIME = [by_refresh_token, silent_refresh, auth_code_flow, authorization_code]


@pytest.mark.parametrize("grant", ONE_TIME, ids=lambda grant: grant.__name__)
def test_dropped_connection_sends_the_one_time_credential_once(
    api: Api, emu: Emulator, grant: Callable[[Api, Emulator], Callable[[], Any]]
) -> None:
    call = grant(api, emu)
    emu.reset_requests()
    emu.faults.drop(path_contains="/token")
    outcome = attempt(call, api)
    assert token_posts(emu) == 1  # read once by the server, never re-sent
    assert isinstance(outcome, api.connection_error) or "error" in outcome, outcome


@pytest.mark.parametrize("grant", ONE_TIME, ids=lambda grant: grant.__name__)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_does_not_resend_the_one_time_credential(
    api: Api, emu: Emulator, grant: Callable[[Api, Emulator], Callable[[], Any]], status: int
) -> None:
    call = grant(api, emu)
    emu.reset_requests()
    emu.faults.inject(status, path_contains="/token")
    result = call()
    assert token_posts(emu) == 1
    assert "access_token" not in result
    assert result["error"] in ("server_error", "temporarily_unavailable", "invalid_response")


@pytest.mark.parametrize("grant", [by_refresh_token, auth_code_flow], ids=lambda g: g.__name__)
@pytest.mark.parametrize("status", [429, 503])
def test_a_server_that_says_retry_after_gets_the_one_time_credential_again(
    api: Api, emu: Emulator, grant: Callable[[Api, Emulator], Callable[[], Any]], status: int
) -> None:
    # 429 or 503 with Retry-After: the server says it did not act on the request.
    call = grant(api, emu)
    emu.reset_requests()
    emu.faults.inject(status, path_contains="/token", retry_after=0)
    result = call()
    assert token_posts(emu) == 2
    assert "access_token" in result, result


# ---------------------------------------------------------- no one-time credential: retried


def client_credentials(api: Api, emu: Emulator) -> Callable[[], Any]:
    app = api.cca(DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority())
    return lambda: api.call(app, "acquire_token_for_client", APP_SCOPES)


def on_behalf_of(api: Api, emu: Emulator) -> Callable[[], Any]:
    assertion = password_tokens(emu)["result"]["access_token"]
    app = api.cca(DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority())
    return lambda: api.call(
        app, "acquire_token_on_behalf_of", assertion, ["https://graph.microsoft.com/.default"]
    )


def username_password(api: Api, emu: Emulator) -> Callable[[], Any]:
    app = api.pca(DEMO_CLI_ID, authority=emu.authority())

    def call() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return api.call(
                app, "acquire_token_by_username_password", ALICE, ALICE_PASSWORD, USER_SCOPES
            )

    return call


def device_code(api: Api, emu: Emulator) -> Callable[[], Any]:
    app = api.pca(DEMO_CLI_ID, authority=emu.authority())
    flow = api.call(app, "initiate_device_flow", USER_SCOPES)
    assert approve_device_code(flow["verification_uri"], flow["user_code"], ALICE, ALICE_PASSWORD)
    return lambda: api.call(app, "acquire_token_by_device_flow", flow)


REPLAY_SAFE = [client_credentials, on_behalf_of, username_password, device_code]


@pytest.mark.parametrize("grant", REPLAY_SAFE, ids=lambda grant: grant.__name__)
def test_requests_without_one_time_credentials_are_retried_after_a_drop(
    api: Api, emu: Emulator, grant: Callable[[Api, Emulator], Callable[[], Any]]
) -> None:
    call = grant(api, emu)
    emu.reset_requests()
    emu.faults.drop(path_contains="/token")
    result = call()
    assert token_posts(emu) == 2
    assert "access_token" in result, result


@pytest.mark.parametrize("grant", REPLAY_SAFE, ids=lambda grant: grant.__name__)
def test_requests_without_one_time_credentials_are_retried_after_a_500(
    api: Api, emu: Emulator, grant: Callable[[Api, Emulator], Callable[[], Any]]
) -> None:
    call = grant(api, emu)
    emu.reset_requests()
    emu.faults.inject(500, path_contains="/token")
    result = call()
    assert token_posts(emu) == 2
    assert "access_token" in result, result
