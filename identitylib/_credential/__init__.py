"""Client credentials of confidential apps, turned into token-request authentication fields.

:func:`parse_client_credential` accepts every ``client_credential`` form of MSAL Python and
returns a :class:`ClientCredential`, whose :meth:`~ClientCredential.auth_fields` gives the
body fields of a token request. Sans-I/O: nothing here talks to the network; the only file
access is reading a PKCS#12 file once, when the credential is built.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from identitylib._log import hide_credential
from identitylib._protocol._lazy import lazy_attributes

from ._assertion import AutoRefresher, CallableClientAssertion, StaticClientAssertion
from ._base import CLIENT_ASSERTION_TYPE_JWT, ClientAssertionError, ClientCredential, ClientSecret

if TYPE_CHECKING:
    from ._certificate import (
        ASSERTION_LIFETIME,
        CertificateCredential,
    )
    from ._certificate import (
        certificate_credential_from_pem as certificate_credential_from_pem,
    )
    from ._certificate import (
        certificate_credential_from_pfx as certificate_credential_from_pfx,
    )
    from ._keys import _certificate_thumbprints, extract_certs

#: Names whose modules load ``cryptography`` and ``jwt``: imported on first use (PEP 562),
#: so that apps with a client secret (and ``import identitylib``) never pay for them.
_LAZY = {
    "ASSERTION_LIFETIME": "._certificate",
    "CertificateCredential": "._certificate",
    "certificate_credential_from_pem": "._certificate",
    "certificate_credential_from_pfx": "._certificate",
    "_certificate_thumbprints": "._keys",
    "extract_certs": "._keys",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "ASSERTION_LIFETIME",
    "CLIENT_ASSERTION_TYPE_JWT",
    "AutoRefresher",
    "CallableClientAssertion",
    "CertificateCredential",
    "ClientAssertionError",
    "ClientCredential",
    "ClientSecret",
    "StaticClientAssertion",
    "_certificate_thumbprints",
    "extract_certs",
    "parse_client_credential",
]

_FORMS = (
    "client_credential must be one of: a client secret (str); "
    "{'client_assertion': callable returning a JWT}; "
    "{'private_key': PEM, 'public_certificate': PEM[, 'passphrase': ...]}; "
    "{'private_key': PEM, 'thumbprint': SHA-1 hex[, 'public_certificate': PEM]"
    "[, 'passphrase': ...]}; "
    "{'private_key_pfx_path': path[, 'passphrase': ...][, 'public_certificate': True]}; "
    "or None for a public client"
)
_KIND_KEYS = ("client_assertion", "private_key", "private_key_pfx_path")
_ALLOWED = {
    "client_assertion": frozenset({"client_assertion"}),
    "private_key": frozenset({"private_key", "thumbprint", "passphrase", "public_certificate"}),
    "private_key_pfx_path": frozenset(
        {"private_key_pfx_path", "passphrase", "public_certificate", "thumbprint"}
    ),
}
_KNOWN = frozenset().union(*_ALLOWED.values())
#: Optional entries for which an empty value means "not given" (e.g. an unset env var).
_EMPTY_MEANS_ABSENT = frozenset({"passphrase", "thumbprint", "public_certificate"})
_HINTS = {
    "client_secret": "pass the secret itself (a str) as client_credential",
    "secret": "pass the secret itself (a str) as client_credential",
    "certificate": "did you mean 'public_certificate'?",
    "cert": "did you mean 'public_certificate'?",
    "password": "did you mean 'passphrase'?",
    "pfx_path": "did you mean 'private_key_pfx_path'?",
    "private_key_path": "pass the key's PEM content as 'private_key', not its path",
    "thumbprint_sha256": "omit it and give 'public_certificate'; the SHA-256 is computed",
    "x5c": "give 'public_certificate' (PEM) to send x5c",
}
_STATIC_ASSERTION_WARNING = (
    "A fixed str/bytes 'client_assertion' stops working once the JWT expires. Pass a "
    "callable that returns a fresh assertion instead, e.g. "
    "{'client_assertion': AutoRefresher(get_assertion, expires_in=300)}."
)


def _present(credential: Mapping[Any, Any]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for key, value in credential.items():
        if not isinstance(key, str):
            raise TypeError(f"client_credential keys must be str, got {key!r}. {_FORMS}")
        if value is None or (key in _EMPTY_MEANS_ABSENT and value in ("", b"")):
            continue
        entries[key] = value
    return entries


def _parse_mapping(
    credential: Mapping[Any, Any], client_claims: Mapping[str, Any] | None, stacklevel: int
) -> ClientCredential:
    entries = _present(credential)
    unknown = sorted(set(entries) - _KNOWN)
    if unknown:
        hints = "; ".join(f"{key!r}: {_HINTS[key]}" for key in unknown if key in _HINTS)
        raise ValueError(
            f"unknown key(s) in client_credential: {', '.join(map(repr, unknown))}"
            + (f" ({hints})" if hints else "")
            + f". {_FORMS}"
        )
    kinds = [key for key in _KIND_KEYS if key in entries]
    if not kinds:
        given = ", ".join(map(repr, entries)) or "nothing"
        raise ValueError(
            f"client_credential has {given} but no 'private_key', 'private_key_pfx_path' "
            f"or 'client_assertion'. {_FORMS}"
        )
    if len(kinds) > 1:
        raise ValueError(
            f"client_credential mixes {' and '.join(map(repr, kinds))}; use exactly one. {_FORMS}"
        )
    kind = kinds[0]
    extra = sorted(set(entries) - _ALLOWED[kind])
    if extra:
        raise ValueError(
            f"client_credential[{kind!r}] cannot be combined with "
            f"{', '.join(map(repr, extra))}. {_FORMS}"
        )
    if kind == "client_assertion":
        assertion = entries["client_assertion"]
        if callable(assertion):
            return CallableClientAssertion(assertion)
        if isinstance(assertion, (str, bytes)):
            credential_object = StaticClientAssertion(assertion)
            warnings.warn(_STATIC_ASSERTION_WARNING, DeprecationWarning, stacklevel=stacklevel)
            return credential_object
        raise TypeError(
            "client_credential['client_assertion'] must be a callable returning a JWT "
            f"(or a JWT str/bytes), got {type(assertion).__name__}"
        )
    from . import _certificate  # cryptography and jwt: loaded by certificate users only

    if kind == "private_key":
        return _certificate.certificate_credential_from_pem(client_claims=client_claims, **entries)
    return _certificate.certificate_credential_from_pfx(client_claims=client_claims, **entries)


def parse_client_credential(
    client_credential: object,
    *,
    client_claims: Mapping[str, Any] | None = None,
    stacklevel: int = 2,
) -> ClientCredential | None:
    """Validate an MSAL-style ``client_credential`` and build its :class:`ClientCredential`.

    Forms (as in MSAL Python 1.39):

    * ``None``: no credential (public client); returns ``None``.
    * ``"secret"``: a client secret, sent as ``client_secret``.
    * ``{"client_assertion": callable}``: called on each token request sent on the wire,
      with no argument, or, if it has one required positional parameter, with
      ``{"client_id": ..., "token_endpoint": ...[, "fmi_path": ...]}``. Wrap it in
      :class:`AutoRefresher` to reuse its result.
    * ``{"client_assertion": "<JWT>"}``: a fixed assertion; deprecated
      (:class:`DeprecationWarning`) because it expires.
    * ``{"private_key": PEM, "thumbprint": SHA-1 hex[, "public_certificate": PEM]
      [, "passphrase": ...]}``: RS256 assertions with ``x5t``.
    * ``{"private_key": PEM, "public_certificate": PEM[, "passphrase": ...]}``: PS256 with
      ``x5t#S256`` and ``x5c`` (AD FS: RS256 with ``x5t``).
    * ``{"private_key_pfx_path": path[, "passphrase": ...][, "public_certificate": True]}``:
      key and certificate from a PKCS#12 file; PS256 with ``x5t#S256`` (AD FS: RS256 with
      ``x5t``); ``public_certificate=True`` adds ``x5c``.

    ``passphrase`` may be str or bytes. ``client_claims`` are merged into (and may
    override) the claims of signed assertions. Entries whose value is ``None`` are ignored.

    Raises :class:`ValueError` or :class:`TypeError` with a message saying what to fix, and
    :class:`OSError` if a PKCS#12 file cannot be read. ``stacklevel`` is handed to
    :func:`warnings.warn` (2 = the caller of this function).
    """
    if client_credential is None:
        return None
    if isinstance(client_credential, ClientCredential):
        return client_credential
    if isinstance(client_credential, bytes):
        try:
            client_credential = client_credential.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("a client secret given as bytes must be UTF-8") from None
    # Secret parts as '***' in the locals a crash reporter prints (see _log.hide).
    client_credential = hide_credential(client_credential)
    if isinstance(client_credential, str):
        if not client_credential:
            raise ValueError(
                "client_credential is an empty string (an unset environment variable?). "
                "Give the client secret, or None for a public client"
            )
        if "-----BEGIN" in client_credential:
            raise ValueError(
                "client_credential looks like PEM text, which must not be sent as a client "
                "secret. For a certificate use {'private_key': PEM, 'public_certificate': PEM}"
            )
        return ClientSecret(client_credential)
    if isinstance(client_credential, Mapping):
        return _parse_mapping(client_credential, client_claims, stacklevel + 1)
    if callable(client_credential):
        raise TypeError(
            "client_credential is a callable; to use it as an assertion source, pass "
            "{'client_assertion': your_callable}"
        )
    raise TypeError(f"client_credential of type {type(client_credential).__name__}: {_FORMS}")
