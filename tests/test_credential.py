"""Client credentials -> token-request authentication fields (identitylib._credential)."""

from __future__ import annotations

import base64
import hashlib
import inspect
import logging
import threading
import time
import types
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from identitylib._credential import (
    CLIENT_ASSERTION_TYPE_JWT,
    AutoRefresher,
    CertificateCredential,
    ClientAssertionError,
    ClientCredential,
    ClientSecret,
    _assertion,
    _certificate,
    _certificate_thumbprints,
    extract_certs,
    parse_client_credential,
)
from tests._servers import require_module

try:  # tests/ as a package (tests/__init__.py) or as a plain directory on sys.path
    from .certs import (  # type: ignore[import-not-found, unused-ignore]
        cert_pem,
        ec_key,
        key_pem,
        make_cert,
        pfx_bytes,
        pki,
        rsa_key,
    )
except ImportError:
    from certs import cert_pem, ec_key, key_pem, make_cert, pfx_bytes, pki, rsa_key  # type: ignore[no-redef, unused-ignore]

CLIENT_ID = "00000000-aaaa-bbbb-cccc-000000000001"
TOKEN_ENDPOINT = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
ADFS_TOKEN_ENDPOINT = "https://fs.contoso.com/adfs/oauth2/token"
PASSPHRASE = "correct horse battery staple"


# ------------------------------------------------------------------------------- helpers


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # thumbprints are SHA-1 by definition


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def assertion_of(
    credential: ClientCredential | None,
    *,
    client_id: str = CLIENT_ID,
    token_endpoint: str = TOKEN_ENDPOINT,
    is_adfs: bool = False,
) -> str:
    assert credential is not None
    fields = credential.auth_fields(
        client_id=client_id, token_endpoint=token_endpoint, is_adfs=is_adfs
    )
    assert set(fields) == {"client_assertion_type", "client_assertion"}
    assert fields["client_assertion_type"] == CLIENT_ASSERTION_TYPE_JWT
    return fields["client_assertion"]


def verify(
    assertion: str,
    cert: x509.Certificate,
    algorithm: str,
    *,
    audience: str = TOKEN_ENDPOINT,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the signature with the certificate's public key; return (header, claims)."""
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == algorithm
    claims = jwt.decode(
        assertion,
        cert.public_key(),  # type: ignore[arg-type]
        algorithms=[algorithm],
        audience=audience,
        options={"require": ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]},
    )
    return header, claims


def assert_standard_claims(
    claims: dict[str, Any], *, audience: str = TOKEN_ENDPOINT, client_id: str = CLIENT_ID
) -> None:
    assert claims["aud"] == audience
    assert claims["iss"] == claims["sub"] == client_id
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] == claims["iat"] + 600
    assert abs(claims["iat"] - time.time()) < 60
    uuid.UUID(claims["jti"])


def x5c_ders(header: dict[str, Any]) -> list[bytes]:
    entries = header["x5c"]
    assert all("\n" not in e and " " not in e for e in entries)
    return [base64.b64decode(e, validate=True) for e in entries]


class Clock:
    """A settable replacement for the ``time`` module of one identitylib module."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(time.time())
    namespace = types.SimpleNamespace(time=fake.time)
    monkeypatch.setattr(_certificate, "time", namespace)
    monkeypatch.setattr(_assertion, "time", namespace)
    return fake


def pem_credential(**extra: Any) -> dict[str, Any]:
    return {"private_key": key_pem(pki().leaf_key), **extra}


def write_pfx(tmp_path: Path, data: bytes, name: str = "app.pfx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def leaf_thumbprint() -> str:
    return sha1(pki().leaf_der).hex().upper()


# ------------------------------------------------------------------- None, secrets, passthrough


def test_none_means_public_client() -> None:
    assert parse_client_credential(None) is None


def test_secret() -> None:
    credential = parse_client_credential("s3cr3t~value")
    assert isinstance(credential, ClientSecret)
    assert credential.kind == "secret"
    fields = credential.auth_fields(client_id=CLIENT_ID, token_endpoint=TOKEN_ENDPOINT)
    assert fields == {"client_secret": "s3cr3t~value"}
    assert "s3cr3t" not in repr(credential)


def test_secret_as_bytes_is_decoded() -> None:
    credential = parse_client_credential(b"s3cr3t")
    assert credential is not None
    fields = credential.auth_fields(client_id=CLIENT_ID, token_endpoint=TOKEN_ENDPOINT)
    assert fields == {"client_secret": "s3cr3t"}


def test_empty_secret_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty string"):
        parse_client_credential("")


def test_pem_text_is_never_sent_as_a_secret() -> None:
    with pytest.raises(ValueError, match="private_key"):
        parse_client_credential(key_pem(pki().leaf_key))


def test_a_built_credential_passes_through() -> None:
    credential = ClientSecret("x")
    assert parse_client_credential(credential) is credential


@pytest.mark.parametrize("value", [42, 1.5, ["secret"], ("a", "b"), True, object()])
def test_other_types_are_rejected(value: object) -> None:
    with pytest.raises(TypeError, match="client_credential"):
        parse_client_credential(value)


def test_a_bare_callable_gets_a_hint() -> None:
    with pytest.raises(TypeError, match="client_assertion"):
        parse_client_credential(lambda: "jwt")


# ------------------------------------------------------------------------ static assertions


def test_static_assertion_warns_and_is_sent_as_is() -> None:
    with pytest.warns(DeprecationWarning, match="callable") as record:
        credential = parse_client_credential({"client_assertion": "a.b.c\n"})
    assert record[0].filename == __file__  # the warning points at the caller
    assert credential is not None
    assert credential.kind == "assertion"
    assert assertion_of(credential) == "a.b.c"  # trailing newline of a token file dropped


def test_static_assertion_as_bytes() -> None:
    with pytest.warns(DeprecationWarning, match="client_assertion"):
        credential = parse_client_credential({"client_assertion": b"a.b.c"})
    assert assertion_of(credential) == "a.b.c"


def test_stacklevel_is_configurable() -> None:
    def app_constructor() -> ClientCredential | None:
        return parse_client_credential({"client_assertion": "a.b.c"}, stacklevel=3)

    with pytest.warns(DeprecationWarning, match="client_assertion") as record:
        app_constructor()
    assert record[0].filename == __file__


@pytest.mark.parametrize("value", ["", b"", "   "])
def test_empty_static_assertion_is_rejected(value: str | bytes) -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_client_credential({"client_assertion": value})


def test_non_string_assertion_is_rejected() -> None:
    with pytest.raises(TypeError, match="callable"):
        parse_client_credential({"client_assertion": 12345})


# ---------------------------------------------------------------------- callable assertions


def test_zero_arg_callable_is_called_on_every_request() -> None:
    calls: list[int] = []

    def get_assertion() -> str:
        calls.append(1)
        return f"jwt-{len(calls)}"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DeprecationWarning for callables
        credential = parse_client_credential({"client_assertion": get_assertion})
    assert credential is not None
    assert credential.kind == "assertion"
    assert assertion_of(credential) == "jwt-1"
    assert assertion_of(credential) == "jwt-2"
    assert len(calls) == 2


def test_one_arg_callable_receives_the_context() -> None:
    contexts: list[dict[str, Any]] = []

    def get_assertion(context: dict[str, Any]) -> bytes:
        contexts.append(dict(context))
        return b"jwt-from-context"

    credential = parse_client_credential({"client_assertion": get_assertion})
    assert credential is not None
    assert assertion_of(credential, client_id="app", token_endpoint=TOKEN_ENDPOINT) == (
        "jwt-from-context"
    )
    credential.auth_fields(client_id="app", token_endpoint=TOKEN_ENDPOINT, fmi_path="a/b")
    assert contexts == [
        {"client_id": "app", "token_endpoint": TOKEN_ENDPOINT},
        {"client_id": "app", "token_endpoint": TOKEN_ENDPOINT, "fmi_path": "a/b"},
    ]


def test_callables_with_defaults_or_varargs_are_called_without_arguments() -> None:
    token = "jwt-default"
    seen: list[tuple[Any, ...]] = []

    def varargs(*args: Any) -> str:
        seen.append(args)
        return "jwt-varargs"

    for func, expected in [
        (lambda t=token: t, "jwt-default"),
        (varargs, "jwt-varargs"),
        (AutoRefresher(lambda: "jwt-auto"), "jwt-auto"),
    ]:
        credential = parse_client_credential({"client_assertion": func})
        assert assertion_of(credential) == expected
    assert seen == [()]


def test_methods_and_callable_objects() -> None:
    class Source:
        def __init__(self) -> None:
            self.contexts: list[dict[str, Any]] = []

        def with_context(self, context: dict[str, Any]) -> str:
            self.contexts.append(context)
            return "jwt-method"

        def __call__(self) -> str:
            return "jwt-object"

    source = Source()
    assert assertion_of(parse_client_credential({"client_assertion": source})) == "jwt-object"
    credential = parse_client_credential({"client_assertion": source.with_context})
    assert assertion_of(credential) == "jwt-method"
    assert source.contexts[0]["client_id"] == CLIENT_ID


def test_uninspectable_callable_is_called_without_arguments() -> None:
    class Opaque:
        __signature__ = "not a signature"  # makes inspect.signature() raise

        def __call__(self, *args: Any) -> str:
            assert args == ()
            return "jwt-opaque"

    with pytest.raises((TypeError, ValueError)):
        inspect.signature(Opaque())
    assert assertion_of(parse_client_credential({"client_assertion": Opaque()})) == "jwt-opaque"


@pytest.mark.parametrize(
    "func",
    [
        lambda a, b: "x",
        lambda *, required: "x",
        lambda a, *, required: "x",
    ],
)
def test_callables_that_cannot_be_called_either_way_are_rejected(
    func: Callable[..., str],
) -> None:
    with pytest.raises(TypeError, match="no argument or exactly one positional"):
        parse_client_credential({"client_assertion": func})


def test_callable_that_raises() -> None:
    def broken() -> str:
        raise OSError("token file missing")

    credential = parse_client_credential({"client_assertion": broken})
    assert credential is not None
    with pytest.raises(ClientAssertionError, match="raised OSError: token file missing") as info:
        assertion_of(credential)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "returned NoneType"),
        (42, "returned int"),
        ({"jwt": "x"}, "returned dict"),
        ("", "empty"),
        (b"\xff\xfe", "not ASCII"),
    ],
)
def test_callable_returning_a_non_assertion(value: object, message: str) -> None:
    credential = parse_client_credential({"client_assertion": lambda: value})
    assert credential is not None
    with pytest.raises(ClientAssertionError, match=message):
        assertion_of(credential)


# --------------------------------------------------------------------------- AutoRefresher


def test_auto_refresher_memoises_for_expires_in(clock: Clock) -> None:
    calls: list[float] = []

    def factory() -> str:
        calls.append(clock.now)
        return f"value-{len(calls)}"

    refresher = AutoRefresher(factory, expires_in=100)
    assert refresher() == "value-1"
    clock.now += 99
    assert refresher() == "value-1"
    clock.now += 1
    assert refresher() == "value-2"
    assert len(calls) == 2


def test_auto_refresher_default_is_540_seconds(clock: Clock) -> None:
    refresher = AutoRefresher(lambda: clock.now)
    first = refresher()
    clock.now += 539
    assert refresher() == first
    clock.now += 1
    assert refresher() == clock.now


def test_auto_refresher_does_not_memoise_failures() -> None:
    outcomes: list[Any] = [RuntimeError("down"), "ok"]

    def factory() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    refresher = AutoRefresher(factory)
    with pytest.raises(RuntimeError):
        refresher()
    assert refresher() == "ok"


def test_auto_refresher_calls_the_factory_once_under_concurrency() -> None:
    calls: list[int] = []

    def slow_factory() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "value"

    refresher = AutoRefresher(slow_factory)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(refresher())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["value"] * 8
    assert calls == [1]


def test_auto_refresher_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        AutoRefresher("not callable")  # type: ignore[arg-type]


# ----------------------------------------------------------- private_key + SHA-1 thumbprint


def test_thumbprint_form_is_rs256_with_x5t(leaf_thumbprint: str) -> None:
    credential = parse_client_credential(pem_credential(thumbprint=leaf_thumbprint))
    assert isinstance(credential, CertificateCredential)
    assert credential.kind == "certificate"
    header, claims = verify(assertion_of(credential), pki().leaf_cert, "RS256")
    assert header == {
        "alg": "RS256",
        "typ": "JWT",
        "x5t": b64url(bytes.fromhex(leaf_thumbprint)),
    }
    assert_standard_claims(claims)


@pytest.mark.parametrize("spelling", ["lower", "colons", "spaces"])
def test_thumbprint_spellings(leaf_thumbprint: str, spelling: str) -> None:
    pairs = [leaf_thumbprint[i : i + 2] for i in range(0, 40, 2)]
    text = {
        "lower": leaf_thumbprint.lower(),
        "colons": ":".join(pairs),
        "spaces": " ".join(pairs),
    }[spelling]
    credential = parse_client_credential(pem_credential(thumbprint=text))
    header = jwt.get_unverified_header(assertion_of(credential))
    assert b64url_decode(header["x5t"]) == sha1(pki().leaf_der)


@pytest.mark.parametrize("thumbprint", ["abc", "zz" * 20, sha256(b"x").hex(), "0x" + "ab" * 19])
def test_bad_thumbprint(thumbprint: str) -> None:
    with pytest.raises(ValueError, match="SHA-1 thumbprint"):
        parse_client_credential(pem_credential(thumbprint=thumbprint))


def test_thumbprint_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="thumbprint"):
        parse_client_credential(pem_credential(thumbprint=b"\x01" * 20))


def test_thumbprint_form_with_public_certificate_chain_adds_x5c(leaf_thumbprint: str) -> None:
    p = pki()
    credential = parse_client_credential(
        pem_credential(
            thumbprint=leaf_thumbprint, public_certificate=cert_pem(p.leaf_cert, p.ca_cert)
        )
    )
    header, claims = verify(assertion_of(credential), p.leaf_cert, "RS256")
    assert set(header) == {"alg", "typ", "x5t", "x5c"}
    assert x5c_ders(header) == [p.leaf_der, p.ca_der]
    assert_standard_claims(claims)


def test_thumbprint_form_ignores_none_entries(leaf_thumbprint: str) -> None:
    credential = parse_client_credential(
        pem_credential(thumbprint=leaf_thumbprint, passphrase=None, public_certificate=None)
    )
    header = jwt.get_unverified_header(assertion_of(credential))
    assert set(header) == {"alg", "typ", "x5t"}


def test_thumbprint_form_is_rs256_for_adfs_too(leaf_thumbprint: str) -> None:
    credential = parse_client_credential(pem_credential(thumbprint=leaf_thumbprint))
    assertion = assertion_of(credential, token_endpoint=ADFS_TOKEN_ENDPOINT, is_adfs=True)
    header, claims = verify(assertion, pki().leaf_cert, "RS256", audience=ADFS_TOKEN_ENDPOINT)
    assert set(header) == {"alg", "typ", "x5t"}
    assert_standard_claims(claims, audience=ADFS_TOKEN_ENDPOINT)


# -------------------------------------------------------- private_key + public_certificate


def test_certificate_form_is_ps256_with_x5t_s256_and_x5c() -> None:
    p = pki()
    credential = parse_client_credential(pem_credential(public_certificate=cert_pem(p.leaf_cert)))
    assert isinstance(credential, CertificateCredential)
    assert credential.algorithm == "PS256"
    header, claims = verify(assertion_of(credential), p.leaf_cert, "PS256")
    assert header == {
        "alg": "PS256",
        "typ": "JWT",
        "x5t#S256": b64url(sha256(p.leaf_der)),
        "x5c": [base64.b64encode(p.leaf_der).decode()],
    }
    assert_standard_claims(claims)


def test_certificate_form_sends_the_chain_leaf_first() -> None:
    p = pki()
    for pem in (cert_pem(p.leaf_cert, p.ca_cert), cert_pem(p.ca_cert, p.leaf_cert)):
        credential = parse_client_credential(pem_credential(public_certificate=pem))
        header, _ = verify(assertion_of(credential), p.leaf_cert, "PS256")
        assert x5c_ders(header) == [p.leaf_der, p.ca_der]
        assert b64url_decode(header["x5t#S256"]) == sha256(p.leaf_der)


def test_certificate_form_accepts_bytes_and_surrounding_text() -> None:
    p = pki()
    pem = ("Bag Attributes\n" + cert_pem(p.leaf_cert) + "\ntrailer\n").encode()
    credential = parse_client_credential(
        {"private_key": key_pem(p.leaf_key).encode(), "public_certificate": pem}
    )
    header, _ = verify(assertion_of(credential), p.leaf_cert, "PS256")
    assert x5c_ders(header) == [p.leaf_der]


def test_certificate_form_falls_back_to_rs256_and_sha1_for_adfs() -> None:
    p = pki()
    credential = parse_client_credential(
        pem_credential(public_certificate=cert_pem(p.leaf_cert, p.ca_cert))
    )
    assertion = assertion_of(credential, token_endpoint=ADFS_TOKEN_ENDPOINT, is_adfs=True)
    header, claims = verify(assertion, p.leaf_cert, "RS256", audience=ADFS_TOKEN_ENDPOINT)
    assert set(header) == {"alg", "typ", "x5t", "x5c"}
    assert b64url_decode(header["x5t"]) == sha1(p.leaf_der)
    assert x5c_ders(header) == [p.leaf_der, p.ca_der]
    assert_standard_claims(claims, audience=ADFS_TOKEN_ENDPOINT)
    # The Entra form stays PS256 for the same credential.
    verify(assertion_of(credential), p.leaf_cert, "PS256")


def test_certificate_that_does_not_match_the_key_is_rejected() -> None:
    p = pki()
    with pytest.raises(ValueError, match="matches the private key"):
        parse_client_credential(pem_credential(public_certificate=cert_pem(p.ca_cert)))


def test_public_certificate_without_a_certificate() -> None:
    with pytest.raises(ValueError, match="no PEM certificate"):
        parse_client_credential(pem_credential(public_certificate="not a certificate"))


def test_public_certificate_with_a_corrupt_certificate() -> None:
    body = base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    with pytest.raises(ValueError, match=r"not a valid X\.509 certificate"):
        parse_client_credential(pem_credential(public_certificate=pem))


def test_public_certificate_true_needs_a_pfx() -> None:
    with pytest.raises(ValueError, match="private_key_pfx_path"):
        parse_client_credential(pem_credential(public_certificate=True))


def test_public_certificate_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match="public_certificate"):
        parse_client_credential(pem_credential(public_certificate=123))


def test_private_key_needs_a_thumbprint_or_a_certificate() -> None:
    with pytest.raises(ValueError, match=r"'public_certificate'.*'thumbprint'"):
        parse_client_credential(pem_credential())


def test_expired_certificate_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    key = rsa_key("leaf")
    cert = make_cert(key, subject="expired", expired=True)
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        parse_client_credential(pem_credential(public_certificate=cert_pem(cert)))
    assert "expired" in caplog.text


# ------------------------------------------------------------------- private key formats


@pytest.mark.parametrize("traditional", [False, True], ids=["pkcs8", "pkcs1"])
@pytest.mark.parametrize("passphrase", [PASSPHRASE, PASSPHRASE.encode()], ids=["str", "bytes"])
def test_encrypted_private_key(traditional: bool, passphrase: str | bytes) -> None:
    p = pki()
    credential = parse_client_credential(
        {
            "private_key": key_pem(p.leaf_key, PASSPHRASE.encode(), traditional=traditional),
            "passphrase": passphrase,
            "public_certificate": cert_pem(p.leaf_cert),
        }
    )
    verify(assertion_of(credential), p.leaf_cert, "PS256")


def test_unencrypted_pkcs1_key() -> None:
    p = pki()
    credential = parse_client_credential(
        {
            "private_key": key_pem(p.leaf_key, traditional=True),
            "public_certificate": cert_pem(p.leaf_cert),
        }
    )
    verify(assertion_of(credential), p.leaf_cert, "PS256")


def test_every_wrong_passphrase_is_named_as_such() -> None:
    """About one wrong passphrase in 256 decrypts to bytes with valid padding, which then
    fail as DER: the error still names the passphrase (the CI once met one)."""
    p = pki()
    pem = key_pem(p.leaf_key, b"right", traditional=True)
    for n in range(1024):
        with pytest.raises(ValueError, match="wrong passphrase"):
            parse_client_credential(
                {
                    "private_key": pem,
                    "passphrase": f"wrong-{n}",
                    "public_certificate": cert_pem(p.leaf_cert),
                }
            )


@pytest.mark.parametrize("traditional", [False, True], ids=["pkcs8", "pkcs1"])
def test_wrong_passphrase(traditional: bool) -> None:
    p = pki()
    with pytest.raises(ValueError, match="wrong passphrase"):
        parse_client_credential(
            {
                "private_key": key_pem(p.leaf_key, b"right", traditional=traditional),
                "passphrase": "wrong",
                "public_certificate": cert_pem(p.leaf_cert),
            }
        )


def test_missing_passphrase() -> None:
    p = pki()
    with pytest.raises(ValueError, match=r"encrypted.*passphrase"):
        parse_client_credential(
            {
                "private_key": key_pem(p.leaf_key, b"right"),
                "public_certificate": cert_pem(p.leaf_cert),
            }
        )


def test_passphrase_for_an_unencrypted_key_is_ignored() -> None:
    p = pki()
    credential = parse_client_credential(
        pem_credential(passphrase="unneeded", public_certificate=cert_pem(p.leaf_cert))
    )
    verify(assertion_of(credential), p.leaf_cert, "PS256")


def test_empty_passphrase_means_none() -> None:
    p = pki()
    credential = pem_credential(passphrase="", public_certificate=cert_pem(p.leaf_cert))
    assert parse_client_credential(credential) is not None  # an unencrypted key loads


def test_passphrase_of_the_wrong_type() -> None:
    p = pki()
    with pytest.raises(TypeError, match="passphrase"):
        parse_client_credential(
            pem_credential(passphrase=1234, public_certificate=cert_pem(p.leaf_cert))
        )


@pytest.mark.parametrize(
    ("private_key", "error", "message"),
    [
        ("/etc/keys/app.pem", ValueError, "not a PEM private key"),
        (b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", ValueError, "not a PEM private key"),
        (
            "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
            ValueError,
            "could not load",
        ),
        (1234, TypeError, "PEM text"),
        (None, ValueError, "no 'private_key'"),
    ],
)
def test_unusable_private_key(private_key: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_client_credential(
            {"private_key": private_key, "public_certificate": cert_pem(pki().leaf_cert)}
        )


def test_loaded_key_object_is_accepted() -> None:
    p = pki()
    credential = parse_client_credential(
        {"private_key": p.leaf_key, "public_certificate": cert_pem(p.leaf_cert)}
    )
    verify(assertion_of(credential), p.leaf_cert, "PS256")


@pytest.mark.parametrize(("curve", "algorithm"), [("secp256r1", "ES256"), ("secp384r1", "ES384")])
def test_ec_keys_sign_with_ecdsa(curve: str, algorithm: str) -> None:
    key = ec_key(curve)
    cert = make_cert(key, subject="ec app")
    credential = parse_client_credential(
        {"private_key": key_pem(key), "public_certificate": cert_pem(cert)}
    )
    header, claims = verify(assertion_of(credential), cert, algorithm)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert b64url_decode(header["x5t#S256"]) == sha256(der)
    assert_standard_claims(claims)


def test_unsupported_key_type_is_rejected() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(ValueError, match="only RSA keys"):
        parse_client_credential({"private_key": key_pem(key), "thumbprint": "ab" * 20})


def test_short_rsa_key_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    key = rsa_key("short", 1024)
    cert = make_cert(key, subject="short")
    with caplog.at_level(logging.WARNING, logger="identitylib"):
        parse_client_credential({"private_key": key_pem(key), "public_certificate": cert_pem(cert)})
    assert "1024 bits" in caplog.text


# ------------------------------------------------------------------------------ PKCS#12


def test_pfx_without_public_certificate(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert, [p.ca_cert]))
    credential = parse_client_credential({"private_key_pfx_path": str(path)})
    assert isinstance(credential, CertificateCredential)
    header, claims = verify(assertion_of(credential), p.leaf_cert, "PS256")
    assert header == {"alg": "PS256", "typ": "JWT", "x5t#S256": b64url(sha256(p.leaf_der))}
    assert_standard_claims(claims)


def test_pfx_with_public_certificate_true_sends_its_chain(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert, [p.ca_cert]))
    credential = parse_client_credential({"private_key_pfx_path": path, "public_certificate": True})
    header, _ = verify(assertion_of(credential), p.leaf_cert, "PS256")
    assert set(header) == {"alg", "typ", "x5t#S256", "x5c"}
    assert x5c_ders(header) == [p.leaf_der, p.ca_der]


def test_pfx_with_public_certificate_false(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert))
    credential = parse_client_credential(
        {"private_key_pfx_path": path, "public_certificate": False}
    )
    assert "x5c" not in jwt.get_unverified_header(assertion_of(credential))


def test_pfx_with_public_certificate_pem(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert))
    credential = parse_client_credential(
        {"private_key_pfx_path": path, "public_certificate": cert_pem(p.leaf_cert, p.ca_cert)}
    )
    header, _ = verify(assertion_of(credential), p.leaf_cert, "PS256")
    assert x5c_ders(header) == [p.leaf_der, p.ca_der]


@pytest.mark.parametrize("passphrase", [PASSPHRASE, PASSPHRASE.encode()], ids=["str", "bytes"])
def test_encrypted_pfx(tmp_path: Path, passphrase: str | bytes) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert, None, PASSPHRASE.encode()))
    credential = parse_client_credential(
        {"private_key_pfx_path": path, "passphrase": passphrase, "public_certificate": True}
    )
    header, _ = verify(assertion_of(credential), p.leaf_cert, "PS256")
    assert x5c_ders(header) == [p.leaf_der]


def test_pfx_wrong_passphrase(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert, None, b"right"))
    with pytest.raises(ValueError, match="passphrase is wrong"):
        parse_client_credential({"private_key_pfx_path": path, "passphrase": "wrong"})


def test_pfx_missing_passphrase(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert, None, b"right"))
    with pytest.raises(ValueError, match="needs a passphrase"):
        parse_client_credential({"private_key_pfx_path": path})


def test_pfx_for_adfs(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert))
    credential = parse_client_credential({"private_key_pfx_path": path})
    assertion = assertion_of(credential, token_endpoint=ADFS_TOKEN_ENDPOINT, is_adfs=True)
    header, _ = verify(assertion, p.leaf_cert, "RS256", audience=ADFS_TOKEN_ENDPOINT)
    assert header == {"alg": "RS256", "typ": "JWT", "x5t": b64url(sha1(p.leaf_der))}


def test_pfx_is_read_once_at_construction(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert))
    credential = parse_client_credential({"private_key_pfx_path": path})
    path.unlink()
    verify(assertion_of(credential), p.leaf_cert, "PS256")
    verify(
        assertion_of(credential, token_endpoint=ADFS_TOKEN_ENDPOINT, is_adfs=True),
        p.leaf_cert,
        "RS256",
        audience=ADFS_TOKEN_ENDPOINT,
    )


def test_pfx_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        parse_client_credential({"private_key_pfx_path": tmp_path / "missing.pfx"})


def test_pfx_that_is_not_pkcs12(tmp_path: Path) -> None:
    path = write_pfx(tmp_path, b"definitely not pkcs12")
    with pytest.raises(ValueError, match=r"not a \.pfx/\.p12 file"):
        parse_client_credential({"private_key_pfx_path": path})


def test_pfx_without_a_key(tmp_path: Path) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(None, p.leaf_cert))
    with pytest.raises(ValueError, match="both a private key and its certificate"):
        parse_client_credential({"private_key_pfx_path": path})


def test_empty_pfx_path() -> None:
    with pytest.raises(ValueError, match="private_key_pfx_path'] is empty"):
        parse_client_credential({"private_key_pfx_path": ""})


@pytest.mark.parametrize("value", [1, 2.0, ["pem"]])
def test_pfx_public_certificate_of_the_wrong_type(tmp_path: Path, value: object) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert))
    with pytest.raises(TypeError, match="public_certificate"):
        parse_client_credential({"private_key_pfx_path": path, "public_certificate": value})


def test_pfx_path_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match="file path"):
        parse_client_credential({"private_key_pfx_path": 42})


def test_pfx_with_a_matching_thumbprint(tmp_path: Path, leaf_thumbprint: str) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert))
    credential = parse_client_credential(
        {"private_key_pfx_path": path, "thumbprint": leaf_thumbprint}
    )
    header = jwt.get_unverified_header(assertion_of(credential))
    assert "x5t#S256" in header  # computed from the file


# ----------------------------------------------------------------- shapes that are refused


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ({}, "no 'private_key'"),
        ({"thumbprint": "ab" * 20}, "no 'private_key'"),
        ({"passphrase": "x", "public_certificate": "pem"}, "no 'private_key'"),
        ({"client_secret": "x"}, "pass the secret itself"),
        ({"private_key": "pem", "thumbprint": "ab" * 20, "foo": 1}, "unknown key.*'foo'"),
        ({"private_key": "pem", "password": "x"}, "did you mean 'passphrase'"),
        ({"client_assertion": "a.b.c", "private_key": "pem"}, "mixes"),
        ({"private_key": "pem", "private_key_pfx_path": "x.pfx"}, "mixes"),
        ({"client_assertion": "a.b.c", "thumbprint": "ab" * 20}, "cannot be combined"),
        ({"client_assertion": lambda: "x", "passphrase": "pw"}, "cannot be combined"),
    ],
)
def test_bad_shapes(credential: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_client_credential(credential)
    assert "client_credential must be one of" in str(info.value)


def test_non_string_keys_are_rejected() -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        parse_client_credential({1: "x"})


def test_any_mapping_is_accepted(leaf_thumbprint: str) -> None:
    mapping = types.MappingProxyType(pem_credential(thumbprint=leaf_thumbprint))
    assert isinstance(parse_client_credential(mapping), CertificateCredential)


# ------------------------------------------------------------------------- client_claims


def test_client_claims_are_merged_and_may_override(leaf_thumbprint: str) -> None:
    credential = parse_client_credential(
        pem_credential(thumbprint=leaf_thumbprint),
        client_claims={"aud": "https://custom/aud", "xms_extra": {"a": [1, 2]}, "sub": "other"},
    )
    _, claims = verify(
        assertion_of(credential), pki().leaf_cert, "RS256", audience="https://custom/aud"
    )
    assert claims["xms_extra"] == {"a": [1, 2]}
    assert claims["sub"] == "other"
    assert claims["iss"] == CLIENT_ID


def test_client_claims_are_copied(leaf_thumbprint: str) -> None:
    extra: dict[str, Any] = {"tag": ["a"]}
    credential = parse_client_credential(
        pem_credential(thumbprint=leaf_thumbprint), client_claims=extra
    )
    extra["tag"].append("b")
    extra["new"] = 1
    _, claims = verify(assertion_of(credential), pki().leaf_cert, "RS256")
    assert claims["tag"] == ["a"]
    assert "new" not in claims


@pytest.mark.parametrize(
    ("client_claims", "message"),
    [(["aud"], "must be a dict"), ({"when": object()}, "JSON"), ({1: "x"}, "keys must be str")],
)
def test_bad_client_claims(client_claims: Any, message: str, leaf_thumbprint: str) -> None:
    with pytest.raises(TypeError, match=message):
        parse_client_credential(
            pem_credential(thumbprint=leaf_thumbprint), client_claims=client_claims
        )


def test_client_claims_do_not_matter_for_secrets() -> None:
    assert isinstance(parse_client_credential("s", client_claims={"a": 1}), ClientSecret)


# ------------------------------------------------------------ one assertion per request


def jti_of(assertion: str) -> str:
    return str(jwt.decode(assertion, options={"verify_signature": False})["jti"])


@pytest.mark.parametrize("form", ["thumbprint", "public_certificate"])
def test_every_request_gets_a_freshly_signed_assertion(form: str, leaf_thumbprint: str) -> None:
    p = pki()
    if form == "thumbprint":
        credential = parse_client_credential(pem_credential(thumbprint=leaf_thumbprint))
        algorithm = "RS256"
    else:
        credential = parse_client_credential(
            pem_credential(public_certificate=cert_pem(p.leaf_cert))
        )
        algorithm = "PS256"
    assertions = [assertion_of(credential) for _ in range(3)]
    assert len({jti_of(a) for a in assertions}) == 3
    for assertion in assertions:
        _, claims = verify(assertion, p.leaf_cert, algorithm)
        assert_standard_claims(claims)


def test_assertions_name_the_client_endpoint_and_adfs_form_of_each_request() -> None:
    p = pki()
    credential = parse_client_credential(pem_credential(public_certificate=cert_pem(p.leaf_cert)))
    other_client = assertion_of(credential, client_id="another-client")
    _, claims = verify(other_client, p.leaf_cert, "PS256")
    assert claims["iss"] == claims["sub"] == "another-client"
    adfs = assertion_of(credential, token_endpoint=ADFS_TOKEN_ENDPOINT, is_adfs=True)
    header, claims = verify(adfs, p.leaf_cert, "RS256", audience=ADFS_TOKEN_ENDPOINT)
    assert "x5t" in header
    assert jti_of(assertion_of(credential)) not in {jti_of(other_client), jti_of(adfs)}


def test_the_key_and_certificate_are_loaded_once(
    monkeypatch: pytest.MonkeyPatch, leaf_thumbprint: str
) -> None:
    calls: dict[str, int] = {}

    def counted(name: str) -> Callable[..., Any]:
        real = getattr(_certificate, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)

        return wrapper

    for name in ("load_pem_key", "parse_pem_certificates", "thumbprints", "x5c_entry"):
        monkeypatch.setattr(_certificate, name, counted(name))
    p = pki()
    credential = parse_client_credential(pem_credential(public_certificate=cert_pem(p.leaf_cert)))
    loaded = dict(calls)
    assert loaded["load_pem_key"] == 1
    assert loaded["thumbprints"] >= 1
    jtis = {jti_of(assertion_of(credential, is_adfs=adfs)) for adfs in (False, True, False)}
    assert len(jtis) == 3
    assert calls == loaded


def test_concurrent_requests_each_get_their_own_assertion(
    monkeypatch: pytest.MonkeyPatch, leaf_thumbprint: str
) -> None:
    calls: list[int] = []
    real_encode = jwt.encode

    def counting_encode(*args: Any, **kwargs: Any) -> str:
        calls.append(1)
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(_certificate, "jwt", types.SimpleNamespace(encode=counting_encode))
    credential = parse_client_credential(pem_credential(thumbprint=leaf_thumbprint))
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(assertion_of(credential))) for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 10
    assert len({jti_of(r) for r in results}) == 10
    assert len(calls) == 10


def test_an_assertion_callable_is_called_for_every_request() -> None:
    calls: list[dict[str, Any]] = []

    def sign(context: dict[str, Any]) -> str:
        calls.append(context)
        return f"header.payload-{len(calls)}.signature"

    credential = parse_client_credential({"client_assertion": sign})
    assert [assertion_of(credential) for _ in range(2)] == [
        "header.payload-1.signature",
        "header.payload-2.signature",
    ]
    assert calls == [{"client_id": CLIENT_ID, "token_endpoint": TOKEN_ENDPOINT}] * 2


def test_a_static_assertion_is_sent_as_given() -> None:
    with pytest.warns(DeprecationWarning, match="client_assertion"):
        credential = parse_client_credential({"client_assertion": "header.payload.signature"})
    assert [assertion_of(credential) for _ in range(2)] == ["header.payload.signature"] * 2


def test_signing_failure_is_a_client_assertion_error(
    monkeypatch: pytest.MonkeyPatch, leaf_thumbprint: str
) -> None:
    def failing_encode(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("hsm unavailable")

    monkeypatch.setattr(_certificate, "jwt", types.SimpleNamespace(encode=failing_encode))
    credential = parse_client_credential(pem_credential(thumbprint=leaf_thumbprint))
    with pytest.raises(ClientAssertionError, match="could not sign") as info:
        assertion_of(credential)
    assert isinstance(info.value.__cause__, RuntimeError)


# ------------------------------------------------------------------------ logs and helpers


def test_no_credential_material_is_logged(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    p = pki()
    key_text = key_pem(p.leaf_key, PASSPHRASE.encode())
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert, None, PASSPHRASE.encode()))
    produced: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="identitylib"):
        for form in [
            {
                "private_key": key_text,
                "passphrase": PASSPHRASE,
                "public_certificate": cert_pem(p.leaf_cert),
            },
            {"private_key_pfx_path": path, "passphrase": PASSPHRASE},
            {"client_assertion": lambda: "header.payload.signature"},
            {"client_assertion": AutoRefresher(lambda: "header.payload.signature")},
        ]:
            credential = parse_client_credential(form)
            produced.append(assertion_of(credential))
            produced.append(assertion_of(credential, is_adfs=True))
            assert PASSPHRASE not in repr(credential)
        secret = parse_client_credential("top-secret-value")
        assert secret is not None
        secret.auth_fields(client_id=CLIENT_ID, token_endpoint=TOKEN_ENDPOINT)
    text = caplog.text
    assert (
        "Signing a client assertion (PS256) with x5t#S256 " + sha256(p.leaf_der).hex().upper()
        in text
    )
    assert "x5t " + sha1(p.leaf_der).hex().upper() in text
    for secret_text in [PASSPHRASE, "top-secret-value", "PRIVATE KEY", "header.payload"]:
        assert secret_text not in text
    for assertion in produced:
        assert assertion not in text
        assert assertion.split(".")[2] not in text


def test_repr_is_safe() -> None:
    p = pki()
    credential = parse_client_credential(pem_credential(public_certificate=cert_pem(p.leaf_cert)))
    text = repr(credential)
    assert "PS256" in text
    assert sha256(p.leaf_der).hex().upper() in text
    assert "PRIVATE" not in text


def test_extract_certs() -> None:
    p = pki()
    entries = extract_certs(cert_pem(p.leaf_cert, p.ca_cert))
    assert [base64.b64decode(e) for e in entries] == [p.leaf_der, p.ca_der]
    assert all("\n" not in e for e in entries)
    assert extract_certs(cert_pem(p.ca_cert).encode()) == [base64.b64encode(p.ca_der).decode()]
    with pytest.raises(ValueError, match="no PEM certificate"):
        extract_certs("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----")


def test_certificate_thumbprints() -> None:
    p = pki()
    sha1_hex, sha256_b64url = _certificate_thumbprints(cert_pem(p.leaf_cert, p.ca_cert))
    assert sha1_hex == sha1(p.leaf_der).hex().upper()
    assert sha256_b64url == b64url(sha256(p.leaf_der))


def test_client_assertion_type_constant() -> None:
    assert CLIENT_ASSERTION_TYPE_JWT == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# ------------------------------------------------------------- cross-check with msal 1.39


MSAL_AUTHORITY = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
MSAL_ADFS_AUTHORITY = "https://fs.contoso.com/adfs"


def msal_client_credentials_posts(
    client_credential: Any, authority: str = MSAL_AUTHORITY, **app_kwargs: Any
) -> list[tuple[str, dict[str, str]]]:
    """The token requests (endpoint, form) msal 1.39 sends for one client-credentials call,
    made with its own requests session under ``responses``: the authority's OpenID
    configuration and a token endpoint answering every POST."""
    msal = require_module("msal")
    adfs = authority.endswith("/adfs")
    issuer = authority if adfs else f"{authority}/v2.0"
    token_endpoint = authority + ("/oauth2/token" if adfs else "/oauth2/v2.0/token")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(
            f"{issuer}/.well-known/openid-configuration",
            json={
                "issuer": issuer,
                "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
                "token_endpoint": token_endpoint,
                "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
            },
        )
        mock.post(
            token_endpoint,
            json={"access_token": "at", "token_type": "Bearer", "expires_in": 3600},
        )
        app = msal.ConfidentialClientApplication(
            CLIENT_ID,
            client_credential=client_credential,
            authority=authority,
            instance_discovery=False,
            **app_kwargs,
        )
        result = app.acquire_token_for_client(["api://resource/.default"])
        assert "access_token" in result, result
        return [
            (str(call.request.url), {k: v[0] for k, v in parse_qs(str(call.request.body)).items()})
            for call in mock.calls
            if call.request.method == "POST"
        ]


def msal_post(
    client_credential: Any, authority: str = MSAL_AUTHORITY
) -> tuple[str, dict[str, str]]:
    """The token endpoint and body that msal 1.39 POSTs for a client-credentials request."""
    ((url, body),) = msal_client_credentials_posts(client_credential, authority)
    return url, body


def thumbprint_values(header: dict[str, Any]) -> dict[str, bytes]:
    return {k: b64url_decode(v) for k, v in header.items() if k.startswith("x5t")}


def x5c_values(header: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode("".join(e.split())) for e in header.get("x5c", [])]


def cross_check(
    client_credential: Any, tmp_path: Path, *, adfs: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compare our assertion header with msal's for the same credential; return both."""
    authority = MSAL_ADFS_AUTHORITY if adfs else MSAL_AUTHORITY
    endpoint, body = msal_post(client_credential, authority)
    theirs = body["client_assertion"]
    theirs = theirs.decode() if isinstance(theirs, bytes) else theirs
    assert body["client_assertion_type"] == CLIENT_ASSERTION_TYPE_JWT
    ours = assertion_of(
        parse_client_credential(client_credential), token_endpoint=endpoint, is_adfs=adfs
    )
    their_header = jwt.get_unverified_header(theirs)
    our_header = jwt.get_unverified_header(ours)
    assert set(our_header) == set(their_header)
    assert our_header["alg"] == their_header["alg"]
    assert our_header["typ"] == their_header["typ"]
    # msal pads the base64url thumbprints ("...="); RFC 7515 base64url has no padding.
    assert thumbprint_values(our_header) == thumbprint_values(their_header)
    assert x5c_values(our_header) == x5c_values(their_header)
    our_claims = jwt.decode(ours, options={"verify_signature": False})
    their_claims = jwt.decode(theirs, options={"verify_signature": False})
    assert set(their_claims) <= set(our_claims)  # we add nbf
    for name in ("aud", "iss", "sub"):
        assert our_claims[name] == their_claims[name]
    return our_header, their_header


@pytest.mark.msal
@pytest.mark.parametrize("adfs", [False, True], ids=["entra", "adfs"])
def test_msal_same_header_for_thumbprint_form(
    tmp_path: Path, leaf_thumbprint: str, adfs: bool
) -> None:
    cross_check(pem_credential(thumbprint=leaf_thumbprint), tmp_path, adfs=adfs)


@pytest.mark.msal
def test_msal_same_header_for_thumbprint_and_chain(tmp_path: Path, leaf_thumbprint: str) -> None:
    p = pki()
    ours, _ = cross_check(
        pem_credential(
            thumbprint=leaf_thumbprint, public_certificate=cert_pem(p.leaf_cert, p.ca_cert)
        ),
        tmp_path,
    )
    assert x5c_values(ours) == [p.leaf_der, p.ca_der]


@pytest.mark.msal
@pytest.mark.parametrize("adfs", [False, True], ids=["entra", "adfs"])
def test_msal_same_header_for_certificate_form(tmp_path: Path, adfs: bool) -> None:
    p = pki()
    ours, _ = cross_check(
        {
            "private_key": key_pem(p.leaf_key, PASSPHRASE.encode()),
            "passphrase": PASSPHRASE,
            "public_certificate": cert_pem(p.leaf_cert),
        },
        tmp_path,
        adfs=adfs,
    )
    assert ours["alg"] == ("RS256" if adfs else "PS256")


@pytest.mark.msal
@pytest.mark.parametrize("public_certificate", [None, True])
@pytest.mark.parametrize("adfs", [False, True], ids=["entra", "adfs"])
def test_msal_same_header_for_pfx(tmp_path: Path, public_certificate: Any, adfs: bool) -> None:
    p = pki()
    path = write_pfx(tmp_path, pfx_bytes(p.leaf_key, p.leaf_cert, None, b"pw"))
    credential: dict[str, Any] = {"private_key_pfx_path": str(path), "passphrase": "pw"}
    if public_certificate is not None:
        credential["public_certificate"] = public_certificate
    cross_check(credential, tmp_path, adfs=adfs)


@pytest.mark.msal
def test_msal_client_claims_override(tmp_path: Path, leaf_thumbprint: str) -> None:
    extra = {"aud": "https://custom/aud", "custom": "v"}
    ((_, body),) = msal_client_credentials_posts(
        pem_credential(thumbprint=leaf_thumbprint), client_claims=extra
    )
    theirs = jwt.decode(body["client_assertion"], options={"verify_signature": False})
    credential = parse_client_credential(
        pem_credential(thumbprint=leaf_thumbprint), client_claims=extra
    )
    ours = jwt.decode(assertion_of(credential), options={"verify_signature": False})
    assert ours["aud"] == theirs["aud"] == "https://custom/aud"
    assert ours["custom"] == theirs["custom"] == "v"


@pytest.mark.msal
def test_msal_same_callable_context(tmp_path: Path) -> None:
    their_contexts: list[dict[str, Any]] = []
    our_contexts: list[dict[str, Any]] = []

    def recorder(contexts: list[dict[str, Any]]) -> Callable[[dict[str, Any]], str]:
        def get_assertion(context: dict[str, Any]) -> str:
            contexts.append(context)
            return "a.b.c"

        return get_assertion

    endpoint, body = msal_post({"client_assertion": recorder(their_contexts)})
    assert body["client_assertion"] == "a.b.c"
    credential = parse_client_credential({"client_assertion": recorder(our_contexts)})
    assert assertion_of(credential, token_endpoint=endpoint) == "a.b.c"
    assert our_contexts == their_contexts


@pytest.mark.msal
def test_msal_also_warns_on_static_assertions() -> None:
    with pytest.warns(DeprecationWarning, match="client_assertion"):
        msal_post({"client_assertion": "a.b.c"})
    with pytest.warns(DeprecationWarning, match="client_assertion"):
        parse_client_credential({"client_assertion": "a.b.c"})


@pytest.mark.msal
def test_msal_auto_refresher_has_the_same_shape(clock: Clock) -> None:
    msal = require_module("msal")
    theirs = msal.AutoRefresher(lambda: "v", expires_in=5)
    ours = AutoRefresher(lambda: "v", expires_in=5)
    assert theirs() == ours() == "v"
