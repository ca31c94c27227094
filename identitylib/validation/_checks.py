"""Claim checks: issuer (with Entra's ``{tenantid}`` template), audience, lifetime,
tenant, the kind of token, scopes and roles. Pure functions; each raises
:class:`TokenValidationError`."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Optional
from urllib.parse import urlsplit

from ._errors import INSUFFICIENT_SCOPE, TokenValidationError, invalid_token

TENANT_TEMPLATE = "{tenantid}"
#: The issuer of Entra v1 access tokens (``ver`` 1.0), public and US Government clouds.
V1_ISSUER_TEMPLATE = "https://sts.windows.net/{tenantid}/"
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_V1_ISSUER = re.compile(r"https://sts\.windows\.net/([^/]+)/")
#: The JOSE ``typ`` of a JWT access token (RFC 9068 §2.1).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: Claims of ID tokens only (OpenID Connect Core §2, §3.3.2.11): no access token has them.
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")
#: Who an Entra access token was issued to: ``azp`` (v2) or ``appid`` (v1). Entra's ID
#: tokens name no client (their ``aud`` is the client).
ENTRA_CLIENT_CLAIMS = ("azp", "appid")


def is_guid(value: Any) -> bool:
    """True for a GUID string such as a tenant id."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


def _string(claims: Mapping[str, Any], name: str) -> Optional[str]:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_token(f"The token's {name} claim is not a string")
    return value


def _shown(value: str, limit: int = 80) -> str:
    """A claim value for a description: quoted, escaped, at most ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _first_segment(url: str) -> str:
    segments = [s for s in urlsplit(url).path.split("/") if s]
    return segments[0] if segments else ""


def v1_issuer_of(v2_issuer: str) -> str:
    """The v1 issuer matching an Entra v2 issuer (``{host}/{tenant}/v2.0``)."""
    return V1_ISSUER_TEMPLATE.replace(TENANT_TEMPLATE, _first_segment(v2_issuer))


def _resolved(issuer: str, tid: Optional[str]) -> Optional[str]:
    """``issuer`` with its template filled from ``tid``; None when ``tid`` cannot fill it."""
    if TENANT_TEMPLATE not in issuer:
        return issuer
    if not is_guid(tid):
        return None
    assert tid is not None
    return issuer.replace(TENANT_TEMPLATE, tid)


def check_issuer(
    claims: Mapping[str, Any], accepted: Sequence[str], key_issuer: Optional[str]
) -> None:
    """``iss`` is one of ``accepted`` (templates filled with ``tid``) and fits the key."""
    iss = _string(claims, "iss")
    tid = _string(claims, "tid")
    if not iss:
        raise invalid_token("The token has no issuer (iss)")
    resolved = {_resolved(a, tid) for a in accepted}
    if iss not in resolved:
        if any(TENANT_TEMPLATE in a for a in accepted):
            if tid is None:
                raise invalid_token("The token has no tenant id (tid) to check its issuer with")
            if not is_guid(tid):
                raise invalid_token("The token's tenant id (tid) is not a GUID")
        raise invalid_token(f"The token's issuer {_shown(iss)} is not accepted")
    if key_issuer is not None:
        _check_key_issuer(iss, tid, key_issuer)


def _check_key_issuer(iss: str, tid: Optional[str], key_issuer: str) -> None:
    """Entra scopes each key to an issuer (§3.4): a template one to any tenant's tokens."""
    expected = _resolved(key_issuer, tid)
    if expected is None:
        raise invalid_token("The token has no valid tenant id (tid) for its signing key")
    if iss == expected:
        return
    # A v1 token (already accepted above by configuration) signed by a key published with
    # its v2 issuer: the tenants must agree.
    v1 = _V1_ISSUER.fullmatch(iss)
    if v1 is not None and v1.group(1) == _first_segment(expected):
        return
    raise invalid_token("The token's signing key belongs to another issuer")


def check_audience(claims: Mapping[str, Any], audiences: Collection[str]) -> None:
    """``aud`` (a string or a list of strings) names one of ``audiences``."""
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise invalid_token("The token's audience (aud) is missing or not a string")
    if not any(v in audiences for v in values):
        raise invalid_token(f"The token is for audience {_shown(', '.join(values))}, not this API")


def check_access_token(
    header: Mapping[str, Any], claims: Mapping[str, Any], *, entra: bool
) -> None:
    """Refuse an ID token presented as an access token.

    A ``typ`` of ``at+jwt`` (RFC 9068) declares an access token. Otherwise a token with
    an ID-token-only claim (``nonce``, ``at_hash``, ``c_hash``) is an ID token, and so is,
    from Entra (``entra``), one naming no client (neither ``azp`` nor ``appid``).
    """
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower() in ACCESS_TOKEN_TYPES:
        return
    found = next((name for name in ID_TOKEN_CLAIMS if name in claims), None)
    if found is not None:
        raise invalid_token(f"The token is an ID token (it has {found}), not an access token")
    if entra and not any(name in claims for name in ENTRA_CLIENT_CLAIMS):
        raise invalid_token(
            "The token is an ID token (it has no azp or appid), not an access token"
        )


def _number(claims: Mapping[str, Any], name: str) -> Optional[float]:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise invalid_token(f"The token's {name} claim is not a number")
    return float(value)


def check_lifetime(claims: Mapping[str, Any], now: float, skew: float) -> None:
    """``exp`` is required; the token is valid from ``nbf - skew`` until ``exp + skew``."""
    exp = _number(claims, "exp")
    nbf = _number(claims, "nbf")
    _number(claims, "iat")
    if exp is None:
        raise invalid_token("The token has no expiry (exp)")
    if now >= exp + skew:
        raise invalid_token("The token has expired")
    if nbf is not None and now < nbf - skew:
        raise invalid_token("The token is not valid yet")


def check_tenant(claims: Mapping[str, Any], allowed: Collection[str]) -> None:
    """The token's ``tid`` is one of ``allowed`` (lower-cased GUIDs or names)."""
    tid = _string(claims, "tid")
    if tid is None:
        raise invalid_token("The token has no tenant id (tid)")
    if tid.lower() not in allowed:
        raise invalid_token(f"Tokens of tenant {_shown(tid, 50)} are not accepted")


def _claim_set(claims: Mapping[str, Any], name: str, value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return set(value)
    raise invalid_token(f"The token's {name} claim is neither a string nor a list of strings")


def granted_scopes(claims: Mapping[str, Any]) -> set[str]:
    """Delegated scopes: Entra's ``scp``, else RFC 9068's ``scope`` (space-separated)."""
    name = "scp" if "scp" in claims else "scope"
    return _claim_set(claims, name, claims.get(name))


def granted_roles(claims: Mapping[str, Any]) -> set[str]:
    """App roles: ``roles`` (a list; a single string is read as one role)."""
    roles = claims.get("roles")
    if isinstance(roles, str):
        return {roles}
    return _claim_set(claims, "roles", roles)


def check_grants_something(claims: Mapping[str, Any]) -> None:
    """The token carries at least one scope or app role.

    A token with neither is accepted only by an API that authorizes its callers itself
    (by their ``azp``/``appid``: ``accept_tokens_without_permissions=True``).
    """
    if not granted_scopes(claims) and not granted_roles(claims):
        raise invalid_token(
            "The token grants no permission: it has neither scopes (scp) nor app roles (roles)"
        )


def check_permissions(
    claims: Mapping[str, Any], scopes: Collection[str], roles: Collection[str]
) -> None:
    """All ``scopes``, or all ``roles``: with both, either set satisfies the check."""
    if not scopes and not roles:
        return
    scopes_granted, roles_granted = granted_scopes(claims), granted_roles(claims)
    if scopes and set(scopes) <= scopes_granted:
        return
    if roles and set(roles) <= roles_granted:
        return
    wanted = " ".join(sorted(scopes))
    if scopes and roles:
        description = (
            f"The token has neither the scopes {wanted} nor the app roles {' '.join(sorted(roles))}"
        )
    elif scopes:
        description = f"The token lacks the scopes {wanted}"
    else:
        description = f"The token lacks the app roles {' '.join(sorted(roles))}"
    raise TokenValidationError(INSUFFICIENT_SCOPE, description, scope=wanted or None)
