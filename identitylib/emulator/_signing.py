"""Token-signing keys: RSA 2048 with a self-signed certificate each, JWKS and rollover."""

from __future__ import annotations

import base64
import datetime
import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from identitylib._protocol._jwt import b64url_encode

#: Keys kept in the JWKS after rollovers (the oldest beyond this are dropped).
MAX_KEYS = 16


def new_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA 2048 private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _int_b64url(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    """One key: ``kid`` == ``x5t`` == base64url SHA-1 of its certificate's DER."""

    kid: str
    private_key: rsa.RSAPrivateKey
    certificate_der: bytes

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def jwk(self, issuer: Optional[str]) -> dict[str, Any]:
        """The public JWK as Entra publishes it (``issuer`` only when known)."""
        numbers = self.public_key.public_numbers()
        key: dict[str, Any] = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int_b64url(numbers.n),
            "e": _int_b64url(numbers.e),
            "x5c": [_std_b64(self.certificate_der)],
        }
        if issuer:
            key["issuer"] = issuer
        return key


def _std_b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def make_signing_key(now: float, private_key: Optional[rsa.RSAPrivateKey] = None) -> SigningKey:
    """Wrap ``private_key`` (a new one if None) with a self-signed certificate."""
    key = private_key or new_rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "identitylib emulator signing")])
    start = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - datetime.timedelta(days=1))
        .not_valid_after(start + datetime.timedelta(days=5 * 365))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    kid = b64url_encode(hashlib.sha1(der).digest())  # noqa: S324 - x5t is SHA-1 by definition
    return SigningKey(kid, key, der)


class KeyRing:
    """The published keys; the newest signs. Thread-safe."""

    def __init__(self, first: SigningKey) -> None:
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = [first]

    @property
    def current(self) -> SigningKey:
        with self._lock:
            return self._keys[-1]

    def add(self, key: SigningKey) -> str:
        """Publish ``key`` and sign with it from now on; return its kid."""
        with self._lock:
            self._keys.append(key)
            del self._keys[:-MAX_KEYS]
        return key.kid

    def find(self, kid: str) -> Optional[SigningKey]:
        with self._lock:
            return next((k for k in self._keys if k.kid == kid), None)

    def all(self) -> list[SigningKey]:
        with self._lock:
            return list(self._keys)

    def jwks(self, issuer: Optional[str]) -> dict[str, Any]:
        """``{"keys": [...]}``, newest key first."""
        return {"keys": [k.jwk(issuer) for k in reversed(self.all())]}

    def sign(self, claims: dict[str, Any], *, with_x5t: bool = False) -> str:
        """An RS256 compact JWT with ``typ``/``kid`` (and ``x5t`` for v1 tokens) headers."""
        key = self.current
        headers: dict[str, Any] = {"typ": "JWT", "kid": key.kid}
        if with_x5t:
            headers["x5t"] = key.kid
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers=headers)


class PolicyKeys:
    """One key ring per B2C user flow, each made at its first use (B2C publishes keys per
    policy). Thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rings: dict[tuple[str, str], KeyRing] = {}

    def ring(self, tenant_id: str, policy: str) -> KeyRing:
        """The key ring of ``policy`` in tenant ``tenant_id`` (case-insensitive)."""
        key = (tenant_id.lower(), policy.lower())
        with self._lock:
            found = self._rings.get(key)
            if found is None:
                found = self._rings[key] = KeyRing(make_signing_key(self._clock()))
            return found
