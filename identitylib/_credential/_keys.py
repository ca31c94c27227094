"""Loading private keys and X.509 certificates, thumbprints and ``x5c`` values.

Everything is checked when a credential is built, so that a wrong passphrase or a key that
does not match its certificate is reported at construction, not at the first token request.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
import re
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from identitylib._log import get_logger, hide
from identitylib._protocol._jwt import b64url_encode as b64url

__all__ = [
    "EC_ALGORITHMS",
    "Pfx",
    "SigningKey",
    "Thumbprints",
    "b64url",
    "extract_certs",
    "leaf_and_chain",
    "load_pem_key",
    "load_pfx",
    "normalise_thumbprint",
    "sha1_thumbprint_hex",
    "parse_pem_certificates",
    "thumbprints",
    "warn_if_expired",
    "x5c_entry",
]

logger = get_logger(__name__)

SigningKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]

_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----"
)
_SHA1_HEX = re.compile(r"[0-9a-fA-F]{40}")
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_MIN_RSA_BITS = 2048


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def parse_pem_certificates(pem: str | bytes, *, what: str) -> list[x509.Certificate]:
    """Every ``CERTIFICATE`` block of a PEM text, in order; ValueError if there is none."""
    if not isinstance(pem, (str, bytes)):
        raise TypeError(f"{what} must be PEM text (str or bytes), got {type(pem).__name__}")
    certs = []
    for number, match in enumerate(_PEM_CERT.finditer(_text(pem)), start=1):
        try:
            der = base64.b64decode("".join(match.group("body").split()), validate=True)
            certs.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(
                f"certificate #{number} in {what} is not a valid X.509 certificate ({exc})"
            ) from None
    if not certs:
        raise ValueError(
            f"{what} contains no PEM certificate; expected text with "
            "'-----BEGIN CERTIFICATE-----' ... '-----END CERTIFICATE-----'"
        )
    return certs


def x5c_entry(cert: x509.Certificate) -> str:
    """A certificate as an ``x5c`` entry: standard base64 of its DER, no line breaks."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def extract_certs(public_cert_content: str | bytes) -> list[str]:
    """Return the ``x5c`` JWT header value for a PEM certificate or chain.

    Each ``-----BEGIN CERTIFICATE-----`` block becomes one entry (standard base64 of the
    DER, no line breaks), in the order of the input, which should be leaf first.
    Raises :class:`ValueError` if the text holds no certificate or a malformed one.
    """
    return [x5c_entry(cert) for cert in parse_pem_certificates(public_cert_content, what="input")]


class Thumbprints(NamedTuple):
    sha1: bytes
    sha256: bytes


def thumbprints(cert: x509.Certificate) -> Thumbprints:
    # SHA-1 only because x5t (RFC 7515 section 4.1.7) and AD FS are defined with it.
    return Thumbprints(
        sha1=cert.fingerprint(hashes.SHA1()),  # noqa: S303
        sha256=cert.fingerprint(hashes.SHA256()),
    )


def _certificate_thumbprints(pem: str | bytes) -> tuple[str, str]:
    """``(SHA-1 hex, SHA-256 base64url)`` of the first certificate in ``pem``.

    The first is what portals show as the thumbprint; the second is the ``x5t#S256`` value.
    """
    prints = thumbprints(parse_pem_certificates(pem, what="the certificate")[0])
    return prints.sha1.hex().upper(), b64url(prints.sha256)


def _passphrase_bytes(passphrase: object) -> bytes | None:
    if passphrase is None or passphrase in ("", b""):
        return None
    if isinstance(passphrase, str):
        return passphrase.encode("utf-8")
    if isinstance(passphrase, bytes):
        return passphrase
    raise TypeError(
        f"client_credential['passphrase'] must be str or bytes, got {type(passphrase).__name__}"
    )


def _check_key(key: object, *, source: str) -> SigningKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            logger.warning(
                "The RSA key of %s has %d bits; Microsoft Entra ID rejects keys shorter "
                "than %d bits",
                source,
                key.key_size,
                _MIN_RSA_BITS,
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in EC_ALGORITHMS:
            raise ValueError(
                f"the EC key of {source} uses curve {key.curve.name}; supported curves are "
                "P-256, P-384 and P-521"
            )
        return key
    raise ValueError(
        f"{source} holds a {type(key).__name__}; only RSA keys (and EC keys on P-256, "
        "P-384 or P-521) can sign client assertions"
    )


def load_pem_key(private_key: object, passphrase: object = None) -> SigningKey:
    """Load ``client_credential['private_key']`` (PEM text or an already loaded key)."""
    if isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return private_key
    if not isinstance(private_key, (str, bytes)):
        raise TypeError(
            "client_credential['private_key'] must be PEM text (str or bytes), got "
            f"{type(private_key).__name__}"
        )
    # Hidden: '***' in the locals a crash reporter prints (see _log.hide).
    data = hide(private_key.encode("utf-8") if isinstance(private_key, str) else private_key)
    if b"-----BEGIN" not in data or b"PRIVATE KEY-----" not in data:
        raise ValueError(
            "client_credential['private_key'] is not a PEM private key: expected the "
            "content (not the path) of a file with '-----BEGIN PRIVATE KEY-----' or "
            "'-----BEGIN RSA PRIVATE KEY-----'. For a .pfx/.p12 file use "
            "{'private_key_pfx_path': path, 'passphrase': ...} instead"
        )
    password = hide(_passphrase_bytes(passphrase))
    try:
        key = serialization.load_pem_private_key(data, password)
    except TypeError:
        if password is None:
            raise ValueError(
                "client_credential['private_key'] is encrypted; "
                "add its passphrase as client_credential['passphrase']"
            ) from None
        # A passphrase given for a key that is not encrypted is harmless: ignore it.
        logger.debug("private_key is not encrypted; ignoring the passphrase")
        try:
            key = serialization.load_pem_private_key(data, None)
        except ValueError as exc:
            raise ValueError(f"could not load client_credential['private_key']: {exc}") from None
    except ValueError as exc:
        if password is not None and "password" in str(exc).lower():
            raise ValueError(
                "could not decrypt client_credential['private_key']: wrong passphrase"
            ) from None
        if password is not None and b"ENCRYPTED" in data:
            # A wrong passphrase now and then decrypts to bytes that pass the padding
            # check and only fail as DER: the same mistake, named as such.
            raise ValueError(
                "could not decrypt client_credential['private_key']: wrong passphrase, "
                "or the key is damaged"
            ) from None
        raise ValueError(f"could not load client_credential['private_key'] (PEM): {exc}") from None
    except Exception as exc:  # e.g. UnsupportedAlgorithm for an exotic key type
        raise ValueError(f"could not load client_credential['private_key']: {exc}") from None
    return _check_key(key, source="client_credential['private_key']")


class Pfx(NamedTuple):
    key: SigningKey
    cert: x509.Certificate
    extra_certs: list[x509.Certificate]


def load_pfx(path: object, passphrase: object = None) -> Pfx:
    """Read and decrypt a PKCS#12 (.pfx/.p12) file holding a private key and its certificate.

    This is the only file access of the credential layer; it happens once.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(
            "client_credential['private_key_pfx_path'] must be a file path (str or "
            f"os.PathLike), got {type(path).__name__}"
        )
    if not os.fspath(path):
        raise ValueError("client_credential['private_key_pfx_path'] is empty")
    with open(path, "rb") as pfx_file:  # OSError (e.g. FileNotFoundError) propagates
        data = hide(pfx_file.read())  # '***' in the locals a crash reporter prints
    password = hide(_passphrase_bytes(passphrase))
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        hint = (
            "the passphrase is wrong"
            if password is not None
            else "it needs a passphrase (client_credential['passphrase'])"
        )
        raise ValueError(
            f"could not open the PKCS#12 file {os.fsdecode(path)!r}: either {hint}, or the "
            "file is not a .pfx/.p12 file"
        ) from None
    if key is None or cert is None:
        raise ValueError(
            f"the PKCS#12 file {os.fsdecode(path)!r} must contain both a private key and its "
            "certificate"
        )
    return Pfx(_check_key(key, source="the PKCS#12 file"), cert, list(extra))


def _public_key_der(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def leaf_and_chain(
    key: SigningKey, certs: Sequence[x509.Certificate], *, what: str
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Find the certificate of ``key`` and return it with the chain ordered leaf first.

    The leaf is the certificate whose public key is the key's; then each certificate's
    issuer follows it, as far as the input has them; certificates outside the path keep
    their input order at the end. Duplicates are dropped.
    """
    public = _public_key_der(key.public_key())
    leaf = next((c for c in certs if _public_key_der(c.public_key()) == public), None)
    if leaf is None:
        raise ValueError(
            f"no certificate in {what} matches the private key; make sure the key and the "
            "certificate belong together"
        )
    rest: list[x509.Certificate] = []
    for cert in certs:
        if cert != leaf and cert not in rest:
            rest.append(cert)
    chain = [leaf]
    while rest and chain[-1].issuer != chain[-1].subject:
        issuer = next((c for c in rest if c.subject == chain[-1].issuer), None)
        if issuer is None:
            break
        chain.append(issuer)
        rest.remove(issuer)
    return leaf, chain + rest


def warn_if_expired(cert: x509.Certificate, *, what: str) -> None:
    not_after = getattr(cert, "not_valid_after_utc", None)
    if not isinstance(not_after, datetime.datetime):  # cryptography < 42
        not_after = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    if not_after.timestamp() < time.time():
        logger.warning(
            "The certificate of %s expired on %s; token endpoints reject assertions it signs",
            what,
            not_after.isoformat(),
        )


def sha1_thumbprint_hex(value: object) -> str | None:
    """The 40 lower-case hex digits of a SHA-1 certificate thumbprint written with or without
    spaces and colons (as portals and tools show it); None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    digits = re.sub(r"[\s:]", "", value)
    return digits.lower() if _SHA1_HEX.fullmatch(digits) else None


def normalise_thumbprint(thumbprint: object) -> bytes:
    if not isinstance(thumbprint, str):
        raise TypeError(
            "client_credential['thumbprint'] must be a str of 40 hex digits, got "
            f"{type(thumbprint).__name__}"
        )
    digits = sha1_thumbprint_hex(thumbprint)
    if digits is None:
        raise ValueError(
            "client_credential['thumbprint'] must be the certificate's SHA-1 thumbprint "
            "(40 hex digits, as shown in the app registration). For a SHA-256 thumbprint, "
            "omit 'thumbprint' and give 'public_certificate' instead; it is computed from it"
        )
    return bytes.fromhex(digits)
