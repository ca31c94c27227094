"""Refresh tokens: opaque strings, stored server-side, rotated, revocable, FOCI-aware.

Each redemption returns a new token; the redeemed one stays valid (as Entra's do) until it
expires or is revoked. A family refresh token (issued to an app with ``family_id``) may be
redeemed by any app of the same family; any other client gets ``invalid_grant`` with
``suberror: client_mismatch``.
"""

from __future__ import annotations

import secrets
from typing import Callable, Optional

from ._config import App
from ._errors import OAuthError
from ._records import RefreshTokenRecord
from ._stores import BoundedStore


class RefreshTokenStore:
    """Issue, redeem and revoke refresh tokens."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens: BoundedStore[RefreshTokenRecord] = BoundedStore(clock, retention=7 * 86400.0)

    def issue(self, record: RefreshTokenRecord) -> str:
        token = "1." + secrets.token_urlsafe(48)
        self._tokens.put(token, record)
        return token

    def redeem(self, token: str, client: App) -> RefreshTokenRecord:
        """The record behind ``token`` if ``client`` may use it; OAuthError otherwise."""
        record = self._tokens.get(token)
        if record is None:
            raise OAuthError(
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid. The refresh token is "
                "malformed or unknown.",
            )
        if record.revoked:
            raise OAuthError(
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token "
                "is needed. The user might have changed or reset their password.",
            )
        if record.expires_at <= self._clock():
            raise OAuthError(
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity.",
            )
        if not _may_redeem(record, client):
            raise OAuthError(
                "invalid_grant",
                70000,
                "The provided grant is not valid: the refresh token was issued to a "
                f"different client ('{record.client_id}') and is not a family refresh token "
                "for this client.",
                suberror="client_mismatch",
            )
        return record

    def revoke(self, username: Optional[str] = None) -> int:
        """Revoke every token (of ``username``); return how many were newly revoked."""
        count = 0
        wanted = username.lower() if username else None
        with self._tokens.lock:
            for record in self._tokens.values():
                if record.revoked or (wanted and record.username.lower() != wanted):
                    continue
                record.revoked = True
                count += 1
        return count


def _may_redeem(record: RefreshTokenRecord, client: App) -> bool:
    if record.client_id.lower() == client.client_id.lower():
        return True
    return bool(record.family_id) and record.family_id == client.family_id
