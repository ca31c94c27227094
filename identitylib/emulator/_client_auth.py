"""Client authentication at the token endpoint (wire-formats §9).

Confidential apps present exactly one credential: ``client_secret`` in the body, HTTP
Basic, or a ``private_key_jwt`` client assertion (RS256/PS256) signed by the key of one of
their registered certificates. Public apps present none.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Optional
from urllib.parse import unquote_plus, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from identitylib._protocol._jwt import b64url_encode

from ._config import App
from ._context import ProviderState, field
from ._directory import TenantRef
from ._errors import OAuthError, malformed, missing_parameter
from ._records import SeenAssertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300
#: ``azpacr`` / ``appidacr`` values.
PUBLIC, SECRET, CERTIFICATE = "0", "1", "2"


def _invalid_client(code: int, text: str) -> OAuthError:
    return OAuthError("invalid_client", code, text)


def basic_credentials(headers: Mapping[str, str]) -> Optional[tuple[str, str]]:
    """``(client_id, secret)`` from ``Authorization: Basic``; None without such a header."""
    value = str(headers.get("authorization") or "").strip()
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client(
            7000215, "Invalid client secret provided (malformed Basic authorization)."
        ) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client(7000215, "Invalid client secret provided (no ':' in Basic).")
    return unquote_plus(client_id), unquote_plus(secret)


def requested_client_id(form: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The client id of the body, of HTTP Basic, or of the assertion's ``iss``."""
    in_body = field(form, "client_id")
    basic = basic_credentials(headers)
    if basic and in_body and basic[0].lower() != in_body.strip().lower():
        raise malformed("The client_id parameter and the Basic authorization do not match.")
    if in_body:
        return in_body.strip()
    if basic and basic[0]:
        return basic[0]
    assertion = field(form, "client_assertion")
    if assertion:
        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            issuer = None
        if isinstance(issuer, str) and issuer:
            return issuer
    raise missing_parameter("client_id")


def authenticate(
    state: ProviderState,
    app: App,
    form: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    base_url: str,
    tenant: TenantRef,
    public_flow: bool,
) -> str:
    """Check the credential ``app`` presented; return its ``azpacr``.

    ``public_flow``: the grant (ROPC, device code) lets an app with
    ``allow_public_client_flows`` skip its credential.
    """
    raw_secret = form.get("client_secret")
    secret = raw_secret if isinstance(raw_secret, str) and raw_secret else None
    basic = basic_credentials(headers)
    assertion = field(form, "client_assertion")
    presented = bool(secret) or basic is not None or assertion is not None
    if app.public:
        if presented:
            raise _invalid_client(
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should "
                "be presented.",
            )
        return PUBLIC
    if not presented:
        if public_flow and app.allow_public_client_flows:
            return PUBLIC
        raise _invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    if assertion is not None:
        if secret or basic:
            raise malformed("Only one client authentication method may be used.")
        _verify_assertion(state, app, form, assertion, base_url=base_url, tenant=tenant)
        return CERTIFICATE
    candidates = {s for s in (secret, basic[1] if basic else None) if s is not None}
    if len(candidates) > 1:
        raise malformed("Only one client authentication method may be used.")
    presented_secret = candidates.pop()
    if not any(hmac.compare_digest(presented_secret.encode(), s.encode()) for s in app.secrets):
        raise _invalid_client(
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is "
            f"the client secret value, not the client secret ID, for a secret added to app "
            f"'{app.client_id}'.",
        )
    return SECRET


@functools.lru_cache(maxsize=256)
def _load_certificates(pem: str) -> tuple[x509.Certificate, ...]:
    try:
        return tuple(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError:
        return ()


def _thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    der = cert.public_bytes(Encoding.DER)
    return (
        b64url_encode(hashlib.sha1(der).digest()),  # noqa: S324 - x5t is SHA-1 by definition
        b64url_encode(hashlib.sha256(der).digest()),
    )


def _candidate_certificates(app: App, header: dict[str, Any]) -> list[x509.Certificate]:
    """The app's certificates, those named by ``x5t``/``x5t#S256`` first."""
    certs = [c for pem in app.certificates for c in _load_certificates(pem)]
    named = {header.get("x5t"), header.get("x5t#S256")} - {None}
    return sorted(certs, key=lambda c: not (set(_thumbprints(c)) & named))


def _verify_assertion(
    state: ProviderState,
    app: App,
    form: Mapping[str, str],
    assertion: str,
    *,
    base_url: str,
    tenant: TenantRef,
) -> None:
    if field(form, "client_assertion_type") is None:
        raise missing_parameter("client_assertion_type")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise malformed(f"client_assertion_type must be '{ASSERTION_TYPE}'.")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise _invalid_client(
            50027, "Invalid JWT token: the client assertion is malformed."
        ) from None
    algorithm = header.get("alg")
    if algorithm not in ("RS256", "PS256"):
        raise _invalid_client(
            700027, f"Client assertion failed signature validation: alg '{algorithm}'."
        )
    payload = _signed_payload(assertion, algorithm, _candidate_certificates(app, header))
    if payload is None:
        raise _invalid_client(
            700027,
            "Client assertion failed signature validation. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{header.get('x5t') or header.get('x5t#S256')}'"
            f", Please visit the Azure Portal to verify the credentials of app '{app.client_id}'.]",
        )
    _check_claims(state, app, payload, base_url=base_url, tenant=tenant)


def _signed_payload(
    assertion: str, algorithm: str, certs: list[x509.Certificate]
) -> Optional[dict[str, Any]]:
    for cert in certs:
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            continue
        try:
            raw = jwt.PyJWS().decode(assertion, key=key, algorithms=[algorithm])
        except jwt.PyJWTError:
            continue
        try:
            payload = json.loads(raw)
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None
    return None


def _audiences(tenant: TenantRef, state: ProviderState) -> set[str]:
    """Token-endpoint paths the assertion's ``aud`` may name (lower-cased); any host is
    accepted, so host aliases (localhost / 127.0.0.1, login.windows.net...) all work."""
    segments = {tenant.segment, tenant.path, tenant.tenant_id or tenant.segment}
    for t in state.config.tenants:
        if t.tenant_id == tenant.tenant_id:
            segments.update(t.domains)
    paths = set()
    for segment in segments:
        paths.add(f"/{segment}/oauth2/v2.0/token".lower())
        paths.add(f"/{segment}/oauth2/token".lower())
    return paths


def _check_claims(
    state: ProviderState,
    app: App,
    payload: dict[str, Any],
    *,
    base_url: str,
    tenant: TenantRef,
) -> None:
    now = state.clock()
    exp, nbf = payload.get("exp"), payload.get("nbf")
    if not isinstance(exp, (int, float)) or (nbf is not None and not isinstance(nbf, (int, float))):
        raise _invalid_client(50027, "Invalid JWT token: the client assertion needs numeric exp.")
    if now > exp + CLOCK_SKEW or (nbf is not None and now < nbf - CLOCK_SKEW):
        raise _invalid_client(
            700024,
            f"Client assertion is not within its valid time range. Current time: {int(now)}, "
            f"assertion valid from {nbf}, expiry time of assertion {exp}.",
        )
    if payload.get("iss") != payload.get("sub"):
        raise _invalid_client(50048, "Subject mismatches Issuer claim in the client assertion.")
    if str(payload.get("iss", "")).lower() != app.client_id.lower():
        raise _invalid_client(
            700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        )
    audiences = payload.get("aud")
    auds = audiences if isinstance(audiences, list) else [audiences]
    wanted = _audiences(tenant, state)
    if not any(isinstance(a, str) and _aud_ok(a, wanted) for a in auds):
        raise _invalid_client(
            50027,
            f"Invalid JWT token. The client assertion audience '{audiences}' must be the "
            f"token endpoint '{base_url}/{tenant.segment}/oauth2/v2.0/token'.",
        )
    _check_replay(state, payload, exp)


def _aud_ok(aud: str, wanted: set[str]) -> bool:
    parts = urlsplit(aud.strip())
    return parts.scheme in ("https", "http") and parts.path.rstrip("/").lower() in wanted


def _check_replay(state: ProviderState, payload: dict[str, Any], exp: float) -> None:
    jti = payload.get("jti")
    if not state.options.reject_assertion_replay or not isinstance(jti, str):
        return
    store = state.seen_assertions
    with store.lock:
        if store.get(jti) is not None:
            raise _invalid_client(
                50027,
                f"Invalid JWT token: the client assertion with jti '{jti}' has already been "
                "used (replay).",
            )
        store.put(jti, SeenAssertion(expires_at=float(exp) + CLOCK_SKEW))
