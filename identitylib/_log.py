"""Logging helpers: one logger tree under ``identitylib`` and redaction of secrets.

No secret, token, password, authorization code, code verifier or assertion is ever
passed to a logger. Personal data (usernames, object ids) is logged only when the app
opted in with ``enable_pii_log=True``.

Reprs are redacted too, since crash reporters (Sentry, ``pytest -l``,
``traceback.TracebackException(capture_locals=True)``) print the locals of failing
frames: objects holding a secret never show it, and secret values kept in plain
containers are :class:`Secret` strings, which show as ``'***'``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

#: Request and response fields whose values are credentials. Never logged.
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "id_token_claims",
        "client_secret",
        "client_assertion",
        "assertion",
        "password",
        "code",
        "code_verifier",
        "device_code",
        "user_federated_identity_credential",
        "secret",
        "client_claims",
        "claims",
        "req_cnf",
        "spa_code",
        "authorization",
        "x-identity-header",
        "private_key",
        "passphrase",
    }
)

#: Field names of token requests and cache entries that are not secrets, as written: a
#: name found here needs no lower-casing to be told apart from :data:`SECRET_FIELDS` (a
#: name in neither is lower-cased and looked up).
PLAIN_FIELDS = frozenset(
    {
        "grant_type",
        "client_id",
        "scope",
        "client_info",
        "requested_token_use",
        "client_assertion_type",
        "token_type",
        "key_id",
        "fmi_path",
        "redirect_uri",
        # the fields of cached entries beside their "secret" (a flow hides entries' secrets)
        "credential_type",
        "home_account_id",
        "environment",
        "realm",
        "target",
        "family_id",
        "cached_at",
        "expires_on",
        "extended_expires_on",
        "refresh_on",
        "last_modification_time",
        "user_assertion_hash",
        "ext_cache_key",
    }
)
if not SECRET_FIELDS.isdisjoint(name.lower() for name in PLAIN_FIELDS):  # pragma: no cover
    raise AssertionError("a plain field is a secret one")


#: Fields that identify a person. Logged only with ``enable_pii_log=True``.
PII_FIELDS = frozenset(
    {
        "username",
        "login_hint",
        "client_info",
        "home_account_id",
        "local_account_id",
        "preferred_username",
        "upn",
        "email",
        "name",
        "oid",
        "sub",
        "x-anchormailbox",
        "user_id",
    }
)

REDACTED = "***"

T = TypeVar("T")


class Secret(str):
    """A credential string whose ``repr()`` is ``'***'``, so that a dict or list holding
    it hides it too. It is the string itself everywhere else (``str()``, formatting,
    comparison, hashing, encoding), so the wire and throttling keys see the real value.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(REDACTED)


class SecretBytes(bytes):
    """The bytes twin of :class:`Secret` (key material, passphrases): ``b'***'``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(REDACTED.encode())


def hide(value: T) -> T:
    """``value`` as a :class:`Secret` or :class:`SecretBytes`; anything else as it is.

    Rebinding an argument with it (``password = hide(password)``) shows ``'***'`` for it
    in the frame's locals, and in those of every call it is passed on to.
    """
    # (no typing.cast: a call per field of every token request)
    if isinstance(value, str) and not isinstance(value, Secret):
        return Secret(value)  # type: ignore[return-value]
    if isinstance(value, bytes) and not isinstance(value, SecretBytes):
        return SecretBytes(value)  # type: ignore[return-value]
    return value


def hide_secrets(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``fields`` in which the values of :data:`SECRET_FIELDS` are hidden (the
    names of :data:`PLAIN_FIELDS` not even looked at: a cache entry has one secret)."""
    hidden = dict(fields)
    for k in fields:  # (each name looked up: no pass over PLAIN_FIELDS, as a difference makes)
        if k in PLAIN_FIELDS:
            continue
        if k in SECRET_FIELDS or (k if type(k) is str else str(k)).lower() in SECRET_FIELDS:
            value = hidden[k]  # (a plain string, an entry's secret: hide's, in line)
            hidden[k] = Secret(value) if type(value) is str else hide(value)
    return hidden


def hide_credential(credential: T) -> T:
    """An MSAL ``client_credential`` (a secret, or a dict with a key, a passphrase or an
    assertion) with its secret parts hidden; a copy when it is a dict."""
    if isinstance(credential, Mapping):
        return cast(T, hide_secrets(credential))
    return hide(credential)


def safe_repr(message: Any, *, hidden: tuple[str, ...] = ()) -> str:
    """``Name(field=value, ...)`` of a dataclass, its mappings :func:`redact`-ed and the
    ``hidden`` fields shown by their length only."""
    parts = []
    for item in dataclass_fields(message):
        if not item.repr:
            continue
        value = getattr(message, item.name)
        if item.name in hidden and value is not None:
            if isinstance(value, str):
                shown = f"<{len(value)} characters>"
            elif isinstance(value, bytes):
                shown = f"<{len(value)} bytes>"
            else:
                shown = REDACTED
        elif isinstance(value, Mapping):
            shown = repr(redact(value))
        else:
            shown = repr(value)
        parts.append(f"{item.name}={shown}")
    return f"{type(message).__name__}({', '.join(parts)})"


def get_logger(name: str) -> logging.Logger:
    """Return the logger for an identitylib module (``identitylib.<part>``)."""
    if not name.startswith("identitylib"):
        name = "identitylib." + name
    return logging.getLogger(name)


def redact(mapping: Mapping[str, Any] | None, *, pii: bool = False) -> dict[str, Any]:
    """Return a copy of ``mapping`` safe to log; nested mappings are redacted too."""
    if not mapping:
        return {}
    safe: dict[str, Any] = {}
    for key, value in mapping.items():
        lowered = str(key).lower()
        if lowered in SECRET_FIELDS or (not pii and lowered in PII_FIELDS):
            safe[key] = REDACTED
        elif isinstance(value, Mapping):
            safe[key] = redact(value, pii=pii)
        else:
            safe[key] = value
    return safe


#: The path of user realm discovery, which is followed by the username.
USER_REALM_PATH = "/common/userrealm/"


def safe_url(url: str) -> str:
    """``url`` without its query and fragment (which may carry codes or personal data), and
    without the username that ends a user realm discovery URL."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<unparsable URL>"
    path = parts.path
    at = path.lower().find(USER_REALM_PATH)
    if at >= 0:
        path = path[: at + len(USER_REALM_PATH)] + REDACTED
    return f"{parts.scheme}://{parts.netloc}{path}"


#: identitylib's own directory: frames from files under it are the library's.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first frame outside identitylib: the app's line
    that called the public method, however many of the library's frames lie between (a
    builder, a shell, the telemetry wrapper)."""
    frame = sys._getframe(1)  # the caller: stacklevel 2
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)
