"""User consent to delegated scopes, per user and client app (incremental consent).

An API registered with ``requires_consent`` issues no token for a scope the user has not
consented to for the calling app: the sign-in page asks for that consent (and records it
when the user accepts); a silent request (refresh token, on-behalf-of, password) gets
Entra's ``invalid_grant`` AADSTS65001 with ``suberror: consent_required``, which sends the
app back to an interactive sign-in for that scope. Scopes of the other APIs count as
consented by an administrator for every user and app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Optional

from ._config import App
from ._errors import OAuthError
from ._resources import ScopeRequest

#: One delegated permission: (resource app's client id, scope name), both lower-cased.
Permission = tuple[str, str]


def _key(oid: str, client_id: str) -> tuple[str, str]:
    return oid.lower(), client_id.lower()


class ConsentStore:
    """What each user consented to, per client app. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[tuple[str, str], set[Permission]] = {}

    def granted(self, oid: str, client_id: str) -> set[Permission]:
        with self._lock:
            return set(self._grants.get(_key(oid, client_id), ()))

    def grant(self, oid: str, client_id: str, permissions: Iterable[Permission]) -> None:
        with self._lock:
            held = self._grants.setdefault(_key(oid, client_id), set())
            held.update((resource.lower(), name.lower()) for resource, name in permissions)

    def revoke(self, oid: Optional[str] = None, client_id: Optional[str] = None) -> int:
        """Forget the consents (of one user, to one app); return how many grants went."""
        with self._lock:
            doomed = [
                key
                for key in self._grants
                if (oid is None or key[0] == oid.lower())
                and (client_id is None or key[1] == client_id.lower())
            ]
            for key in doomed:
                del self._grants[key]
            return len(doomed)


def permissions_of(scopes: ScopeRequest, *, only_consent_required: bool) -> list[Permission]:
    """The delegated permissions ``scopes`` asks of its resources."""
    found: list[Permission] = []
    for grant in scopes.resources:
        if only_consent_required and not grant.app.requires_consent:
            continue
        found += [(grant.app.client_id.lower(), name.lower()) for name in grant.names]
    return found


def missing(store: ConsentStore, oid: str, client_id: str, scopes: ScopeRequest) -> list[str]:
    """The scopes (``{resource}/{name}``) the user must still consent to for this app."""
    held = store.granted(oid, client_id)
    wanted = permissions_of(scopes, only_consent_required=True)
    return [describe(scopes, p) for p in wanted if p not in held]


def describe(scopes: ScopeRequest, permission: Permission) -> str:
    """``{identifier uri}/{name}`` of ``permission`` as the request named its resource."""
    for grant in scopes.resources:
        if grant.app.client_id.lower() == permission[0]:
            name = next((n for n in grant.names if n.lower() == permission[1]), permission[1])
            return f"{grant.prefix}/{name}" if grant.prefix else name
    return "/".join(permission)


def consent_required(client: App) -> OAuthError:
    """Entra's answer to a silent request for a scope without the user's consent."""
    return OAuthError(
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with ID "
        f"'{client.client_id}' named '{client.name or client.client_id}'. Send an interactive "
        "authorization request for this user and resource.",
        suberror="consent_required",
    )
