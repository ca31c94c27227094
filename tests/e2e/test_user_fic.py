"""The user federated identity credential grant (``user_fic``), side by side with msal 1.39.

An agent app (the emulator's demo-agent) presents a managed identity's token for
``api://AzureADTokenExchange`` as its federated credential and gets a user's tokens. The
same public calls run on identitylib and on the real msal package against the emulator
over HTTPS; each test asserts the same wire request and the same results on both, or the
documented difference (docs/migrating.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

import identitylib
from identitylib.emulator import (
    DEMO_AGENT_ID,
    DEMO_AGENT_SECRET,
    DEMO_CLI_ID,
    DEMO_MI_CLIENT_ID,
    DEMO_TENANT_ID,
    TOKEN_EXCHANGE_AUDIENCE,
    Emulator,
)
from tests._servers import require_module

ALICE, ALICE_OID = "alice@contoso.onmicrosoft.com", "0a1b2c3d-0000-4000-8000-00000000a11c"
BOB_OID = "0a1b2c3d-0000-4000-8000-000000000b0b"
GRAPH = ["https://graph.microsoft.com/User.Read"]
SYSTEM_MI = "a1b2c3d4-0007-4000-8000-0000000000e5"
FORWARDED = '{"access_token": {"xms_ds_nonce": {"value": "n1"}}}'
TIMEOUT = (5.0, 15.0)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(tls=True) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    emu.faults.reset()
    emu.reset_requests()


class RecordingSession(requests.Session):
    """A real HTTP client trusting the emulator's CA that records the POSTs it sends."""

    def __init__(self, emu: Emulator) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = emu.ca_path
        self.posts: list[tuple[str, dict[str, str], dict[str, str]]] = []  # url, body, headers

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Any:
        if method.upper() == "POST":
            data = kwargs.get("data")
            self.posts.append(
                (
                    url,
                    dict(data or {}),
                    {k.lower(): v for k, v in (kwargs.get("headers") or {}).items()},
                )
            )
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(params=["identitylib", pytest.param("msal", marks=pytest.mark.msal)])
def lib(request: pytest.FixtureRequest) -> Any:
    if request.param == "msal":
        return require_module("msal")
    return identitylib


def agent(lib: Any, emu: Emulator, session: RecordingSession, **kwargs: Any) -> Any:
    """The demo agent app of ``lib`` (identitylib or msal), sending through ``session``."""
    return lib.ConfidentialClientApplication(
        DEMO_AGENT_ID,
        DEMO_AGENT_SECRET,
        authority=emu.authority(),
        http_client=session,
        instance_discovery=False,
        **kwargs,
    )


def mi_token(
    emu: Emulator, client_id: str = DEMO_MI_CLIENT_ID, resource: str = TOKEN_EXCHANGE_AUDIENCE
) -> str:
    """A managed identity's token from the emulator's IMDS (the agent's credential)."""
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(
            emu.imds_endpoint,
            params={"api-version": "2018-02-01", "resource": resource, "client_id": client_id},
            headers={"Metadata": "true"},
            verify=emu.ca_path,
            timeout=TIMEOUT,
        )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def token_posts(emu: Emulator) -> int:
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


# ---------------------------------------------------------------- the grant on the wire


def test_by_username_wire_and_result(lib: Any, emu: Emulator) -> None:
    fic = mi_token(emu)
    session = RecordingSession(emu)
    result = agent(lib, emu, session).acquire_token_by_user_federated_identity_credential(
        GRAPH, fic, username=ALICE
    )
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"
    assert {"refresh_token", "id_token", "client_info", "id_token_claims"} <= set(result)
    assert result["id_token_claims"]["preferred_username"] == ALICE
    at = claims_of(result["access_token"])
    assert (at["oid"], at["azp"], at["amr"], at["scp"]) == (
        ALICE_OID,
        DEMO_AGENT_ID,
        ["fed"],
        "User.Read",
    )
    ((url, body, headers),) = session.posts
    assert url == f"{emu.authority()}/oauth2/v2.0/token"
    assert body["grant_type"] == "user_fic"
    assert body["user_federated_identity_credential"] == fic
    assert body["username"] == ALICE
    assert "user_id" not in body
    assert (body["client_id"], body["client_secret"], body["client_info"]) == (
        DEMO_AGENT_ID,
        DEMO_AGENT_SECRET,
        "1",
    )
    assert set(body["scope"].split()) == {*GRAPH, "openid", "profile", "offline_access"}
    assert headers["x-anchormailbox"] == f"upn:{ALICE}"


def test_by_object_id_wire_and_result(lib: Any, emu: Emulator) -> None:
    session = RecordingSession(emu)
    result = agent(lib, emu, session).acquire_token_by_user_federated_identity_credential(
        GRAPH, mi_token(emu), user_object_id=BOB_OID
    )
    assert "access_token" in result, result
    assert claims_of(result["access_token"])["oid"] == BOB_OID
    ((_, body, headers),) = session.posts
    assert body["user_id"] == BOB_OID
    assert "username" not in body
    assert headers["x-anchormailbox"] == f"Oid:{BOB_OID}@{DEMO_TENANT_ID}"


def test_same_request_fields_and_result_keys_on_both_libraries(emu: Emulator) -> None:
    msal = require_module("msal")
    fic = mi_token(emu)
    seen = {}
    for library in (identitylib, msal):
        session = RecordingSession(emu)
        result = agent(library, emu, session).acquire_token_by_user_federated_identity_credential(
            GRAPH, fic, username=ALICE, claims_challenge=None
        )
        ((_, body, headers),) = session.posts
        seen[library.__name__] = (sorted(body), sorted(result), headers["x-anchormailbox"])
    assert seen["identitylib"] == seen["msal"]


# ---------------------------------------------------------------- the cache


def test_tokens_are_the_users_and_served_silently(lib: Any, emu: Emulator) -> None:
    session = RecordingSession(emu)
    app = agent(lib, emu, session)
    first = app.acquire_token_by_user_federated_identity_credential(
        GRAPH, mi_token(emu), username=ALICE
    )
    assert "access_token" in first, first
    (account,) = app.get_accounts(username=ALICE)
    assert account["account_source"] == "user_fic"
    assert account["home_account_id"] == f"{ALICE_OID}.{DEMO_TENANT_ID}"
    emu.reset_requests()
    cached = app.acquire_token_silent(GRAPH, account)
    assert cached is not None
    assert (cached["token_source"], cached["access_token"]) == ("cache", first["access_token"])
    assert token_posts(emu) == 0
    refreshed = app.acquire_token_silent(GRAPH, account, force_refresh=True)
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != first["access_token"]
    assert session.posts[-1][1]["grant_type"] == "refresh_token"
    assert claims_of(refreshed["access_token"])["oid"] == ALICE_OID


def test_every_call_asks_the_server(lib: Any, emu: Emulator) -> None:
    """As msal: the grant itself does not look in the cache (silent calls do)."""
    app = agent(lib, emu, RecordingSession(emu))
    fic = mi_token(emu)
    first = app.acquire_token_by_user_federated_identity_credential(GRAPH, fic, username=ALICE)
    second = app.acquire_token_by_user_federated_identity_credential(GRAPH, fic, username=ALICE)
    assert (first["token_source"], second["token_source"]) == ("identity_provider",) * 2
    assert token_posts(emu) == 2


def test_forwarded_client_claims_isolate_the_cached_token(lib: Any, emu: Emulator) -> None:
    session = RecordingSession(emu)
    app = agent(lib, emu, session)
    first = app.acquire_token_by_user_federated_identity_credential(
        GRAPH, mi_token(emu), username=ALICE, forwarded_client_claims=FORWARDED
    )
    assert "access_token" in first, first
    assert json.loads(session.posts[0][1]["claims"]) == json.loads(FORWARDED)
    (account,) = app.get_accounts(username=ALICE)
    same = app.acquire_token_silent(GRAPH, account, forwarded_client_claims=FORWARDED)
    assert same is not None
    assert (same["token_source"], same["access_token"]) == ("cache", first["access_token"])
    other = app.acquire_token_silent(GRAPH, account)  # no claims: not that token
    assert other is not None
    assert other["token_source"] == "identity_provider"
    assert other["access_token"] != first["access_token"]


def test_identitylib_cache_serves_msal_and_back(emu: Emulator) -> None:
    msal = require_module("msal")
    cache = identitylib.SerializableTokenCache()
    writer = agent(identitylib, emu, RecordingSession(emu), token_cache=cache)
    first = writer.acquire_token_by_user_federated_identity_credential(
        GRAPH, mi_token(emu), username=ALICE
    )
    msal_cache = msal.SerializableTokenCache()
    msal_cache.deserialize(cache.serialize())
    reader = agent(msal, emu, RecordingSession(emu), token_cache=msal_cache)
    (account,) = reader.get_accounts(username=ALICE)
    assert account["account_source"] == "user_fic"
    served = reader.acquire_token_silent(GRAPH, account)
    assert (served["token_source"], served["access_token"]) == ("cache", first["access_token"])

    msal_writer = agent(msal, emu, RecordingSession(emu), token_cache=msal.SerializableTokenCache())
    bob = msal_writer.acquire_token_by_user_federated_identity_credential(
        GRAPH, mi_token(emu), user_object_id=BOB_OID
    )
    again = identitylib.SerializableTokenCache()
    again.deserialize(msal_writer.token_cache.serialize())
    app = agent(identitylib, emu, RecordingSession(emu), token_cache=again)
    (bob_account,) = app.get_accounts()
    served = app.acquire_token_silent(GRAPH, bob_account)
    assert (served["token_source"], served["access_token"]) == ("cache", bob["access_token"])


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    ("scopes", "assertion", "identifiers"),
    [
        (GRAPH, None, {"username": ALICE}),
        (GRAPH, "", {"username": ALICE}),
        (GRAPH, "a.b.c", {}),
        (GRAPH, "a.b.c", {"username": "", "user_object_id": None}),
        (GRAPH, "a.b.c", {"username": ALICE, "user_object_id": ALICE_OID}),
        (["openid", *GRAPH], "a.b.c", {"username": ALICE}),
        (["offline_access"], "a.b.c", {"user_object_id": ALICE_OID}),
        ("User.Read", "a.b.c", {"username": ALICE}),
    ],
    ids=[
        "no-assertion",
        "empty-assertion",
        "no-user",
        "empty-user",
        "both-users",
        "reserved-openid",
        "reserved-offline",
        "scopes-a-string",
    ],
)
def test_bad_input_raises_before_any_request(
    lib: Any, emu: Emulator, scopes: Any, assertion: Any, identifiers: dict[str, Any]
) -> None:
    session = RecordingSession(emu)
    app = agent(lib, emu, session)
    emu.reset_requests()
    with pytest.raises(ValueError):
        app.acquire_token_by_user_federated_identity_credential(scopes, assertion, **identifiers)
    assert session.posts == []
    assert token_posts(emu) == 0


def test_malformed_forwarded_claims_raise_before_any_request(lib: Any, emu: Emulator) -> None:
    session = RecordingSession(emu)
    with pytest.raises(ValueError):
        agent(lib, emu, session).acquire_token_by_user_federated_identity_credential(
            GRAPH, "a.b.c", username=ALICE, forwarded_client_claims="{not json"
        )
    assert session.posts == []


def test_blank_assertion_is_refused_here_and_sent_by_msal(emu: Emulator) -> None:
    """The documented difference: a whitespace-only credential is a caller's mistake."""
    msal = require_module("msal")
    with pytest.raises(ValueError):
        agent(
            identitylib, emu, RecordingSession(emu)
        ).acquire_token_by_user_federated_identity_credential(GRAPH, "  \n", username=ALICE)
    session = RecordingSession(emu)
    result = agent(msal, emu, session).acquire_token_by_user_federated_identity_credential(
        GRAPH, "  \n", username=ALICE
    )
    assert result["error"] == "invalid_request"
    assert len(session.posts) == 1


# ---------------------------------------------------------------- what the emulator refuses


@pytest.mark.parametrize(
    ("credential", "code"),
    [
        (lambda emu: mi_token(emu, resource="https://management.azure.com/"), 700212),
        (lambda emu: mi_token(emu, client_id=SYSTEM_MI), 700213),
        (lambda emu: "not-a-jwt", 50027),
    ],
    ids=["wrong-audience", "wrong-subject", "malformed"],
)
def test_a_credential_the_app_does_not_trust_is_refused(
    lib: Any, emu: Emulator, credential: Any, code: int
) -> None:
    app = agent(lib, emu, RecordingSession(emu))
    result = app.acquire_token_by_user_federated_identity_credential(
        GRAPH, credential(emu), username=ALICE
    )
    assert result["error"] == "invalid_grant", result
    assert code in result["error_codes"]
    assert app.get_accounts() == []


def test_a_user_token_is_no_federated_credential(lib: Any, emu: Emulator) -> None:
    public = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path
    )
    with pytest.warns(DeprecationWarning, match="deprecated"):
        user = public.acquire_token_by_username_password(ALICE, "alice-password", GRAPH)
    app = agent(lib, emu, RecordingSession(emu))
    result = app.acquire_token_by_user_federated_identity_credential(
        GRAPH, user["access_token"], username=ALICE
    )
    assert result["error"] == "invalid_grant"
    assert 700229 in result["error_codes"]


def test_another_app_cannot_use_the_agents_credential(lib: Any, emu: Emulator) -> None:
    from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET

    app = lib.ConfidentialClientApplication(
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        authority=emu.authority(),
        http_client=RecordingSession(emu),
        instance_discovery=False,
    )
    result = app.acquire_token_by_user_federated_identity_credential(
        GRAPH, mi_token(emu), username=ALICE
    )
    assert result["error"] == "invalid_grant"
    assert 700211 in result["error_codes"]


def test_unknown_user_is_refused(lib: Any, emu: Emulator) -> None:
    app = agent(lib, emu, RecordingSession(emu))
    result = app.acquire_token_by_user_federated_identity_credential(
        GRAPH, mi_token(emu), username="nobody@contoso.onmicrosoft.com"
    )
    assert result["error"] == "invalid_grant"
    assert 50034 in result["error_codes"]


def test_emulator_wants_exactly_one_user_identifier(emu: Emulator) -> None:
    fic = mi_token(emu)
    base = {
        "grant_type": "user_fic",
        "client_id": DEMO_AGENT_ID,
        "client_secret": DEMO_AGENT_SECRET,
        "user_federated_identity_credential": fic,
        "scope": "openid User.Read",
    }
    with RecordingSession(emu) as session:
        for extra in ({}, {"username": ALICE, "user_id": ALICE_OID}):
            answer = session.post(f"{emu.authority()}/oauth2/v2.0/token", data={**base, **extra})
            assert answer.status_code == 400
            assert answer.json()["error"] == "invalid_request"
        public = session.post(
            f"{emu.authority()}/oauth2/v2.0/token",
            data={**base, "client_id": DEMO_CLI_ID, "client_secret": "", "username": ALICE},
        )
        assert public.json()["error"] == "invalid_client"


# ---------------------------------------------------------------- secrets stay out of logs


def test_credential_and_tokens_are_never_logged(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    fic = mi_token(emu)
    with caplog.at_level(logging.DEBUG, logger="identitylib"):
        result = agent(
            identitylib, emu, RecordingSession(emu)
        ).acquire_token_by_user_federated_identity_credential(GRAPH, fic, username=ALICE)
    assert "access_token" in result, result
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "User federated credential grant" in logged
    for secret in (fic, result["access_token"], result["refresh_token"], DEMO_AGENT_SECRET, ALICE):
        assert secret not in logged
