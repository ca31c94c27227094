"""The authorization code grant (RFC 6749 §4.1) with PKCE and OpenID Connect.

Two halves, both pure: the authorization request URL the user's browser visits, and the
token request that redeems the code the browser brings back. The helpers in between make
the authorization response (a query string or a ``form_post`` body) safe to reason about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional
from urllib.parse import urlencode, urlsplit

from identitylib._protocol._jwt import decode_client_info
from identitylib._protocol._request import form_fields
from identitylib._protocol._scopes import to_wire

GRANT_TYPE = "authorization_code"

#: ``response_mode`` values a server-side or loopback app can receive (``fragment`` never
#: reaches a server).
RESPONSE_MODES = ("query", "form_post")

#: The fields an authorization error response may pass on to the app (RFC 6749 §4.1.2.1).
#: Nothing else is copied, so a forged ``access_token`` in a response never leaks out.
ERROR_FIELDS = ("error", "error_description", "error_uri")


def authorization_params(
    *,
    client_id: str,
    scopes: Sequence[str],
    state: str,
    redirect_uri: Optional[str] = None,
    response_type: str = "code",
    code_challenge: Optional[str] = None,
    code_challenge_method: Optional[str] = None,
    nonce: Optional[str] = None,
    login_hint: Optional[str] = None,
    prompt: Optional[str] = None,
    domain_hint: Optional[str] = None,
    claims: Optional[str] = None,
    max_age: Optional[int] = None,
    response_mode: Optional[str] = None,
    extra: Optional[Mapping[str, object]] = None,
) -> dict[str, str]:
    """Query parameters of an authorization request, in MSAL's order, empty ones dropped.

    ``extra`` (OIDC ``display``, ``ui_locales``, ``acr_values``...) never replaces one of
    the named parameters. ``nonce`` is sent as given: callers send its hash.
    """
    core: dict[str, object] = {
        "client_id": client_id,
        "response_type": response_type,
        "redirect_uri": redirect_uri,
        "scope": to_wire(scopes),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": code_challenge_method if code_challenge else None,
        "nonce": nonce,
        "client_info": "1",
        "login_hint": login_hint,
        "prompt": prompt,
        "domain_hint": domain_hint,
        "claims": claims,
        "max_age": max_age,
        "response_mode": response_mode,
    }
    fields = form_fields(core)
    for name, value in form_fields(extra).items():
        fields.setdefault(name, value)
    return fields


def authorization_url(endpoint: str, params: Mapping[str, str]) -> str:
    """``endpoint`` with ``params`` appended (B2C endpoints may already carry a query)."""
    separator = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


def request_fields(
    *,
    client_id: str,
    code: str,
    scopes: Sequence[str],
    client_auth: Mapping[str, str],
    redirect_uri: Optional[str] = None,
    code_verifier: Optional[str] = None,
    claims: Optional[str] = None,
    extra: Optional[Mapping[str, object]] = None,
) -> dict[str, str]:
    """Body fields of the token request redeeming ``code`` (wire formats §7.1).

    ``extra`` (the app's ``data=``) may add fields but never replaces the grant, the code,
    the PKCE verifier, the redirect URI or the credential.
    """
    return form_fields(
        extra,
        {
            "grant_type": GRANT_TYPE,
            "client_id": client_id,
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            "scope": to_wire(scopes),
            "client_info": "1",
            "claims": claims,
        },
        client_auth,
    )


def normalise_response(auth_response: Mapping[str, Any]) -> dict[str, str]:
    """An authorization response as ``{name: str}``.

    Web frameworks hand over query strings in several shapes: ``parse_qs`` lists, multi
    dicts, plain dicts. A one-item list becomes its item; other non-string values are
    dropped, so they can never compare equal to a string such as the expected ``state``.
    """
    normalised: dict[str, str] = {}
    for name, value in auth_response.items():
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if isinstance(name, str) and isinstance(value, str):
            normalised[name] = value
    return normalised


def error_of(auth_response: Mapping[str, str]) -> dict[str, str]:
    """The error result of a failed authorization response (only the RFC 6749 fields)."""
    return {name: auth_response[name] for name in ERROR_FIELDS if auth_response.get(name)}


def issuer_matches(expected: Optional[str], actual: str) -> bool:
    """RFC 9207 ``iss`` check: exact match, with a ``{tenantid}`` template matching one
    path segment (the issuer of ``common`` and ``organizations`` authorities)."""
    if not expected:
        return False
    if "{tenantid}" not in expected:
        return actual == expected
    pattern = re.escape(expected).replace(re.escape("{tenantid}"), "[^/]+")
    return re.fullmatch(pattern, actual) is not None


def routing_headers(client_info: Optional[str]) -> dict[str, str]:
    """``X-AnchorMailbox: Oid:{uid}@{utid}`` from the response's ``client_info``, if usable."""
    if not client_info:
        return {}
    try:
        info = decode_client_info(client_info)
    except ValueError:
        return {}
    uid, utid = info.get("uid"), info.get("utid")
    if isinstance(uid, str) and isinstance(utid, str) and uid and utid:
        return {"X-AnchorMailbox": f"Oid:{uid}@{utid}"}
    return {}
