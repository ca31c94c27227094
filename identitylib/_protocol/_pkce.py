"""Proof Key for Code Exchange (RFC 7636) with the ``S256`` method."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from ._jwt import b64url_encode

#: The only method the library sends; ``plain`` protects nothing against a code thief.
METHOD = "S256"


def challenge_of(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))``: what the authorization request carries."""
    return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class Pkce:
    """A fresh code verifier and its challenge."""

    verifier: str
    challenge: str
    method: str = METHOD

    @classmethod
    def new(cls) -> Pkce:
        """A verifier of 43 characters from 32 random bytes (RFC 7636 §4.1: 43 to 128)."""
        verifier = secrets.token_urlsafe(32)
        return cls(verifier, challenge_of(verifier))
