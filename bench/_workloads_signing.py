"""Workloads 10 and 11 of ``bench/run.py``: signing and checking JWTs.

- 10: the cost of a client assertion per token request (identitylib signs one for every
  request; msal reuses one signed JWT for about nine minutes), and of signing one alone.
- 11: a protected API's guard per request (``identitylib.web.ProtectedApi``) beside a
  plain PyJWT decode of the same token with the same checks (msal has no validator).

Information rows, no target.
"""

from __future__ import annotations

import functools
import importlib
import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from _common import CLIENT_ID, FakeResponse, authority_url, tenant_id
from _fixtures import FakeIdp, bench_certificate
from _harness import (
    Budget,
    Collected,
    Pace,
    Setup,
    confidential_app,
    interleaved_rounds,
    log,
    measured_row,
    misses,
    timed_rounds,
)

# ------------------------------------------------------------ 10. client assertions


#: (algorithm, client_credential key naming the certificate): both libraries pick RS256
#: with a SHA-1 ``thumbprint`` and PS256 with the ``public_certificate``.
CERT_FORMS = (("RS256", "thumbprint"), ("PS256", "public_certificate"))
ASSERTION_TENANT = tenant_id(10)


def certificate_credential(form: str) -> dict[str, str]:
    cert = bench_certificate()
    return {"private_key": cert["private_key"], form: cert[form]}


def assertion_signers(
    libs: dict[str, ModuleType], algorithm: str, form: str
) -> dict[str, Callable[[int], object]]:
    """Signing one client assertion: identitylib's credential (as on every token request)
    and msal's own signer (which msal calls once, then reuses the JWT for ~9 minutes)."""
    from identitylib._credential import parse_client_credential

    audience = f"{authority_url(ASSERTION_TENANT)}/oauth2/v2.0/token"
    ours = parse_client_credential(certificate_credential(form))
    cert = bench_certificate()
    thumbprint = (
        {"sha1_thumbprint": cert["thumbprint"]}
        if algorithm == "RS256"
        else {"sha256_thumbprint": cert["sha256"]}
    )
    creator = importlib.import_module("msal.oauth2cli").JwtAssertionCreator(
        cert["private_key"], algorithm, **thumbprint
    )
    return {
        "msal": lambda i: creator.create_normal_assertion(audience, CLIENT_ID),
        "identitylib": lambda i: ours.auth_fields(client_id=CLIENT_ID, token_endpoint=audience)[
            "client_assertion"
        ],
    }


def check_jwt(what: str) -> Callable[[object], None]:
    def check(result: object) -> None:
        text = result.decode() if isinstance(result, bytes) else result
        if not (isinstance(text, str) and len(text.split(".")) == 3):
            raise RuntimeError(f"{what}: not a JWT: {type(result).__name__}")

    return check


def w10_client_assertions(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """The cost of a fresh client assertion per token request (identitylib signs one for
    every request; msal reuses one signed JWT for about nine minutes)."""
    for algorithm, form in CERT_FORMS:
        log(f"10. client assertion per token request, {algorithm}")
        stats = timed_rounds(
            libs,
            b.rounds,
            _assertion_miss_calls(certificate_credential(form)),
            misses(b),
            "cert miss",
        )
        row = measured_row(
            "10 client assertion",
            f"cc miss, certificate {algorithm} (msal reuses its JWT)",
            None,
            stats,
            "(info)",
        )
        row.met = False if stats["identitylib"]["rpc"] != 1 else None
        out.rows.append(row)
        signing = interleaved_rounds(
            b.rounds,
            functools.partial(assertion_signers, libs, algorithm, form),
            misses(b),
            {name: check_jwt(f"{name} sign {algorithm}") for name in libs},
        )
        out.rows.append(
            measured_row(
                "10 client assertion",
                f"signing one, {algorithm} (identitylib: per token request)",
                None,
                signing,
                "(info)",
            )
        )


def _assertion_miss_calls(credential: dict[str, str]) -> Setup:
    """A certificate credential's app; a scope no token has, each call."""

    def setup(name: str, lib: ModuleType, r: int) -> tuple[Callable[[int], object], Any]:
        http = FakeIdp()
        app = confidential_app(lib, ASSERTION_TENANT, http, credential=credential)
        app.acquire_token_for_client(["api://bench-assertion-warm/.default"])  # discovery
        return (lambda i: app.acquire_token_for_client([f"api://assertion-{r}-{i}/.default"])), http

    return setup


# ---------------------------------------------------------------- 11. API guard


class _KeysIdp:
    """An ``http_client`` serving an issuer's OpenID configuration and JWKS (one RSA key)."""

    def __init__(self, authority: str, jwk: dict[str, Any]) -> None:
        self.authority = authority
        self.jwk = jwk
        self.gets = 0

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        self.gets += 1
        if url.endswith("/keys"):
            return FakeResponse(200, {"keys": [self.jwk]})
        host = self.authority.split("/")[2]
        tenant = self.authority.rstrip("/").rsplit("/", 1)[1]
        return FakeResponse(
            200,
            {
                "issuer": f"https://{host}/{tenant}/v2.0",
                "token_endpoint": f"{self.authority}/oauth2/v2.0/token",
                "authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                "jwks_uri": f"{self.authority}/discovery/v2.0/keys",
            },
        )

    def post(self, url: str, **kwargs: Any) -> Any:
        raise RuntimeError("the guard benchmark makes no POST")


def w11_api_guard(libs: dict[str, ModuleType], b: Budget, out: Collected) -> None:
    """A protected API's guard per request (``identitylib.web.ProtectedApi.authenticate``:
    signature with a cached RS256 key, issuer, audience, lifetime, scope), beside a plain
    PyJWT decode of the same token with the same checks (msal has no validator)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from identitylib.web import ProtectedApi

    log("11. protected API guard per request (cached keys, RS256)")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench-key", use="sig", alg="RS256")
    tenant = tenant_id(11)
    authority = authority_url(tenant)
    issuer = f"https://{authority.split('/')[2]}/{tenant}/v2.0"
    audience = "api://bench-guarded-api"
    now = int(time.time())
    claims = {
        "iss": issuer, "aud": audience, "tid": tenant, "azp": CLIENT_ID, "ver": "2.0",
        "iat": now, "nbf": now, "exp": now + 3600, "scp": "access_as_user", "sub": "bench-user",
        "oid": "0b0e0000-0000-4000-8000-000000000001", "name": "Bench User",
    }  # fmt: skip
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench-key"})
    header = f"Bearer {token}"
    http = _KeysIdp(authority, jwk)
    api = ProtectedApi(authority, audience=audience, http_client=http)
    api.authenticate(header, scopes=["access_as_user"])  # discovery and keys, once
    public = key.public_key()

    def guard(i: int) -> object:
        return api.authenticate(header, scopes=["access_as_user"]).claims["sub"]

    def plain(i: int) -> object:
        decoded = jwt.decode(token, public, algorithms=["RS256"], audience=audience, issuer=issuer)
        if "access_as_user" not in decoded["scp"].split():
            raise RuntimeError("scope missing")
        return decoded["sub"]

    def same(what: str) -> Callable[[object], None]:
        def check(result: object) -> None:
            if result != "bench-user":
                raise RuntimeError(f"{what}: {result!r}")

        return check

    stats = interleaved_rounds(
        b.rounds,
        lambda: {"msal": plain, "identitylib": guard},
        Pace(b.hit_calls, b.hit_s, 50, None),
        {"msal": same("PyJWT decode"), "identitylib": same("guard")},
    )
    if http.gets != 2:
        out.notes.append(f"11 guard: {http.gets} key/metadata fetches (expected 2, once each)")
    out.rows.append(
        measured_row(
            "11 API guard",
            "authenticate (cached key, RS256) vs plain PyJWT decode in the msal column",
            None,
            stats,
            "(info)",
        )
    )
