"""What ``add(event)`` writes: sections, keys and fields (contract §6.2-6.5)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from identitylib._cache import (
    USED_REFRESH_TOKEN,
    SerializableTokenCache,
    TokenCache,
    assertion_hash,
    compute_ext_cache_key,
)

from ._builders import (
    GRAPH_DEFAULT,
    HOST,
    NOW,
    b64json,
    client_credentials_event,
    id_token,
    user_event,
)

AT = "AccessToken"
RT = "RefreshToken"
IDT = "IdToken"
ACCOUNT = "Account"
APP = "AppMetadata"


def added(*events: dict[str, Any], now: int = NOW) -> dict[str, Any]:
    cache = TokenCache()
    for event in events:
        cache.add(event, now=now)
    return cache._cache


def only(section: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert len(section) == 1, section
    return next(iter(section.items()))


def test_client_credentials_writes_app_token_and_app_metadata():
    sections = added(client_credentials_event())
    assert set(sections) == {AT, APP}
    key, at = only(sections[AT])
    assert key == f"-{HOST}-accesstoken-cid-tid-{GRAPH_DEFAULT}"
    assert at == {
        "credential_type": "AccessToken",
        "secret": "app-at",
        "home_account_id": None,
        "environment": HOST,
        "client_id": "cid",
        "target": GRAPH_DEFAULT,
        "realm": "tid",
        "token_type": "Bearer",
        "cached_at": str(NOW),
        "expires_on": str(NOW + 3600),
        "extended_expires_on": str(NOW + 3600),
    }
    assert sections[APP] == {f"appmetadata-{HOST}-cid": {"client_id": "cid", "environment": HOST}}


def test_user_response_writes_all_five_sections():
    sections = added(user_event(foci="1"))
    home = "oid1.tid"
    target = "User.Read email openid profile"
    at_key, at = only(sections[AT])
    assert at_key == f"{home}-{HOST}-accesstoken-cid-tid-user.read email openid profile"
    assert at["target"] == target
    assert at["home_account_id"] == home
    assert at["realm"] == "tid"

    account_key, account = only(sections[ACCOUNT])
    assert account_key == f"{home}-{HOST}-tid"
    assert account == {
        "home_account_id": home,
        "environment": HOST,
        "realm": "tid",
        "local_account_id": "oid1",
        "username": "alice@contoso.com",
        "authority_type": "MSSTS",
        "account_source": "authorization_code",
    }

    idt_key, idt = only(sections[IDT])
    assert idt_key == f"{home}-{HOST}-idtoken-cid-tid-"
    assert idt["credential_type"] == "IdToken"
    assert idt["secret"].count(".") == 2
    assert {k: idt[k] for k in ("home_account_id", "environment", "realm", "client_id")} == {
        "home_account_id": home,
        "environment": HOST,
        "realm": "tid",
        "client_id": "cid",
    }

    rt_key, rt = only(sections[RT])
    assert rt_key == f"{home}-{HOST}-refreshtoken-cid--user.read email openid profile"
    assert rt == {
        "credential_type": "RefreshToken",
        "secret": "user-rt",
        "home_account_id": home,
        "environment": HOST,
        "client_id": "cid",
        "target": target,
        "last_modification_time": str(NOW),
        "family_id": "1",
    }
    assert sections[APP][f"appmetadata-{HOST}-cid"] == {
        "client_id": "cid",
        "environment": HOST,
        "family_id": "1",
    }


def test_refresh_grant_rotates_the_used_refresh_token_in_place():
    cache = SerializableTokenCache()
    cache.add(user_event(foci="1"), now=NOW)
    (rt_key, used_rt) = only(cache._cache[RT])
    cache.serialize()
    refresh = user_event(
        grant_type="refresh_token",
        refresh_token="rotated-rt",
        access_token="at-2",
        granted="User.Read",
    )
    refresh[USED_REFRESH_TOKEN] = used_rt
    refresh["skip_account_creation"] = True
    cache.add(refresh, now=NOW + 100)
    key, rt = only(cache._cache[RT])
    assert key == rt_key
    assert rt["secret"] == "rotated-rt"
    assert rt["family_id"] == "1"
    assert rt["target"] == used_rt["target"]
    assert int(rt["last_modification_time"]) >= NOW
    assert len(cache._cache[AT]) == 2  # A different target is a different AT.
    assert cache.has_state_changed


def test_refresh_grant_without_the_used_entry_adds_the_new_refresh_token():
    sections = added(user_event(grant_type="refresh_token", refresh_token="new-rt"))
    _, rt = only(sections[RT])
    assert rt["secret"] == "new-rt"
    _, account = only(sections[ACCOUNT])
    assert "account_source" not in account


def test_skip_account_creation_honours_a_removed_account():
    cache = TokenCache()
    cache.add(user_event(), now=NOW)
    (_, account) = only(cache._cache[ACCOUNT])
    cache.remove_account(account)
    cache.add(user_event(skip_account_creation=True), now=NOW)
    assert cache._cache[ACCOUNT] == {}


def test_target_falls_back_to_requested_scopes_sorted():
    sections = added(user_event(granted=None, requested=["b.scope", "A.scope"]))
    _, at = only(sections[AT])
    assert at["target"] == "A.scope b.scope"


def test_target_prefers_the_granted_scopes_of_the_response():
    event = user_event(granted="User.Read email")
    event["scope"] = ["User.Read"]
    _, at = only(added(event)[AT])
    assert at["target"] == "User.Read email"


@pytest.mark.parametrize(
    ("response_fields", "expires_on", "extended"),
    [
        ({"expires_in": "599"}, NOW + 599, NOW + 599),
        ({"expires_in": 100, "ext_expires_in": "200"}, NOW + 100, NOW + 200),
        ({"expires_in": "soon"}, NOW + 3600, NOW + 3600),
        ({"expires_in": None}, NOW + 3600, NOW + 3600),
        ({"expires_in": [1]}, NOW + 3600, NOW + 3600),
        ({"expires_in": 60.7}, NOW + 60, NOW + 60),
        ({"expires_in": 100, "ext_expires_in": "x"}, NOW + 100, NOW + 100),
        ({"expires_on": str(NOW + 86400)}, NOW + 86400, NOW + 86400),
        ({}, NOW + 600, NOW + 600),
    ],
)
def test_lifetimes_are_coerced_never_raising(response_fields, expires_on, extended):
    event = client_credentials_event(expires_in=None)
    event["response"].update(response_fields)
    _, at = only(added(event)[AT])
    assert at["expires_on"] == str(expires_on)
    assert at["extended_expires_on"] == str(extended)
    assert at["cached_at"] == str(NOW)


def test_refresh_in_and_token_type():
    event = client_credentials_event()
    event["response"].update(refresh_in=1800, token_type="pop")
    _, at = only(added(event)[AT])
    assert at["refresh_on"] == str(NOW + 1800)
    assert at["token_type"] == "pop"
    event["response"].update(refresh_in="never")
    event["response"].pop("token_type")
    _, at = only(added(event)[AT])
    assert "refresh_on" not in at
    assert at["token_type"] == "Bearer"


def test_key_id_is_stored_but_not_in_the_key():
    plain = only(added(client_credentials_event())[AT])
    bound = only(added(client_credentials_event(data={"key_id": "kid1", "token_type": "pop"}))[AT])
    assert bound[0] == plain[0]
    assert bound[1]["key_id"] == "kid1"


def test_ext_cache_key_from_extra_body_fields():
    event = client_credentials_event(data={"fmi_path": "a/b"})
    key, at = only(added(event)[AT])
    ext = compute_ext_cache_key({"fmi_path": "a/b", "scope": GRAPH_DEFAULT})
    assert ext
    assert ext == ext.lower()
    assert "=" not in ext
    assert at["ext_cache_key"] == ext
    assert key == f"-{HOST}-atext-cid-tid-{GRAPH_DEFAULT}-{ext}"
    assert compute_ext_cache_key({"client_id": "x", "scope": "y"}) == ""
    assert compute_ext_cache_key(None) == ""


def test_ext_cache_key_given_by_the_event_wins():
    key, at = only(added(client_credentials_event(ext_cache_key="given"))[AT])
    assert at["ext_cache_key"] == "given"
    assert key.endswith("-given")


def test_user_assertion_hash_goes_on_access_and_refresh_tokens():
    digest = assertion_hash("incoming.jwt.assertion")
    sections = added(
        user_event(
            grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", user_assertion_hash=digest
        )
    )
    assert only(sections[AT])[1]["user_assertion_hash"] == digest
    assert only(sections[RT])[1]["user_assertion_hash"] == digest
    assert "user_assertion_hash" not in only(sections[IDT])[1]


@pytest.mark.parametrize(
    "info",
    [
        b64json({"uid": "oid1", "utid": "tid"}, padded=True),
        b64json({"uid": "oid1", "utid": "tid", "x": "??>>"}, standard=True, padded=True),
        b64json({"uid": "oid1", "utid": "tid"}, standard=True),
    ],
)
def test_client_info_encodings_are_tolerated(info):
    event = user_event()
    event["response"]["client_info"] = info
    _, account = only(added(event)[ACCOUNT])
    assert account["home_account_id"] == "oid1.tid"


@pytest.mark.parametrize(
    "garbage", ["%%%", "bm90IGpzb24", b64json([1, 2]), b64json({"uid": "only"}), 42, ""]
)
def test_garbage_client_info_falls_back_to_the_id_token_subject(garbage):
    event = user_event()
    event["response"]["client_info"] = garbage
    _, account = only(added(event)[ACCOUNT])
    assert account["home_account_id"] == "sub-oid1"


def test_garbage_everywhere_means_no_identity():
    event = user_event()
    event["response"].update(client_info="%%%", id_token="not-a-jwt")
    sections = added(event)
    assert ACCOUNT not in sections
    _, at = only(sections[AT])
    assert at["home_account_id"] is None
    _, idt = only(sections[IDT])
    assert idt["secret"] == "not-a-jwt"


def test_adfs_identity_from_sub_and_authority_type():
    event = user_event(tenant="adfs")
    del event["response"]["client_info"]
    event["response"]["id_token"] = id_token(sub="adfs-sub", upn="bob@corp")
    _, account = only(added(event)[ACCOUNT])
    assert account["home_account_id"] == "adfs-sub"
    assert account["authority_type"] == "ADFS"
    assert account["username"] == "bob@corp"
    assert account["local_account_id"] == "adfs-sub"
    assert account["realm"] == "adfs"


def test_event_overrides_for_account_fields():
    event = user_event(
        grant_type="password", _account_id="mid-tier-id", authority_type="CLOUDSHELL"
    )
    event["response"]["id_token"] = id_token(sub="s")  # No username claims.
    event["data"]["username"] = "ropc@contoso.com"
    _, account = only(added(event)[ACCOUNT])
    assert account["local_account_id"] == "mid-tier-id"
    assert account["authority_type"] == "CLOUDSHELL"
    assert account["username"] == "ropc@contoso.com"
    assert account["account_source"] == "password"
    event["data"].pop("username")
    event["username"] = "federated@contoso.com"
    assert only(added(event)[ACCOUNT])[1]["username"] == "federated@contoso.com"
    event.pop("username")
    assert only(added(event)[ACCOUNT])[1]["username"] == ""


def test_ciam_and_environment_override():
    event = client_credentials_event()
    event["token_endpoint"] = "https://contoso.ciamlogin.com/"
    event.pop("environment")
    _, at = only(added(event)[AT])
    assert at["environment"] == "contoso.ciamlogin.com"
    assert at["realm"] == "contoso.onmicrosoft.com"
    event["token_endpoint"] = "https://contoso.ciamlogin.com/tenant-guid/oauth2/v2.0/token"
    assert only(added(event)[AT])[1]["realm"] == "tenant-guid"
    event["environment"] = "Login.Example.COM"
    _, at = only(added(event)[AT])
    assert at["environment"] == "login.example.com"


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"response": None, "data": "x", "scope": None},
        {"response": {"access_token": "a", "scope": 5}, "token_endpoint": "::not a url::"},
        {"response": {"access_token": "a", "id_token_claims": "nope", "id_token": 3}},
        {"response": {"refresh_token": "r", "foci": None}, "scope": "a b", "client_id": 7},
        {"response": {"access_token": "a"}, "token_endpoint": "http://[bad", "scope": [1, "x"]},
    ],
)
def test_odd_events_never_raise(event):
    cache = SerializableTokenCache()
    cache.add(event, now=NOW)
    json.loads(cache.serialize())
    assert "AppMetadata" in cache._cache


def test_debug_log_is_redacted(caplog):
    event = user_event(foci="1", refresh_token="RT-SECRET", access_token="AT-SECRET")
    event["data"].update(
        password="PASSWORD-SECRET", client_secret="CLIENT-SECRET", assertion="ASSERTION-SECRET"
    )
    with caplog.at_level(logging.DEBUG, logger="identitylib"):
        TokenCache().add(event, now=NOW)
    text = caplog.text
    assert "Adding a token event" in text
    for secret in (
        "RT-SECRET",
        "AT-SECRET",
        "PASSWORD-SECRET",
        "CLIENT-SECRET",
        "ASSERTION-SECRET",
        event["response"]["id_token"],
        event["response"]["client_info"],
        "alice@contoso.com",
    ):
        assert secret not in text
