"""Test keys and certificates, generated at run time (no key material is committed)."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from typing import Optional, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]


@functools.cache
def rsa_key(name: str = "leaf", bits: int = 2048) -> rsa.RSAPrivateKey:
    """One RSA key per name, generated once per test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(curve_name: str = "secp256r1") -> ec.EllipticCurvePrivateKey:
    curve = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}[curve_name]
    return ec.generate_private_key(curve)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_cert(
    key: PrivateKey,
    *,
    subject: str,
    issuer_key: Optional[PrivateKey] = None,
    issuer: Optional[str] = None,
    ca: bool = False,
    days: int = 30,
    expired: bool = False,
) -> x509.Certificate:
    """A certificate for ``key``; self-signed unless ``issuer_key``/``issuer`` are given."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        not_before, not_after = now - datetime.timedelta(days=60), now - datetime.timedelta(days=1)
    else:
        not_before, not_after = (
            now - datetime.timedelta(minutes=5),
            now + datetime.timedelta(days=days),
        )
    signer = issuer_key or key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer or subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm)


@dataclass(frozen=True)
class Pki:
    """A CA and a leaf certificate issued by it, for the same test session."""

    ca_key: rsa.RSAPrivateKey
    ca_cert: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    leaf_cert: x509.Certificate

    @property
    def leaf_der(self) -> bytes:
        return self.leaf_cert.public_bytes(serialization.Encoding.DER)

    @property
    def ca_der(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.DER)


@functools.cache
def pki() -> Pki:
    ca_key = rsa_key("ca")
    ca_cert = make_cert(ca_key, subject="identitylib test CA", ca=True)
    leaf_key = rsa_key("leaf")
    leaf_cert = make_cert(
        leaf_key, subject="identitylib test app", issuer_key=ca_key, issuer="identitylib test CA"
    )
    return Pki(ca_key, ca_cert, leaf_key, leaf_cert)


def key_pem(
    key: PrivateKey,
    passphrase: Optional[bytes] = None,
    *,
    traditional: bool = False,
) -> str:
    """PEM text of a private key: PKCS#8 by default, PKCS#1 ("RSA PRIVATE KEY") if asked."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if traditional
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode("ascii")


def cert_pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def pfx_bytes(
    key: Optional[PrivateKey],
    cert: Optional[x509.Certificate],
    cas: Optional[list[x509.Certificate]] = None,
    passphrase: Optional[bytes] = None,
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"identitylib test", key, cert, cas, encryption)


@dataclass(frozen=True)
class TestCertificate:
    """A self-signed certificate with its key, in the shapes ``client_credential`` takes."""

    __test__ = False  # not a pytest test class

    private_key_pem: str
    certificate_pem: str
    sha1_hex: str
    sha256_hex: str
    public_key: rsa.RSAPublicKey
    certificate: x509.Certificate


def make_certificate(
    passphrase: Optional[bytes] = None, *, subject: str = "identitylib test app"
) -> TestCertificate:
    """A fresh self-signed RSA certificate; the key PEM is encrypted if ``passphrase`` is set."""
    key = rsa_key(subject)
    cert = make_cert(key, subject=subject)
    return TestCertificate(
        private_key_pem=key_pem(key, passphrase),
        certificate_pem=cert_pem(cert),
        sha1_hex=cert.fingerprint(hashes.SHA1()).hex().upper(),
        sha256_hex=cert.fingerprint(hashes.SHA256()).hex().upper(),
        public_key=key.public_key(),
        certificate=cert,
    )
