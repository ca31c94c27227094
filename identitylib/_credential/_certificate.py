"""Certificate credentials: a private key signing short-lived client assertions (RFC 7523)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from identitylib._log import get_logger

from ._base import CLIENT_ASSERTION_TYPE_JWT, ClientAssertionError, ClientCredential, CredentialKind
from ._keys import (
    EC_ALGORITHMS,
    SigningKey,
    b64url,
    leaf_and_chain,
    load_pem_key,
    load_pfx,
    normalise_thumbprint,
    parse_pem_certificates,
    thumbprints,
    warn_if_expired,
    x5c_entry,
)

__all__ = [
    "ASSERTION_LIFETIME",
    "CertificateCredential",
    "certificate_credential_from_pem",
    "certificate_credential_from_pfx",
    "validate_client_claims",
]

logger = get_logger(__name__)

#: Seconds between ``iat`` and ``exp`` of a signed client assertion.
ASSERTION_LIFETIME = 600


def validate_client_claims(client_claims: object) -> dict[str, Any]:
    """Check ``client_claims`` (extra JWT claims) and return a private copy of it."""
    if client_claims is None:
        return {}
    if not isinstance(client_claims, Mapping):
        raise TypeError(f"client_claims must be a dict, got {type(client_claims).__name__}")
    claims = dict(client_claims)
    for name in claims:
        if not isinstance(name, str):
            raise TypeError(f"client_claims keys must be str, got {type(name).__name__}")
    try:
        json.dumps(claims)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"client_claims must be JSON-serialisable: {exc}") from None
    return json.loads(json.dumps(claims))  # type: ignore[no-any-return]  # deep copy


class _Signing(NamedTuple):
    algorithm: str
    headers: dict[str, Any]
    log_name: str  # "x5t" or "x5t#S256"
    log_thumbprint: str  # hex, for DEBUG logs; a thumbprint is public


class CertificateCredential(ClientCredential):
    """A private key signing RFC 7523 client assertions (``private_key_jwt``).

    With a SHA-1 ``thumbprint`` the assertion is RS256 with an ``x5t`` header; with a
    certificate it is PS256 with ``x5t#S256`` (RS256 with ``x5t`` for AD FS). ``x5c``
    carries the certificate chain when asked for (Subject Name + Issuer authentication).
    EC keys sign with ES256/ES384/ES512. The key, thumbprints and headers are prepared once;
    every token request gets a freshly signed assertion with its own ``jti`` (providers
    that enforce single use of a ``jti``, oidc-provider for one, refuse a replayed
    assertion).
    """

    kind: ClassVar[CredentialKind] = "certificate"
    __slots__ = ("_by_adfs", "_claims", "_key")

    def __init__(
        self,
        key: SigningKey,
        *,
        certificate: x509.Certificate | None = None,
        sha1_thumbprint: bytes | None = None,
        x5c: list[str] | None = None,
        client_claims: Mapping[str, Any] | None = None,
    ) -> None:
        if sha1_thumbprint is None and certificate is None:
            raise ValueError("a certificate or a SHA-1 thumbprint is needed")
        self._key = key
        self._claims = validate_client_claims(client_claims)
        base: dict[str, Any] = {"typ": "JWT"}
        if x5c:
            base["x5c"] = list(x5c)
        ec_alg = (
            EC_ALGORITHMS[key.curve.name] if isinstance(key, ec.EllipticCurvePrivateKey) else None
        )
        if sha1_thumbprint is not None:  # the app said which certificate: legacy SHA-1 form
            legacy = _Signing(
                ec_alg or "RS256",
                {**base, "x5t": b64url(sha1_thumbprint)},
                "x5t",
                sha1_thumbprint.hex().upper(),
            )
            self._by_adfs = {False: legacy, True: legacy}
        else:
            assert certificate is not None
            prints = thumbprints(certificate)
            self._by_adfs = {
                False: _Signing(
                    ec_alg or "PS256",
                    {**base, "x5t#S256": b64url(prints.sha256)},
                    "x5t#S256",
                    prints.sha256.hex().upper(),
                ),
                True: _Signing(  # AD FS only understands RS256 and SHA-1 thumbprints
                    ec_alg or "RS256",
                    {**base, "x5t": b64url(prints.sha1)},
                    "x5t",
                    prints.sha1.hex().upper(),
                ),
            }

    @property
    def algorithm(self) -> str:
        """The JWS algorithm used for Microsoft Entra ID (AD FS may differ)."""
        return self._by_adfs[False].algorithm

    def __repr__(self) -> str:
        signing = self._by_adfs[False]
        return (
            f"<{type(self).__name__} alg={signing.algorithm} "
            f"{signing.log_name}={signing.log_thumbprint} x5c={'x5c' in signing.headers}>"
        )

    def auth_fields(
        self,
        *,
        client_id: str,
        token_endpoint: str,
        is_adfs: bool = False,
        fmi_path: str | None = None,
    ) -> dict[str, str]:
        return {
            "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT,
            "client_assertion": self._sign(client_id, token_endpoint, bool(is_adfs)),
        }

    def _sign(self, client_id: str, token_endpoint: str, is_adfs: bool) -> str:
        """A new assertion, with a new ``jti``: one per token request, never reused."""
        signing = self._by_adfs[is_adfs]
        issued_at = int(time.time())
        claims: dict[str, Any] = {
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + ASSERTION_LIFETIME,
            "jti": str(uuid.uuid4()),
        }
        claims.update(self._claims)
        logger.debug(
            "Signing a client assertion (%s) with %s %s",
            signing.algorithm,
            signing.log_name,
            signing.log_thumbprint,
        )
        try:
            return jwt.encode(
                claims, self._key, algorithm=signing.algorithm, headers=signing.headers
            )
        except Exception as exc:
            raise ClientAssertionError(
                f"could not sign the client assertion with {signing.algorithm}: "
                f"{type(exc).__name__}"
            ) from exc


def certificate_credential_from_pem(
    *,
    private_key: object,
    passphrase: object = None,
    thumbprint: object = None,
    public_certificate: object = None,
    client_claims: Mapping[str, Any] | None = None,
) -> CertificateCredential:
    """The ``{"private_key": ..., "thumbprint"|"public_certificate": ...}`` forms."""
    if public_certificate is True:
        raise ValueError(
            "client_credential['public_certificate'] = True is only meaningful with "
            "'private_key_pfx_path'; with 'private_key' give the certificate's PEM text"
        )
    if public_certificate is not None and not isinstance(public_certificate, (str, bytes)):
        raise TypeError(
            "client_credential['public_certificate'] must be PEM text (str or bytes), got "
            f"{type(public_certificate).__name__}"
        )
    if thumbprint is None and public_certificate is None:
        raise ValueError(
            "client_credential with 'private_key' also needs 'public_certificate' (the PEM "
            "certificate; recommended: SHA-256 thumbprint, PS256, Subject Name/Issuer "
            "support) or 'thumbprint' (the certificate's SHA-1 thumbprint, 40 hex digits)"
        )
    sha1 = None if thumbprint is None else normalise_thumbprint(thumbprint)
    key = load_pem_key(private_key, passphrase)
    leaf = None
    x5c = None
    if public_certificate is not None:
        what = "client_credential['public_certificate']"
        certs = parse_pem_certificates(public_certificate, what=what)
        leaf, chain = leaf_and_chain(key, certs, what=what)
        warn_if_expired(leaf, what=what)
        x5c = [x5c_entry(c) for c in chain]
        if sha1 is not None and sha1 != thumbprints(leaf).sha1:
            logger.debug(
                "The thumbprint given differs from the SHA-1 of public_certificate; "
                "x5t uses the thumbprint given"
            )
    return CertificateCredential(
        key, certificate=leaf, sha1_thumbprint=sha1, x5c=x5c, client_claims=client_claims
    )


def certificate_credential_from_pfx(
    *,
    private_key_pfx_path: object,
    passphrase: object = None,
    public_certificate: object = None,
    thumbprint: object = None,
    client_claims: Mapping[str, Any] | None = None,
) -> CertificateCredential:
    """The ``{"private_key_pfx_path": ...}`` form.

    ``public_certificate=True`` sends the PFX's certificate chain as ``x5c``; PEM text
    sends that instead. A ``thumbprint`` is not needed (it is computed); if given, it is
    only compared with the certificate's.
    """
    if public_certificate is not None and not isinstance(public_certificate, (bool, str, bytes)):
        raise TypeError(
            "client_credential['public_certificate'] must be True (send the certificate "
            "of the PFX file as x5c) or PEM text, got "
            f"{type(public_certificate).__name__}"
        )
    sha1 = None if thumbprint is None else normalise_thumbprint(thumbprint)
    key, cert, extra = load_pfx(private_key_pfx_path, passphrase)
    what = "the PKCS#12 file"
    leaf, chain = leaf_and_chain(key, [cert, *extra], what=what)
    warn_if_expired(leaf, what=what)
    if sha1 is not None and sha1 != thumbprints(leaf).sha1:
        logger.warning(
            "client_credential['thumbprint'] is not the SHA-1 thumbprint of the certificate "
            "in the PKCS#12 file; it is ignored (thumbprints are computed from the file)"
        )
    x5c = None
    if public_certificate is True:
        x5c = [x5c_entry(c) for c in chain]
    elif isinstance(public_certificate, (str, bytes)) and public_certificate:
        pem_what = "client_credential['public_certificate']"
        certs = parse_pem_certificates(public_certificate, what=pem_what)
        x5c = [x5c_entry(c) for c in leaf_and_chain(key, certs, what=pem_what)[1]]
    return CertificateCredential(key, certificate=leaf, x5c=x5c, client_claims=client_claims)
