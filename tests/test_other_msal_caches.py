"""A token cache shared with msal-node and MSAL.NET: their tokens are served, ours stay msal
Python's, beside the real msal 1.39 (which reads none of theirs).

The caches of the other libraries are written by hand in ``tests/_other_msals.py`` (each
fact there names its source). The emulator runs at ``https://localhost:PORT``: a port, so
msal-node writes ``localhost:PORT`` where msal Python writes ``localhost``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

import identitylib
from identitylib.emulator import (
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_DOMAIN,
    DEMO_TENANT_ID,
    Emulator,
)
from tests._servers import require_module

from ._other_msals import cache_json, dotnet_app_token, node_app_token, node_user_cache
from .conftest import add_discovery

msal = require_module("msal")
pytestmark = pytest.mark.msal

APP_SCOPES = [f"{DEMO_API_URI}/.default"]
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
ALICE = ("alice@contoso.onmicrosoft.com", "alice-password")
TOKEN_PATH = "/oauth2/v2.0/token"


@pytest.fixture
def emu(identitylib_emulator_tls: Emulator) -> Emulator:
    identitylib_emulator_tls.faults.reset()
    identitylib_emulator_tls.reset_requests()
    return identitylib_emulator_tls


@pytest.fixture
def http(emu: Emulator) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_path
    yield session
    session.close()


def posts(mock: responses.RequestsMock) -> list[Any]:
    """The POSTs ``mock`` answered (token requests)."""
    return [call for call in mock.calls if call.request.method == "POST"]


def netloc(emu: Emulator) -> str:
    return emu.base_url.split("://", 1)[1]


def token_requests(emu: Emulator) -> list[str]:
    return [path for method, path in emu.requests if path.endswith(TOKEN_PATH)]


def cache_of(serialized: str) -> identitylib.SerializableTokenCache:
    cache = identitylib.SerializableTokenCache()
    cache.deserialize(serialized)
    return cache


def msal_cache_of(serialized: str) -> Any:
    cache = msal.SerializableTokenCache()
    cache.deserialize(serialized)
    return cache


def daemon(emu: Emulator, cache: Any, tenant: str = DEMO_TENANT_DOMAIN) -> Any:
    return identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        authority=emu.authority(tenant),
        token_cache=cache,
        verify=emu.ca_path,
    )


def msal_daemon(emu: Emulator, http: requests.Session, cache: Any) -> Any:
    return msal.ConfidentialClientApplication(
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        authority=emu.authority(DEMO_TENANT_DOMAIN),
        token_cache=cache,
        http_client=http,
        instance_discovery=False,
    )


def node_form(emu: Emulator, secret: str = "node-app-token") -> tuple[str, dict[str, Any]]:
    return node_app_token(
        environment=netloc(emu),  # msal-node: host and port
        client_id=DEMO_DAEMON_ID,
        tenant=DEMO_TENANT_DOMAIN,  # as the app wrote it
        target=APP_SCOPES[0],
        secret=secret,
    )


def dotnet_form(emu: Emulator, secret: str = "dotnet-app-token") -> tuple[str, dict[str, Any]]:
    return dotnet_app_token(
        environment="localhost",  # MSAL.NET: the host, without the port
        client_id=DEMO_DAEMON_ID,
        tenant=DEMO_TENANT_DOMAIN,
        target=APP_SCOPES[0],
        secret=secret,
    )


FORMS = {"msal-node": node_form, "MSAL.NET": dotnet_form}


# ---------------------------------------------------------------------- app tokens


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_app_token_of_another_msal_is_served_where_msal_requests_one(
    emu: Emulator, http: requests.Session, form: Any
) -> None:
    key, entry = form(emu)
    shared = cache_json((key, entry))

    result = daemon(emu, cache_of(shared)).acquire_token_for_client(APP_SCOPES)
    assert (result["access_token"], result["token_source"]) == (entry["secret"], "cache")
    assert token_requests(emu) == []

    # msal 1.39 finds nothing there (home_account_id, realm, environment all differ):
    # it requests a token (the difference documented in docs/migrating.md).
    theirs = msal_daemon(emu, http, msal_cache_of(shared)).acquire_token_for_client(APP_SCOPES)
    assert theirs["token_source"] == "identity_provider", theirs
    assert theirs["access_token"] != entry["secret"]


@pytest.mark.parametrize(
    ("writer", "fields"),
    [
        (node_app_token, {}),
        (dotnet_app_token, {}),
        (node_app_token, {"requestedClaimsHash": "h", "requestedClaims": '{"a":1}'}),
        (dotnet_app_token, {"kid": "key-1", "token_type": "pop"}),
        (dotnet_app_token, {"ext": {"fmi_path": "a/b"}}),
    ],
    ids=["node", "dotnet", "node-claims-bound", "dotnet-key-bound", "dotnet-extended-key"],
)
def test_public_cloud_app_tokens_of_other_msals(writer: Any, fields: dict[str, Any]) -> None:
    # Both write Entra's preferred cache host, login.windows.net; a token bound to claims,
    # a key or extra key components is never served to a plain request.
    tenant = "11111111-2222-3333-4444-555555555555"
    authority = f"https://login.microsoftonline.com/{tenant}"
    key, entry = writer(
        environment="login.windows.net",
        client_id="cid",
        tenant=tenant,
        target="https://graph.microsoft.com/.default",
        secret="their-token",
        **fields,
    )
    shared = cache_json((key, entry))
    scopes = ["https://graph.microsoft.com/.default"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        endpoint = add_discovery(mock, tenant=tenant)
        mock.post(endpoint, json={"access_token": "new-token", "expires_in": 3599})
        app = identitylib.ConfidentialClientApplication(
            "cid", "secret", authority=authority, token_cache=cache_of(shared)
        )
        result = app.acquire_token_for_client(scopes)
        expected = "new-token" if fields else "their-token"
        assert result["access_token"] == expected
        assert len(posts(mock)) == (1 if fields else 0)

        mock.replace(
            responses.POST, endpoint, json={"access_token": "msal-token", "expires_in": 3599}
        )
        theirs = msal.ConfidentialClientApplication(
            "cid", "secret", authority=authority, token_cache=msal_cache_of(shared)
        ).acquire_token_for_client(scopes)
        assert theirs["access_token"] == "msal-token"


def test_tokens_identitylib_writes_beside_theirs_are_msal_pythons(
    emu: Emulator, http: requests.Session
) -> None:
    node_key, node_entry = node_form(emu)
    dotnet_key, dotnet_entry = dotnet_form(emu)
    cache = cache_of(cache_json((node_key, node_entry), (dotnet_key, dotnet_entry)))
    other_scopes = ["https://graph.microsoft.com/.default"]
    ours = daemon(emu, cache).acquire_token_for_client(other_scopes)
    assert ours["token_source"] == "identity_provider", ours

    written = json.loads(cache.serialize())["AccessToken"]
    assert written[node_key] == node_entry  # theirs untouched
    assert written[dotnet_key] == dotnet_entry
    [entry] = [e for k, e in written.items() if k not in (node_key, dotnet_key)]
    assert entry["home_account_id"] is None  # msal Python's form
    assert entry["environment"] == "localhost"
    assert entry["realm"] == DEMO_TENANT_ID
    # ... which msal 1.39 serves from the same cache.
    theirs = msal_daemon(emu, http, msal_cache_of(cache.serialize()))
    emu.reset_requests()
    hit = theirs.acquire_token_for_client(other_scopes)
    assert (hit["access_token"], hit["token_source"]) == (ours["access_token"], "cache")
    assert token_requests(emu) == []


def test_remove_tokens_for_client_removes_their_forms_too(emu: Emulator) -> None:
    cache = cache_of(cache_json(node_form(emu), dotnet_form(emu)))
    app = daemon(emu, cache)
    assert app.acquire_token_for_client(APP_SCOPES)["token_source"] == "cache"
    app.remove_tokens_for_client()
    assert json.loads(cache.serialize())["AccessToken"] == {}
    assert app.acquire_token_for_client(APP_SCOPES)["token_source"] == "identity_provider"


# --------------------------------------------------------------------- user tokens


@pytest.fixture
def signed_in(emu: Emulator) -> dict[str, Any]:
    """A real sign-in of Alice (its refresh token and ID token fill msal-node's cache)."""
    app = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(*ALICE, USER_SCOPES)
    assert "refresh_token" in result, result
    emu.reset_requests()
    return result


def node_user_json(emu: Emulator, signed_in: dict[str, Any]) -> str:
    sections = node_user_cache(
        signed_in, environment=netloc(emu), client_id=DEMO_CLI_ID, access_token="node-user-at"
    )
    return cache_json(sections=sections)


def public(emu: Emulator, cache: Any) -> identitylib.PublicClientApplication:
    return identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), token_cache=cache, verify=emu.ca_path
    )


def msal_public(emu: Emulator, http: requests.Session, cache: Any) -> Any:
    return msal.PublicClientApplication(
        DEMO_CLI_ID,
        authority=emu.authority(),
        token_cache=cache,
        http_client=http,
        instance_discovery=False,
    )


def test_user_tokens_msal_node_cached_at_a_port(
    emu: Emulator, http: requests.Session, signed_in: dict[str, Any]
) -> None:
    shared = node_user_json(emu, signed_in)
    cache = cache_of(shared)
    app = public(emu, cache)
    [account] = app.get_accounts()
    assert account["username"] == ALICE[0]
    assert account["environment"] == netloc(emu)
    hit = app.acquire_token_silent(USER_SCOPES, account)
    assert hit is not None
    assert (hit["access_token"], hit["token_source"]) == ("node-user-at", "cache")
    assert token_requests(emu) == []

    # msal 1.39 lists no account there, and has no token for the account.
    theirs = msal_public(emu, http, msal_cache_of(shared))
    assert theirs.get_accounts() == []
    assert theirs.acquire_token_silent(USER_SCOPES, account) is None

    # Their refresh token redeemed: the new tokens are written in msal Python's form
    # (theirs stay), and msal 1.39 serves them.
    refreshed = app.acquire_token_silent(USER_SCOPES, account, force_refresh=True)
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider", refreshed
    sections = json.loads(cache.serialize())
    node_sections = json.loads(shared)
    for name in ("AccessToken", "RefreshToken", "IdToken", "Account"):
        assert node_sections[name].items() <= sections[name].items(), name
    theirs_rts = node_sections["RefreshToken"]
    new_rts = [rt for key, rt in sections["RefreshToken"].items() if key not in theirs_rts]
    assert [rt["environment"] for rt in new_rts] == ["localhost"]
    assert new_rts[0]["secret"] == refreshed["refresh_token"]
    emu.reset_requests()
    theirs = msal_public(emu, http, msal_cache_of(cache.serialize()))
    served = theirs.acquire_token_silent(USER_SCOPES, account)
    assert served is not None
    assert (served["access_token"], served["token_source"]) == (
        refreshed["access_token"],
        "cache",
    )
    assert token_requests(emu) == []


def test_remove_account_removes_their_entries(emu: Emulator, signed_in: dict[str, Any]) -> None:
    cache = cache_of(node_user_json(emu, signed_in))
    app = public(emu, cache)
    [account] = app.get_accounts()
    app.remove_account(account)
    assert app.get_accounts() == []
    assert app.acquire_token_silent(USER_SCOPES, account) is None
    sections = json.loads(cache.serialize())
    for name in ("AccessToken", "RefreshToken", "IdToken", "Account"):
        assert sections[name] == {}, name


def test_user_tokens_of_a_tenantless_authority_in_their_realm() -> None:
    # msal-node and MSAL.NET keep a user token under the ID token's tid even when the app
    # signed in with .../common; msal Python under "common".
    tenant = "11111111-2222-3333-4444-555555555555"
    home = f"uid.{tenant}"
    key, entry = node_app_token(
        environment="login.windows.net",
        client_id="cid",
        tenant=tenant,
        target="User.Read",
        secret="their-user-token",
    )
    entry["home_account_id"] = home
    shared = cache_json((key.replace("-login.windows.net", f"{home}-login.windows.net"), entry))
    account = {"home_account_id": home, "environment": "login.windows.net"}
    authority = "https://login.microsoftonline.com/common"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        add_discovery(mock, tenant="common")  # and no token endpoint: nothing to ask
        app = identitylib.PublicClientApplication(
            "cid", authority=authority, token_cache=cache_of(shared)
        )
        hit = app.acquire_token_silent(["User.Read"], account)
        assert hit is not None
        assert hit["access_token"] == "their-user-token"

        theirs = msal.PublicClientApplication(
            "cid", authority=authority, token_cache=msal_cache_of(shared), instance_discovery=False
        )
        assert theirs.acquire_token_silent(["User.Read"], account) is None
        assert posts(mock) == []


# -------------------------------------------------------------------- generic OIDC


def test_generic_oidc_tokens_are_not_shared_with_msal(
    emu: Emulator, http: requests.Session
) -> None:
    # msal's environment for oidc_authority= is the host; identitylib's is host, port and
    # path, so that two issuers of one host never share tokens: neither serves the other's
    # (the difference documented in docs/migrating.md and docs/generic-oidc.md).
    issuer = f"{emu.authority()}/v2.0"

    def msal_app(cache: Any) -> Any:
        return msal.ConfidentialClientApplication(
            DEMO_DAEMON_ID,
            DEMO_DAEMON_SECRET,
            oidc_authority=issuer,
            http_client=http,
            token_cache=cache,
        )

    def our_app(cache: Any) -> identitylib.ConfidentialClientApplication:
        return identitylib.ConfidentialClientApplication(
            DEMO_DAEMON_ID,
            DEMO_DAEMON_SECRET,
            oidc_authority=issuer,
            verify=emu.ca_path,
            token_cache=cache,
        )

    theirs = msal.SerializableTokenCache()
    assert msal_app(theirs).acquire_token_for_client(APP_SCOPES)["token_source"] == (
        "identity_provider"
    )
    [entry] = json.loads(theirs.serialize())["AccessToken"].values()
    assert entry["environment"] == "localhost"
    result = our_app(cache_of(theirs.serialize())).acquire_token_for_client(APP_SCOPES)
    assert result["token_source"] == "identity_provider"

    ours = identitylib.SerializableTokenCache()
    assert our_app(ours).acquire_token_for_client(APP_SCOPES)["token_source"] == (
        "identity_provider"
    )
    [entry] = json.loads(ours.serialize())["AccessToken"].values()
    assert entry["environment"] == issuer.split("://", 1)[1].lower()
    result = msal_app(msal_cache_of(ours.serialize())).acquire_token_for_client(APP_SCOPES)
    assert result["token_source"] == "identity_provider"
