"""Fixtures of ``bench/run.py``: a fake identity provider for every flow, and caches.

- ``FakeIdp``: an in-memory ``http_client`` (no network) answering OIDC discovery, client
  credentials, refresh-token and on-behalf-of requests, optionally after a delay (a slow
  server), counting GETs and POSTs (thread-safe) and adding up the time spent in its own
  methods (``server_ns``), which workload 15 takes off each call's time.
- ``AsyncFakeIdp``: the same answers for an ``httpx.AsyncClient`` (an ``httpx.MockTransport``
  whose delay is an ``asyncio.sleep``), for identitylib.aio in workload 16.
- Cache builders in MSAL's unified schema (msal's own key format and fields), serialized
  to JSON so that both libraries deserialize the identical cache: app tokens, user
  accounts (Account + AccessToken + RefreshToken), on-behalf-of tokens.
- ``bench_certificate``: a self-signed RSA-2048 certificate and its key, for certificate
  credentials (workload 10).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import functools
import hashlib
import json
import threading
import time
from typing import Any, Optional
from urllib.parse import parse_qs

from _common import AUTHORITY_HOST, CLIENT_ID, FakeHttpClient, FakeResponse

ENV = AUTHORITY_HOST
USER_TENANT = "7e4a0000-0000-4000-8000-0000000a11ce"
USER_SCOPE = "api://bench-user-api/read"
OIDC_SCOPES = "openid profile email"
OBO_SCOPE = "api://bench-downstream/.default"


def b64url(raw: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def client_info(uid: str, utid: str) -> str:
    """The ``client_info`` the server returns: base64url JSON of uid and utid."""
    return b64url(json.dumps({"uid": uid, "utid": utid}).encode())


def assertion_hash(assertion: str) -> str:
    """``user_assertion_hash``: base64url(SHA-256) of the incoming assertion."""
    return b64url(hashlib.sha256(assertion.encode()).digest())


def user_uid(i: int) -> str:
    """Object id of user ``i``."""
    return f"0b0e0000-0000-4000-8000-{i:012x}"


def user_home(i: int) -> str:
    """home_account_id of user ``i``."""
    return f"{user_uid(i)}.{USER_TENANT}"


def refresh_token_of(i: int) -> str:
    """The refresh token of user ``i`` (the fake server reads the user back from it)."""
    return f"rt.{user_uid(i)}.{USER_TENANT}"


def assertion_of(i: int) -> str:
    """The incoming access token of user ``i`` for OBO (opaque to both libraries)."""
    return f"incoming-jwt-of-user-{i:08d}"


class FakeIdp(FakeHttpClient):
    """``FakeHttpClient`` answering every grant the benchmark uses; ``delay_s`` per request."""

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__()
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self.grants: dict[str, int] = {}
        #: Nanoseconds spent inside ``get`` and ``post`` so far (the fake server's own work,
        #: its delay included): not the library's time.
        self.server_ns = 0

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        """Discovery (instance discovery or OIDC configuration), after the delay."""
        started = time.perf_counter_ns()
        try:
            return self._get(url, params, headers, **kwargs)
        finally:
            self._spent(started)

    def _spent(self, started: int) -> None:
        elapsed = time.perf_counter_ns() - started
        with self._lock:
            self.server_ns += elapsed

    def _get(self, url: str, params: Any, headers: Any, **kwargs: Any) -> Any:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            response = super().get(url, params=params, headers=headers, **kwargs)
        if "discovery/instance" in url:  # msal's instance discovery
            tenant_url = (params or {}).get("authorization_endpoint", "")
            return FakeResponse(
                200,
                {
                    "tenant_discovery_endpoint": tenant_url.replace(
                        "oauth2/v2.0/authorize", "v2.0/.well-known/openid-configuration"
                    ),
                    "api-version": "1.1",
                    "metadata": [
                        {
                            "preferred_network": ENV,
                            "preferred_cache": ENV,
                            "aliases": [ENV],
                        }
                    ],
                },
            )
        return response

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        """A token response for the grant in ``data``, after the delay."""
        started = time.perf_counter_ns()
        try:
            return self._post(data)
        finally:
            self._spent(started)

    def _post(self, data: Any) -> Any:
        if self.delay_s:
            time.sleep(self.delay_s)
        fields = _fields(data)
        grant = fields.get("grant_type", "")
        with self._lock:
            self.posts += 1
            self.grants[grant] = self.grants.get(grant, 0) + 1
            serial = self.posts
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": f"fake-at-{serial}-{time.perf_counter_ns()}",
        }
        scope = " ".join(s for s in fields.get("scope", "").split() if s != "offline_access")
        if grant == "refresh_token":
            rt = fields.get("refresh_token", "")
            _, uid, utid = rt.split(".", 2)
            body.update(scope=scope, refresh_token=rt, client_info=client_info(uid, utid))
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = fields.get("assertion", "")
            body.update(scope=scope, refresh_token=f"obo-rt-{assertion_hash(assertion)}")
        return FakeResponse(200, body)


def _fields(data: Any) -> dict[str, str]:
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items()}
    if isinstance(data, (bytes, str)):
        raw = data.decode() if isinstance(data, bytes) else data
        return {k: v[0] for k, v in parse_qs(raw).items()}
    return {}


# ------------------------------------------------------------------------- certificates


@functools.lru_cache(maxsize=1)
def bench_certificate() -> dict[str, str]:
    """A self-signed RSA-2048 certificate: PEM ``private_key`` and ``public_certificate``,
    and its SHA-1 ``thumbprint`` and SHA-256 ``sha256`` (hex). Made once per process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "identitylib bench client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "private_key": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        "public_certificate": cert.public_bytes(pem).decode("ascii"),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),  # x5t is SHA-1
        "sha256": cert.fingerprint(hashes.SHA256()).hex().upper(),
    }


# ------------------------------------------------------------------------------ caches


def _times(now: int, lifetime: int) -> dict[str, str]:
    return {
        "cached_at": str(now),
        "expires_on": str(now + lifetime),
        "extended_expires_on": str(now + lifetime),
    }


def app_metadata() -> dict[str, Any]:
    """The AppMetadata section."""
    return {f"appmetadata-{ENV}-{CLIENT_ID}": {"client_id": CLIENT_ID, "environment": ENV}}


def user_cache(
    accounts: int,
    *,
    oidc_in_target: bool = True,
    now: Optional[int] = None,
    lifetime: int = 6 * 3600,
) -> str:
    """``accounts`` users, each with an Account, an RT and an AT for ``USER_SCOPE``; the
    AT's target also holds ``openid profile email`` (as the server returns it) when
    ``oidc_in_target``, else exactly ``USER_SCOPE``."""
    now = int(time.time()) if now is None else now
    scopes = [USER_SCOPE, *OIDC_SCOPES.split()] if oidc_in_target else [USER_SCOPE]
    target = " ".join(sorted(scopes))
    ats, rts, accts = {}, {}, {}
    for i in range(accounts):
        home = user_home(i)
        ats[f"{home}-{ENV}-accesstoken-{CLIENT_ID}-{USER_TENANT}-{target}".lower()] = {
            "credential_type": "AccessToken",
            "secret": f"user-at-{i}",
            "home_account_id": home,
            "environment": ENV,
            "client_id": CLIENT_ID,
            "target": target,
            "realm": USER_TENANT,
            "token_type": "Bearer",
            **_times(now, lifetime),
        }
        rts[f"{home}-{ENV}-refreshtoken-{CLIENT_ID}--".lower()] = {
            "credential_type": "RefreshToken",
            "secret": refresh_token_of(i),
            "home_account_id": home,
            "environment": ENV,
            "client_id": CLIENT_ID,
            "target": target,
            "last_modification_time": str(now),
        }
        accts[f"{home}-{ENV}-{USER_TENANT}".lower()] = {
            "home_account_id": home,
            "environment": ENV,
            "realm": USER_TENANT,
            "local_account_id": user_uid(i),
            "username": f"user{i:06d}@contoso.example",
            "authority_type": "MSSTS",
            "account_source": "authorization_code",
        }
    return json.dumps(
        {
            "AccessToken": ats,
            "RefreshToken": rts,
            "Account": accts,
            "IdToken": {},
            "AppMetadata": app_metadata(),
        }
    )


def account_of(i: int) -> dict[str, Any]:
    """The account dict of user ``i`` (as ``get_accounts`` returns it)."""
    return {
        "home_account_id": user_home(i),
        "environment": ENV,
        "username": f"user{i:06d}@contoso.example",
        "account_source": "authorization_code",
        "authority_type": "MSSTS",
        "local_account_id": user_uid(i),
        "realm": USER_TENANT,
    }


def obo_cache(users: int, *, now: Optional[int] = None, lifetime: int = 6 * 3600) -> str:
    """``users`` on-behalf-of access tokens for ``OBO_SCOPE``, bound to each assertion."""
    now = int(time.time()) if now is None else now
    ats = {}
    for i in range(users):
        home = user_home(i)
        ats[f"{home}-{ENV}-accesstoken-{CLIENT_ID}-{USER_TENANT}-{OBO_SCOPE}".lower()] = {
            "credential_type": "AccessToken",
            "secret": f"obo-at-{i}",
            "home_account_id": home,
            "environment": ENV,
            "client_id": CLIENT_ID,
            "target": OBO_SCOPE,
            "realm": USER_TENANT,
            "token_type": "Bearer",
            "user_assertion_hash": assertion_hash(assertion_of(i)),
            **_times(now, lifetime),
        }
    return json.dumps({"AccessToken": ats, "AppMetadata": app_metadata()})


def entra_access_token(tenant: str, i: int, now: int) -> str:
    """A JWT shaped like an Entra app token: RS256 header, ~30 claims, 256-byte signature
    (about 1.9 KB). Unsigned noise, deterministic per ``i``: only its size and shape count."""
    seed = hashlib.sha256(f"at-{tenant}-{i}".encode()).digest()
    hexed = seed.hex()
    oid = f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:32]}"
    header = {"typ": "JWT", "alg": "RS256", "x5t": b64url(seed[:20]), "kid": b64url(seed[:20])}
    claims = {
        "aud": "https://graph.microsoft.com",
        "iss": f"https://sts.windows.net/{tenant}/",
        "iat": now,
        "nbf": now,
        "exp": now + 3899,
        "aio": b64url(seed),
        "app_displayname": "contoso-billing-daemon",
        "appid": CLIENT_ID,
        "appidacr": "1",
        "idp": f"https://sts.windows.net/{tenant}/",
        "idtyp": "app",
        "oid": oid,
        "rh": "0." + b64url(seed[:24]) + ".",
        "roles": ["User.Read.All", "Directory.Read.All", "Mail.Send", "Files.Read.All"],
        "sub": oid,
        "tenant_region_scope": "EU",
        "tid": tenant,
        "uti": b64url(seed[:16]),
        "ver": "1.0",
        "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
        "xms_ftd": b64url(seed[:24]),
        "xms_idrel": "7 18",
        "xms_tcdt": now - 10**7,
        "xms_tdbr": "EU",
        "xms_rd": "0.42" + b64url(seed[:16]),
        "xms_cc": ["cp1"],
        "xms_ssm": "1",
        "acct": 0,
        "azpacr": "1",
        "ctry": "NL",
    }
    signature = b64url(hashlib.sha512(seed).digest() * 4)
    parts = (b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), signature)
    return ".".join(parts)


def realistic_app_token_cache(
    tokens: int, *, now: Optional[int] = None, lifetime: int = 6 * 3600
) -> str:
    """A serialized cache of ``tokens`` app tokens (10 scopes per tenant) whose secrets are
    Entra-sized JWTs (``entra_access_token``), in MSAL's schema and key format."""
    now = int(time.time()) if now is None else now
    section: dict[str, Any] = {}
    for i in range(tokens):
        tenant = f"{i // 10:08d}-aaaa-bbbb-cccc-dddddddddddd"
        scope = f"api://resource-{i % 10}/.default"
        key = f"-{AUTHORITY_HOST}-accesstoken-{CLIENT_ID}-{tenant}-{scope}".lower()
        section[key] = {
            "credential_type": "AccessToken",
            "secret": entra_access_token(tenant, i, now),
            "home_account_id": None,
            "environment": AUTHORITY_HOST,
            "client_id": CLIENT_ID,
            "target": scope,
            "realm": tenant,
            "token_type": "Bearer",
            **_times(now, lifetime),
        }
    return json.dumps({"AccessToken": section, "AppMetadata": app_metadata()})


# --------------------------------------------------------------------- asyncio transport


class AsyncFakeIdp:
    """The ``FakeIdp``'s answers for an ``httpx.AsyncClient``: an ``httpx.MockTransport``
    whose handler waits ``delay_s`` with ``asyncio.sleep`` (the event loop keeps running,
    as with a real server) and then answers as ``FakeIdp`` does, counting in ``idp``."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.idp = FakeIdp()

    @property
    def posts(self) -> int:
        """Token requests answered so far."""
        return self.idp.posts

    @property
    def requests(self) -> int:
        """Requests answered so far (GET and POST)."""
        return self.idp.requests

    def client(self) -> Any:
        """A new ``httpx.AsyncClient`` answered by this fake (close it with ``aclose``)."""
        import httpx

        async def answer(request: httpx.Request) -> httpx.Response:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            url = str(request.url)
            if request.method == "GET":
                params = dict(request.url.params)
                faked = self.idp.get(url.split("?", 1)[0], params=params)
            else:
                faked = self.idp.post(url, data=request.content)
            return httpx.Response(
                faked.status_code, headers=faked.headers, content=faked.text.encode()
            )

        return httpx.AsyncClient(transport=httpx.MockTransport(answer))
