"""Helpers of the token validation tests: an Entra-like issuer served by ``responses``.

No tests here. Keys are generated once per test session.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional

import jwt
import responses
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from identitylib.validation import AccessTokenValidator
from identitylib.validation._discovery import clear_failures
from identitylib.validation._jwks_cache import JWKS_CACHE

from .conftest import TENANT

ENTRA = "https://login.microsoftonline.com"
AUTHORITY = f"{ENTRA}/{TENANT}"
ISSUER = f"{ENTRA}/{TENANT}/v2.0"
TEMPLATE_ISSUER = f"{ENTRA}/{{tenantid}}/v2.0"
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
API_ID = "6e5f4a3b-2c1d-4e0f-9a8b-7c6d5e4f3a2b"
API_URI = "api://my-api"
USER_OID = "0a1b2c3d-0000-4000-8000-00000000a11c"

KEY_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_B = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())

#: Pass as a claim value to leave the claim out.
DROP = object()


def public_jwk(key: Any, kid: Optional[str], **extra: Any) -> dict[str, Any]:
    """The public JWK of an RSA or EC private key."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True))
    else:
        jwk = dict(ECAlgorithm.to_jwk(key.public_key(), as_dict=True))
    if kid is not None:
        jwk["kid"] = kid
    jwk.setdefault("use", "sig")
    jwk.update(extra)
    return jwk


def jwks_uri(tenant: str = TENANT) -> str:
    return f"{ENTRA}/{tenant}/discovery/v2.0/keys"


class FakeIssuer:
    """Discovery and JWKS of ``{ENTRA}/{tenant}`` on a ``responses`` mock.

    ``keys`` maps kid → private key; the published JWKS can be changed with
    :meth:`publish`, made to fail with ``jwks_status``, and slowed with ``jwks_delay``.
    Requests are counted in ``jwks_requests`` and ``discovery_requests``; ``fetch_threads``
    holds the thread that made each of them (an asyncio test proves the loop's never did).
    """

    def __init__(
        self,
        http: responses.RequestsMock,
        *,
        tenant: str = TENANT,
        issuer: Optional[str] = None,
        keys: Optional[Mapping[Optional[str], Any]] = None,
        key_issuer: Optional[str] = None,
    ) -> None:
        self.tenant = tenant
        self.issuer = issuer if issuer is not None else f"{ENTRA}/{tenant}/v2.0"
        self.jwks_uri = jwks_uri(tenant)
        self.jwks_status = 200
        self.jwks_delay = 0.0
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.fetch_threads: list[int] = []
        self._lock = threading.Lock()
        self._jwks: dict[str, Any] = {}
        self.publish(keys if keys is not None else {"kid-a": KEY_A}, key_issuer=key_issuer)
        http.add_callback(
            responses.GET,
            f"{ENTRA}/{tenant}/v2.0/.well-known/openid-configuration",
            callback=self._discovery,
        )
        http.add_callback(responses.GET, self.jwks_uri, callback=self._keys)

    def publish(
        self,
        keys: Mapping[Optional[str], Any],
        *,
        key_issuer: Optional[str] = None,
        extra: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Serve these keys (kid → private key) from now on."""
        members = {"issuer": key_issuer} if key_issuer else {}
        members.update(extra or {})
        self._jwks = {"keys": [public_jwk(k, kid, **members) for kid, k in keys.items()]}

    def serve_raw(self, document: Any) -> None:
        """Serve exactly this JWKS document."""
        self._jwks = document

    def _discovery(self, request: Any) -> tuple[int, dict[str, str], str]:
        with self._lock:
            self.discovery_requests += 1
            self.fetch_threads.append(threading.get_ident())
        base = f"{ENTRA}/{self.tenant}"
        document = {
            "issuer": self.issuer,
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "jwks_uri": self.jwks_uri,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(document)

    def _keys(self, request: Any) -> tuple[int, dict[str, str], str]:
        with self._lock:
            self.jwks_requests += 1
            self.fetch_threads.append(threading.get_ident())
        if self.jwks_delay:
            time.sleep(self.jwks_delay)
        if self.jwks_status != 200:
            return self.jwks_status, {}, '{"error": "server_error"}'
        return 200, {"Content-Type": "application/json"}, json.dumps(self._jwks)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """An Entra v2 delegated access token's claims for API_ID, valid for an hour."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": API_ID,
            "iss": self.issuer.replace("{tenantid}", self.tenant),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": self.tenant,
            "oid": USER_OID,
            "sub": "pairwise-sub",
            "azp": "client-app",
            "scp": "access_as_user",
            "name": "Alice Example",
            "ver": "2.0",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not DROP}

    def token(
        self,
        *,
        key: Any = KEY_A,
        kid: Optional[str] = "kid-a",
        alg: str = "RS256",
        headers: Optional[Mapping[str, Any]] = None,
        **claims: Any,
    ) -> str:
        """A signed access token (claims as :meth:`claims`)."""
        header: dict[str, Any] = {"typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        header.update(headers or {})
        payload = json.dumps(self.claims(**claims)).encode()
        return jwt.PyJWS().encode(payload, key, algorithm=alg, headers=header)


def make_validator(**kwargs: Any) -> AccessTokenValidator:
    """A validator of AUTHORITY's tokens for API_ID / API_URI (arguments override)."""
    authority = kwargs.pop("authority", AUTHORITY)
    kwargs.setdefault("audience", [API_ID, API_URI])
    return AccessTokenValidator(authority, **kwargs)


def reset_caches() -> None:
    """Forget every cached key set and discovery failure (REGISTRY is reset by conftest)."""
    JWKS_CACHE.clear()
    clear_failures()
