"""Token events shaped like the ones the application layer hands to ``TokenCache.add``."""

from __future__ import annotations

import base64
import json
from typing import Any

HOST = "login.microsoftonline.com"
TENANT = "tid"
CLIENT_ID = "cid"
TOKEN_ENDPOINT = f"https://{HOST}/{TENANT}/oauth2/v2.0/token"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
NOW = 1_700_000_000


def tenant_of(i: int) -> str:
    """The ``i``-th tenant of a multi-tenant cache (a GUID)."""
    return f"{i:08d}-2222-3333-4444-555555555555"


def scope_of(j: int) -> str:
    """The ``j``-th app scope of a multi-tenant cache."""
    return f"api://resource-{j}/.default"


def b64json(value: Any, *, padded: bool = False, standard: bool = False) -> str:
    raw = json.dumps(value).encode()
    text = (base64.b64encode if standard else base64.urlsafe_b64encode)(raw).decode()
    return text if padded else text.rstrip("=")


def id_token(**claims: Any) -> str:
    return ".".join([b64json({"alg": "none"}), b64json(claims), "signature"])


def client_info(uid: str = "oid1", utid: str = TENANT) -> str:
    return b64json({"uid": uid, "utid": utid})


def client_credentials_event(
    scopes: list[str] | None = None,
    *,
    client_id: str = CLIENT_ID,
    access_token: str = "app-at",
    expires_in: Any = 3600,
    tenant: str = TENANT,
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer"}
    if expires_in is not None:
        response["expires_in"] = expires_in
    return {
        "client_id": client_id,
        "scope": scopes or [GRAPH_DEFAULT],
        "token_endpoint": f"https://{HOST}/{tenant}/oauth2/v2.0/token",
        "grant_type": "client_credentials",
        "response": response,
        "params": {},
        "data": dict(data or {}, scope=" ".join(scopes or [GRAPH_DEFAULT])),
        "environment": HOST,
        **extra,
    }


def user_event(
    *,
    uid: str = "oid1",
    utid: str = TENANT,
    client_id: str = CLIENT_ID,
    requested: list[str] | None = None,
    granted: str | None = "User.Read email openid profile",
    access_token: str = "user-at",
    refresh_token: str | None = "user-rt",
    foci: str | None = None,
    grant_type: str = "authorization_code",
    username: str = "alice@contoso.com",
    tenant: str = TENANT,
    expires_in: Any = 3600,
    **extra: Any,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": access_token,
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "id_token": id_token(
            sub=f"sub-{uid}", oid=uid, tid=utid, preferred_username=username, aud=client_id
        ),
        "client_info": client_info(uid, utid),
    }
    if granted is not None:
        response["scope"] = granted
    if refresh_token:
        response["refresh_token"] = refresh_token
    if foci:
        response["foci"] = foci
    return {
        "client_id": client_id,
        # Like the protocol layer: the granted scopes when the server sent them.
        "scope": granted.split() if granted is not None else requested or ["User.Read"],
        "token_endpoint": f"https://{HOST}/{tenant}/oauth2/v2.0/token",
        "grant_type": grant_type,
        "response": response,
        "params": {},
        "data": {"scope": "User.Read offline_access openid profile", "code": "the-code"},
        "environment": HOST,
        **extra,
    }


def at_query(
    home_account_id: str | None = "oid1.tid",
    *,
    client_id: str = CLIENT_ID,
    realm: str = TENANT,
    environment: str = HOST,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "environment": environment,
        "realm": realm,
        "home_account_id": home_account_id,
        **extra,
    }
