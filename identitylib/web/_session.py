"""What ``identitylib.web`` keeps in the web session, and the checks around it.

The session (Flask's, Django's, Starlette's: any mutable mapping of JSON values) holds only:

* the signed-in user: the account identifiers and a few ID-token claims (never a token);
* the ``state`` values of this browser's pending sign-ins (the sign-ins themselves are
  kept on the server, see ``_store.py``), so a sign-in response is accepted only in the
  browser that started it (no login CSRF);
* a CSRF token for the sign-out form.

Every string is cut at :data:`MAX_CLAIM_LENGTH` and lists at :data:`MAX_LIST`, and the
user as a whole at :data:`MAX_USER_BYTES`, so the session stays small enough for a cookie
whatever the provider puts in its ID token.
"""

from __future__ import annotations

import hmac
import json
import secrets
import string
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit

USER_KEY = "identitylib.user"
PENDING_KEY = "identitylib.pending"
CSRF_KEY = "identitylib.csrf"
KEYS = (USER_KEY, PENDING_KEY, CSRF_KEY)

#: Pending sign-ins one browser may have at once (several tabs); the oldest is dropped.
MAX_PENDING = 5
#: Longest string kept from an ID token claim, and longest list.
MAX_CLAIM_LENGTH = 512
MAX_LIST = 100
#: Largest user entry, in bytes of JSON. Cookie sessions (Flask's, Starlette's) must stay
#: under the browsers' 4096 bytes per cookie; over this, the largest claims are left out
#: (an Entra ``groups`` list first: as with Entra's own group overage, ask Graph).
MAX_USER_BYTES = 2000

#: ID token claims kept in the session (what pages show and apps authorize with).
KEPT_CLAIMS = (
    "name",
    "preferred_username",
    "email",
    "given_name",
    "family_name",
    "oid",
    "sub",
    "tid",
    "iss",
    "idp",
    "roles",
    "groups",
    "login_hint",
    "tfp",
    "acr",
)
ACCOUNT_FIELDS = (
    "home_account_id",
    "environment",
    "realm",
    "local_account_id",
    "username",
    "authority_type",
)

Session = MutableMapping[str, Any]


@dataclass(frozen=True)
class User:
    """The signed-in user, as the session knows them."""

    account: Mapping[str, Any]
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> Optional[str]:
        value = self.claims.get("name")
        return value if isinstance(value, str) else None

    @property
    def username(self) -> Optional[str]:
        for key in ("preferred_username", "email"):
            value = self.claims.get(key)
            if isinstance(value, str):
                return value
        username = self.account.get("username")
        return username if isinstance(username, str) else None

    @property
    def home_account_id(self) -> str:
        return str(self.account.get("home_account_id") or "")


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_CLAIM_LENGTH]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_bounded(item) for item in list(value)[:MAX_LIST] if isinstance(item, str)]
    return None


def _size(value: Any) -> int:
    return len(json.dumps(value))


def remember_user(
    session: Session, account: Mapping[str, Any], claims: Mapping[str, Any]
) -> User:
    """Keep the user in the session (bounded); returns what was kept."""
    kept_account = {k: _bounded(account.get(k)) for k in ACCOUNT_FIELDS if account.get(k)}
    kept_claims = {k: _bounded(claims[k]) for k in KEPT_CLAIMS if k in claims}
    while kept_claims and _size({"account": kept_account, "claims": kept_claims}) > MAX_USER_BYTES:
        del kept_claims[max(kept_claims, key=lambda name: _size(kept_claims[name]))]
    session[USER_KEY] = {"account": kept_account, "claims": kept_claims}
    return User(kept_account, kept_claims)


def user_of(session: Mapping[str, Any]) -> Optional[User]:
    """The signed-in user, or None."""
    stored = session.get(USER_KEY)
    if not isinstance(stored, Mapping):
        return None
    account = stored.get("account")
    claims = stored.get("claims")
    if not isinstance(account, Mapping) or not account.get("home_account_id"):
        return None
    return User(dict(account), dict(claims) if isinstance(claims, Mapping) else {})


def add_pending(session: Session, state: str) -> None:
    """Bind a pending sign-in to this browser session."""
    pending = [s for s in session.get(PENDING_KEY) or [] if isinstance(s, str)]
    session[PENDING_KEY] = [*pending[-(MAX_PENDING - 1) :], state]


def take_pending(session: Session, state: str) -> bool:
    """Whether this session started the sign-in ``state``; it is unbound either way."""
    pending = [s for s in session.get(PENDING_KEY) or [] if isinstance(s, str)]
    found = any(hmac.compare_digest(s, state) for s in pending)
    remaining = [s for s in pending if s != state]
    if remaining:
        session[PENDING_KEY] = remaining
    else:
        session.pop(PENDING_KEY, None)
    return found


def forget_everything(session: Session) -> None:
    """Remove what identitylib keeps in the session."""
    for key in KEYS:
        session.pop(key, None)


def csrf_token(session: Session) -> str:
    """The session's CSRF token for forms that change state (sign-out), made on first use."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def csrf_valid(session: Mapping[str, Any], token: Optional[str]) -> bool:
    """Whether ``token`` is the session's CSRF token (constant-time comparison)."""
    expected = session.get(CSRF_KEY)
    if not isinstance(expected, str) or not isinstance(token, str) or not token:
        return False
    return hmac.compare_digest(expected.encode(), token.encode())


_UNSAFE = set(string.whitespace) | {"\\"} | {chr(c) for c in range(32)} | {"\x7f"}


def safe_return_url(candidate: Optional[str], default: str = "/") -> str:
    """``candidate`` if it is a path of this app (``/orders?id=3``), else ``default``.

    Only a path that begins with one ``/`` is accepted: no scheme, no host, no ``//`` or
    ``/\\`` (which browsers read as another host), no whitespace or control characters.
    So a ``next`` parameter can never send a user to another site (no open redirect).
    """
    if not isinstance(candidate, str) or not candidate.startswith("/"):
        return default
    if candidate.startswith("//") or any(ch in _UNSAFE for ch in candidate):
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return default
    return candidate
