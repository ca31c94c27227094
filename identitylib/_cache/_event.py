"""Turning a token event (one successful token response) into cache entries."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, Optional
from urllib.parse import urlsplit

from ._claims import home_account_id_from, id_token_claims, username_from
from ._filing import AccessTokenFiling, made_filing
from ._keys import AuthorityType, CredentialType, compute_ext_cache_key
from ._seconds import seconds

__all__ = ["Write", "environment_and_realm", "seconds", "sorted_target", "writes_for_event"]

#: Event key under which the protocol layer passes the refresh token entry it redeemed.
USED_REFRESH_TOKEN = "refresh_token_item"
#: Lifetime assumed when ``expires_in`` is present but not a number.
FALLBACK_EXPIRES_IN = 3600
#: Lifetime assumed when neither ``expires_in`` nor ``expires_on`` is present.
DEFAULT_EXPIRES_IN = 600
ACCOUNT_ESTABLISHING_GRANTS = frozenset(
    {
        "broker",
        "authorization_code",
        "password",
        "urn:ietf:params:oauth:grant-type:device_code",
        "user_fic",
    }
)
_CIAM_SUFFIX = ".ciamlogin.com"

Entry = dict[str, Any]


#: One cache write: (credential type, entry, new secret, filing): store ``entry``, or (a new
#: secret given) rotate the RT ``entry``; ``filing``: an access token's, made from the values
#: the entry was made of (see ``_filing.made_filing``), else None. (A plain tuple: one is
#: made per entry of every response.)
Write = tuple[str, Entry, Any, Optional[AccessTokenFiling]]

#: What every entry of an event is made of: (event, response, data, environment, realm,
#: home account id, target, now), read once by ``writes_for_event``.
_Made = tuple[
    Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], Any, Any, Optional[str], str, int
]


def environment_and_realm(token_endpoint: Any) -> tuple[str | None, str | None]:
    """Host and tenant segment of a token endpoint (CIAM hosts imply a tenant)."""
    if not isinstance(token_endpoint, str):
        return None, None
    return _split_endpoint(token_endpoint)


@functools.lru_cache(maxsize=64)
def _split_endpoint(token_endpoint: str) -> tuple[str | None, str | None]:
    """``environment_and_realm`` of a string (an app has one or a few token endpoints:
    parsed once each)."""
    try:
        parts = urlsplit(token_endpoint)
        host = parts.hostname
    except ValueError:
        return None, None
    if not host:
        return None, None
    segments = parts.path.split("/")
    first = segments[1] if len(segments) >= 2 and segments[1] else None
    if host.endswith(_CIAM_SUFFIX) and not first:
        first = host[: -len(_CIAM_SUFFIX)] + ".onmicrosoft.com"
    return host, first


def sorted_target(event: Mapping[str, Any], response: Mapping[str, Any]) -> str:
    """Granted scopes (else requested ones), sorted and space-joined."""
    scopes: Any = response.get("scope")
    if not isinstance(scopes, str):
        scopes = event.get("scope")
    if isinstance(scopes, str):
        return " ".join(sorted(scopes.split()))  # (strings all: nothing to filter)
    if type(scopes) is not list and not isinstance(scopes, Iterable):  # (list: no ABC check)
        return ""
    return " ".join(sorted(scope for scope in scopes if isinstance(scope, str)))


def _mapping(value: Any) -> Mapping[str, Any]:
    if type(value) is dict:  # (the usual case, without the ABC's isinstance check)
        return value
    return value if isinstance(value, Mapping) else {}


def writes_for_event(event: Mapping[str, Any], now: int) -> list[Write]:
    """The writes ``TokenCache.add`` performs for ``event`` at time ``now``, in order."""
    response = event.get("response")
    if type(response) is not dict:  # (a dict: as _mapping gives it, without the call)
        response = _mapping(response)
    data = event.get("data")
    if type(data) is not dict:
        data = _mapping(data)
    token_endpoint = event.get("token_endpoint")
    environment, realm = (
        _split_endpoint(token_endpoint)
        if type(token_endpoint) is str
        else environment_and_realm(token_endpoint)
    )
    if "environment" in event:
        environment = event["environment"]
    if isinstance(environment, str):
        environment = environment.lower()
    claims = response.get("id_token_claims")
    if not isinstance(claims, dict) or not claims:
        id_token = response.get("id_token")
        claims = id_token_claims(id_token) if id_token is not None else {}
    client_info = response.get("client_info")
    # (neither: no home account, as home_account_id_from finds, without the call)
    home_account_id = home_account_id_from(client_info, claims) if client_info or claims else None
    # sorted_target's usual cases, in line: the granted scopes, else one requested scope
    scopes = response.get("scope")
    if type(scopes) is str:
        target = " ".join(sorted(scopes.split()))
    elif (
        scopes is None
        and type(requested := event.get("scope")) is list
        and len(requested) == 1
        and type(requested[0]) is str
    ):
        target = requested[0]
    else:
        target = sorted_target(event, response)
    # (what every entry is made of, read once: a tuple, made without a frame)
    made: _Made = (event, response, data, environment, realm, home_account_id, target, now)
    writes: list[Write] = []
    if response.get("access_token"):
        writes.append(_access_token(made))
    if home_account_id is not None and not event.get("skip_account_creation"):
        writes.append(_account(made, claims))
    if response.get("id_token"):
        idt = {"credential_type": CredentialType.ID_TOKEN, "secret": response["id_token"]}
        idt.update(home_account_id=home_account_id, environment=environment)
        idt.update(realm=realm, client_id=event.get("client_id"))
        writes.append((CredentialType.ID_TOKEN, idt, None, None))
    if response.get("refresh_token"):
        writes.append(_refresh_token(made))
    app_metadata: Entry = {"client_id": event.get("client_id"), "environment": environment}
    if "foci" in response:
        app_metadata["family_id"] = response["foci"]
    writes.append((CredentialType.APP_METADATA, app_metadata, None, None))
    return writes


def _access_token(made: _Made) -> Write:
    """The AT entry, its fields in MSAL's order (the standard ones first, then the optional
    ones), and its filing, made of the same values."""
    event, response, data, environment, realm, home_account_id, target, now = made
    expires_in: Any = response.get("expires_in")
    if type(expires_in) is not int:  # (an int: as the parser leaves it, no call)
        if "expires_in" in response:
            expires_in = seconds(expires_in)
            if expires_in is None:
                expires_in = FALLBACK_EXPIRES_IN
        else:
            expires_on = seconds(response.get("expires_on"))
            expires_in = expires_on - now if expires_on is not None else DEFAULT_EXPIRES_IN
    ext_expires_in: Any = response.get("ext_expires_in")
    if type(ext_expires_in) is not int:
        ext_expires_in = seconds(ext_expires_in)
        if ext_expires_in is None:
            ext_expires_in = expires_in
    client_id = event.get("client_id")
    at: Entry = {
        "credential_type": CredentialType.ACCESS_TOKEN,
        "secret": response["access_token"],
        "home_account_id": home_account_id,
        "environment": environment,
        "client_id": client_id,
        "target": target,
        "realm": realm,
        "token_type": response.get("token_type") or "Bearer",
        "cached_at": str(now),
        "expires_on": str(now + expires_in),
        "extended_expires_on": str(now + ext_expires_in),
    }
    if "key_id" in data:
        at["key_id"] = data["key_id"]
    ext_cache_key = event.get("ext_cache_key")
    if ext_cache_key is None:
        ext_cache_key = compute_ext_cache_key(data)
    if ext_cache_key:
        at["ext_cache_key"] = ext_cache_key
    refresh_in: Any = response.get("refresh_in")
    if refresh_in is not None and type(refresh_in) is not int:
        refresh_in = seconds(refresh_in)
    if refresh_in is not None:
        at["refresh_on"] = str(now + refresh_in)
    assertion_hash = event.get("user_assertion_hash")
    if assertion_hash:
        at["user_assertion_hash"] = assertion_hash
    filing = made_filing(
        environment, client_id, realm, home_account_id, assertion_hash or None, target,
        data.get("key_id"), ext_cache_key or None,
    )  # fmt: skip
    return CredentialType.ACCESS_TOKEN, at, None, filing


def _account(made: _Made, claims: dict[str, Any]) -> Write:
    event, _response, data, environment, realm, home_account_id, _target, _now = made
    account = {"home_account_id": home_account_id, "environment": environment, "realm": realm}
    account["local_account_id"] = (
        event["_account_id"] if "_account_id" in event else claims.get("oid", claims.get("sub"))
    )
    account["username"] = (
        username_from(claims) or data.get("username") or event.get("username") or ""
    )
    account["authority_type"] = event.get(
        "authority_type", AuthorityType.ADFS if realm == "adfs" else AuthorityType.MSSTS
    )
    if event.get("grant_type") in ACCOUNT_ESTABLISHING_GRANTS:
        account["account_source"] = event["grant_type"]
    return CredentialType.ACCOUNT, account, None, None


def _refresh_token(made: _Made) -> Write:
    """The new RT entry, or (a refresh token grant) the redeemed one with its new secret."""
    event, response, _data, environment, _realm, home_account_id, target, now = made
    refresh_token = response["refresh_token"]
    used_rt = event.get(USED_REFRESH_TOKEN) if event.get("grant_type") == "refresh_token" else None
    if isinstance(used_rt, dict) and used_rt.get("credential_type") == CredentialType.REFRESH_TOKEN:
        return CredentialType.REFRESH_TOKEN, used_rt, refresh_token, None
    rt = {"credential_type": CredentialType.REFRESH_TOKEN, "secret": refresh_token}
    rt.update(home_account_id=home_account_id, environment=environment)
    rt.update(client_id=event.get("client_id"), target=target)
    rt["last_modification_time"] = str(now)
    if "foci" in response:
        rt["family_id"] = response["foci"]
    assertion_hash = event.get("user_assertion_hash")
    if assertion_hash:
        rt["user_assertion_hash"] = assertion_hash
    return CredentialType.REFRESH_TOKEN, rt, None, None
