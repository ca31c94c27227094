"""JSON Web Key Sets: the GET of ``jwks_uri``, parsing, and public keys per algorithm."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from jwt.algorithms import get_default_algorithms
from jwt.exceptions import PyJWTError

from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse
from identitylib._protocol._token_response import parse_json_object

from ._errors import invalid_token, unavailable

#: The public members of each key type; anything else (private parts included) is dropped.
_PUBLIC_MEMBERS = {
    "RSA": ("n", "e"),
    "EC": ("crv", "x", "y"),
    "OKP": ("crv", "x"),
}
#: Keys read from one JWKS at most (Entra publishes a handful).
MAX_KEYS = 100


@dataclass(frozen=True)
class Jwk:
    """One published public key: its ``kid``, scoping ``issuer`` (Entra) and members."""

    kid: Optional[str]
    kty: str
    alg: Optional[str]
    issuer: Optional[str]
    members: Mapping[str, Any]
    _prepared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def public_key(self, alg: str) -> Any:
        """The key object that verifies ``alg`` signatures; invalid_token if it cannot."""
        if self.alg is not None and self.alg != alg:
            raise invalid_token(f"The token's algorithm {alg} does not match its signing key")
        with self._lock:
            prepared = self._prepared.get(alg)
        if prepared is not None:
            return prepared
        algorithm = get_default_algorithms().get(alg)
        if algorithm is None:
            raise invalid_token(f"The token's algorithm {alg} is not supported")
        try:
            prepared = algorithm.from_jwk(dict(self.members, kty=self.kty))
        except (PyJWTError, ValueError, TypeError, KeyError):
            raise invalid_token(
                f"The token's algorithm {alg} does not fit its signing key ({self.kty})"
            ) from None
        with self._lock:
            self._prepared[alg] = prepared
        return prepared


@dataclass(frozen=True)
class KeySet:
    """The usable signing keys of one JWKS."""

    keys: tuple[Jwk, ...]

    def find(self, kid: Optional[str]) -> Optional[Jwk]:
        """The key named ``kid``; for a token without ``kid``, the only key if there is one."""
        if kid is None:
            return self.keys[0] if len(self.keys) == 1 else None
        return next((k for k in self.keys if k.kid == kid), None)


def _jwk(raw: Any) -> Optional[Jwk]:
    """A usable signing key from one JWKS member, or None to skip it."""
    if not isinstance(raw, dict):
        return None
    kty, kid, use = raw.get("kty"), raw.get("kid"), raw.get("use")
    alg, issuer = raw.get("alg"), raw.get("issuer")
    if kty not in _PUBLIC_MEMBERS or (use is not None and use != "sig"):
        return None
    if any(v is not None and not isinstance(v, str) for v in (kid, alg, issuer)):
        return None
    members = {name: raw[name] for name in _PUBLIC_MEMBERS[kty] if name in raw}
    if len(members) != len(_PUBLIC_MEMBERS[kty]):
        return None
    return Jwk(kid=kid, kty=kty, alg=alg, issuer=issuer or None, members=members)


def parse_jwks(uri: str, response: HttpResponse) -> KeySet:
    """The keys of a JWKS response; ``temporarily_unavailable`` if there are none."""
    body = parse_json_object(response, f"signing keys endpoint {uri}")
    if isinstance(body, str):
        raise unavailable(f"Could not read the issuer's signing keys: {body}")
    if not response.is_success:
        raise unavailable(
            f"The issuer's signing keys endpoint {uri} answered HTTP {response.status_code}"
        )
    raw_keys = body.get("keys")
    if not isinstance(raw_keys, list):
        raise unavailable(f"The signing keys document of {uri} has no list of keys")
    keys = tuple(k for k in map(_jwk, raw_keys[:MAX_KEYS]) if k is not None)
    if not keys:
        raise unavailable(f"The signing keys document of {uri} has no usable signing key")
    return KeySet(keys)


def jwks_flow(uri: str) -> Flow[KeySet]:
    """GET ``uri`` and parse the key set."""
    response = yield HttpRequest("GET", uri, headers={"Accept": "application/json"})
    return parse_jwks(uri, response)
