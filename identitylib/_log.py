"""Logging helpers: one logger tree under ``identitylib`` and redaction of secrets.

No secret, token, password, authorization code, code verifier or assertion is ever
passed to a logger. Personal data (usernames, object ids) is logged only when the app
opted in with ``enable_pii_log=True``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
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
    }
)

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


def safe_url(url: str) -> str:
    """``url`` without its query and fragment (which may carry codes or personal data)."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<unparsable URL>"
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
