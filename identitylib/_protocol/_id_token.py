"""ID token checks: nonce, audience, issuer and lifetime (with clock skew).

The token's signature is not checked here: it came straight from the token endpoint over
TLS, which OpenID Connect accepts in place of a signature check for the code flow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Optional

#: Seconds of clock difference tolerated between this machine and the identity provider.
CLOCK_SKEW = 300


def nonce_hash(nonce: str) -> str:
    """What goes on the wire for a nonce: its SHA-256 as hex (MSAL's convention)."""
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()


def _expected_issuer(issuer: str, claims: Mapping[str, Any]) -> str:
    tid = claims.get("tid")
    if "{tenantid}" in issuer and isinstance(tid, str):
        return issuer.replace("{tenantid}", tid)
    return issuer


def check_id_token(
    claims: Mapping[str, Any],
    *,
    client_id: str,
    now: float,
    issuer: Optional[str] = None,
    nonce: Optional[str] = None,
    skew: int = CLOCK_SKEW,
) -> Optional[str]:
    """Return what is wrong with the ID token's claims, or None when they are acceptable.

    ``nonce`` is the raw nonce the app kept; the token must carry its hash.
    ``issuer`` is the provider's configured issuer (``{tenantid}`` templates allowed).
    """
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        return f"the ID token is for audience {aud!r}, not this app ({client_id})"
    if issuer and claims.get("iss") != _expected_issuer(issuer, claims):
        return f"the ID token was issued by {claims.get('iss')!r}, not by {issuer!r}"
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"the ID token's {name!r} claim is not a number"
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if isinstance(exp, (int, float)) and exp < now - skew:
        return "the ID token has expired (check this machine's clock)"
    if isinstance(nbf, (int, float)) and nbf > now + skew:
        return "the ID token is not valid yet (check this machine's clock)"
    if nonce is not None and claims.get("nonce") not in (nonce_hash(nonce), nonce):
        return "the ID token's nonce does not match the one this sign-in sent"
    return None
