"""Key material the emulator makes at run time: its TLS CA and server certificate, and
client certificates for apps that authenticate with ``private_key_jwt``.

Nothing here is persisted except the PEM files written into the emulator's state
directory; every run makes fresh keys.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: File names written into the state directory.
CA_FILE = "ca.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"

_CA_DAYS = 30
_LEAF_DAYS = 30
_CLIENT_CERT_DAYS = 365


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "identitylib emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a key file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


@dataclass(frozen=True)
class TlsFiles:
    """Where the TLS material of one emulator run was written."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the emulator's certificate, TLS 1.2 or later."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert_path), str(self.key_path))
        return context


def write_tls_files(directory: Path, extra_ip: Optional[str] = None) -> TlsFiles:
    """Make a CA and a server certificate for ``localhost``/``127.0.0.1``/``::1``; write PEMs.

    ``extra_ip`` adds one more IP address to the certificate (another loopback address).

    ``ca.pem`` is what a client trusts (``verify=`` / ``REQUESTS_CA_BUNDLE``);
    ``server.pem`` holds the server certificate followed by the CA certificate.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("identitylib emulator CA")
    not_before, not_after = _validity(_CA_DAYS)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    if extra_ip is not None and extra_ip not in ("127.0.0.1", "::1"):
        names.append(x509.IPAddress(ipaddress.ip_address(extra_ip)))
    server_key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(_LEAF_DAYS)
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(names),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / CA_FILE, directory / SERVER_CERT_FILE, directory / SERVER_KEY_FILE)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    files.ca_path.write_bytes(ca_pem)
    files.cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    write_private(files.key_path, _key_pem(server_key))
    return files


def make_client_certificate(common_name: str) -> dict[str, str]:
    """An RSA key and a self-signed certificate for an app's ``private_key_jwt`` sign-in.

    Returns ``{"private_key": PEM, "public_certificate": PEM, "thumbprint": SHA-1 hex}``,
    usable as is as an MSAL ``client_credential``.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    not_before, not_after = _validity(_CLIENT_CERT_DAYS)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return {
        "private_key": _key_pem(key).decode("ascii"),
        "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "thumbprint": hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
    }
