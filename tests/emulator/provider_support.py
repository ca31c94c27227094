"""Helpers for the identity-provider model tests: a fake clock, sign-in drivers, decoding."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from identitylib.emulator._config import (
    DEMO_CLI_ID,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    App,
    EmulatorConfig,
)
from identitylib.emulator._faults import Faults
from identitylib.emulator._provider import IdentityProvider
from identitylib.emulator._reply import Reply
from tests.certs import TestCertificate, make_certificate

BASE = "https://localhost:8443"
TENANT = DEMO_TENANT_ID
WEB_REDIRECT = "http://localhost:5000/getAToken"
ALICE = "alice@contoso.onmicrosoft.com"
ALICE_PASSWORD = "alice-password"
ALICE_OID = "0a1b2c3d-0000-4000-8000-00000000a11c"
CERT_APP_ID = "a1b2c3d4-0099-4000-8000-0000000000c9"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
OBO_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class FakeClock:
    """A settable clock starting at the real time (so pyjwt's own checks still pass)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@functools.cache
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def app_certificate() -> TestCertificate:
    return make_certificate(subject="identitylib emulator test app")


def config_with_cert_app() -> EmulatorConfig:
    """The demo world plus a confidential app that authenticates with a certificate."""
    config = EmulatorConfig.default()
    config.apps.append(
        App(CERT_APP_ID, "cert-app", certificates=[app_certificate().certificate_pem])
    )
    return config


@dataclass
class World:
    provider: IdentityProvider
    clock: FakeClock
    faults: Faults
    config: EmulatorConfig


def make_world(config: Optional[EmulatorConfig] = None, **options: Any) -> World:
    clock = FakeClock()
    faults = Faults()
    config = config or config_with_cert_app()
    provider = IdentityProvider(
        config, faults=faults, clock=clock, signing_key=signing_key(), **options
    )
    return World(provider, clock, faults, config)


def token(
    world: World,
    form: dict[str, str],
    *,
    tenant: str = TENANT,
    headers: Optional[dict[str, str]] = None,
) -> Reply:
    return world.provider.token(BASE, tenant, form, headers or {})


def body(reply: Reply) -> dict[str, Any]:
    assert reply.json is not None, reply
    return reply.json


def assert_error(reply: Reply, error: str, code: int, status: int = 400) -> dict[str, Any]:
    data = body(reply)
    assert reply.status == status, data
    assert data["error"] == error, data
    assert data["error_codes"] == [code], data
    assert data["error_description"].startswith(f"AADSTS{code}: "), data
    assert "Trace ID: " in data["error_description"]
    assert reply.headers["x-ms-request-id"] == data["trace_id"]
    return data


def public_key_for(world: World, token_text: str) -> Any:
    kid = jwt.get_unverified_header(token_text)["kid"]
    keys = body(world.provider.jwks(TENANT, base_url=BASE))["keys"]
    jwk = next(k for k in keys if k["kid"] == kid)
    return jwt.PyJWK(jwk).key


def decode(world: World, token_text: str, audience: str) -> dict[str, Any]:
    """Verify the signature against the published JWKS and return the claims."""
    claims: dict[str, Any] = jwt.decode(
        token_text,
        public_key_for(world, token_text),
        algorithms=["RS256"],
        audience=audience,
        options={"verify_iat": False},
        leeway=86400 * 365,
    )
    return claims


def form_fields(page: str) -> dict[str, str]:
    """name → value of the inputs of an HTML page."""
    return {
        html.unescape(m.group(1)): html.unescape(m.group(2))
        for m in re.finditer(r'<input[^>]*name="([^"]*)"[^>]*value="([^"]*)"', page)
    }


def location_params(reply: Reply) -> dict[str, str]:
    assert reply.status == 302, reply
    assert reply.location, reply
    parts = urlsplit(reply.location)
    raw = parts.fragment or parts.query
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(**extra: str) -> dict[str, str]:
    params = {
        "client_id": DEMO_WEB_ID,
        "response_type": "code",
        "redirect_uri": WEB_REDIRECT,
        "scope": "api://demo-api/access_as_user openid profile offline_access",
        "state": "st-1",
        "nonce": "nonce-1",
        "client_info": "1",
    }
    params.update(extra)
    return params


def start_sign_in(world: World, params: dict[str, str], tenant: str = TENANT) -> str:
    """Run /authorize and return the ``txn`` of the sign-in page."""
    reply = world.provider.authorize(BASE, tenant, params)
    assert reply.status == 200, reply
    assert reply.html, reply
    return form_fields(reply.html)["txn"]


def sign_in(
    world: World,
    params: dict[str, str],
    *,
    username: str = ALICE,
    password: str = ALICE_PASSWORD,
    tenant: str = TENANT,
) -> Reply:
    txn = start_sign_in(world, params, tenant)
    form = {"txn": txn, "username": username, "password": password, "action": "signin"}
    return world.provider.sign_in(BASE, tenant, form)


def get_code(world: World, params: Optional[dict[str, str]] = None, **kw: Any) -> str:
    reply = sign_in(world, params or authorize_params(), **kw)
    return location_params(reply)["code"]


def redeem(world: World, code: str, **extra: str) -> Reply:
    form = {
        "grant_type": "authorization_code",
        "client_id": DEMO_WEB_ID,
        "client_secret": DEMO_WEB_SECRET,
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "client_info": "1",
    }
    form.update(extra)
    return token(world, form)


def user_tokens(
    world: World, scope: str = "api://demo-api/access_as_user openid profile offline_access"
) -> dict[str, Any]:
    """Alice's tokens for the public demo CLI app via ROPC."""
    reply = token(
        world,
        {
            "grant_type": "password",
            "client_id": DEMO_CLI_ID,
            "username": ALICE,
            "password": ALICE_PASSWORD,
            "scope": scope,
            "client_info": "1",
        },
    )
    return body(reply)


def assertion(
    *,
    aud: str = f"{BASE}/{TENANT}/oauth2/v2.0/token",
    iss: str = CERT_APP_ID,
    sub: Optional[str] = None,
    alg: str = "RS256",
    now: Optional[float] = None,
    lifetime: int = 600,
    jti: Optional[str] = None,
    key: Any = None,
    thumbprint: bool = True,
) -> str:
    """A client assertion signed with the registered test certificate's key."""
    cert = app_certificate()
    issued = int(now if now is not None else time.time())
    claims = {
        "aud": aud,
        "iss": iss,
        "sub": sub if sub is not None else iss,
        "jti": jti or str(uuid.uuid4()),
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
    }
    headers: dict[str, Any] = {}
    if thumbprint:
        if alg == "PS256":
            headers["x5t#S256"] = _b64url(bytes.fromhex(cert.sha256_hex))
        else:
            headers["x5t"] = _b64url(bytes.fromhex(cert.sha1_hex))
    return jwt.encode(claims, key or cert.private_key_pem, algorithm=alg, headers=headers)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
