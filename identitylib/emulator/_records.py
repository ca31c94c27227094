"""Server-side records: sign-in transactions, authorization codes, device authorizations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ._directory import TenantRef


@dataclass
class Transaction:
    """An ``/authorize`` request awaiting the user's sign-in (keyed by the ``txn`` field)."""

    tenant: TenantRef
    client_id: str
    redirect_uri: str
    response_mode: str
    scope: str
    state: Optional[str]
    nonce: Optional[str]
    code_challenge: Optional[str]
    code_challenge_method: Optional[str]
    claims: dict[str, Any]
    want_client_info: bool
    login_hint: str
    expires_at: float


@dataclass
class AuthCode:
    """An issued authorization code; single use."""

    client_id: str
    redirect_uri: str
    scope: str
    nonce: Optional[str]
    code_challenge: Optional[str]
    code_challenge_method: Optional[str]
    claims: dict[str, Any]
    username: str
    tenant: TenantRef
    tenant_id: str
    amr: tuple[str, ...]
    auth_time: int
    expires_at: float
    redeemed: bool = False


@dataclass
class DeviceAuthorization:
    """A device-code flow: pending until approved or declined at ``/devicelogin``."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    claims: dict[str, Any]
    tenant: TenantRef
    interval: int
    expires_at: float
    status: str = "pending"  # pending | approved | declined | redeemed
    username: Optional[str] = None
    tenant_id: Optional[str] = None
    amr: tuple[str, ...] = ()
    auth_time: int = 0
    last_poll: Optional[float] = None


@dataclass
class UserCodeIndex:
    """``user_code`` → ``device_code``."""

    device_code: str
    expires_at: float


@dataclass
class SeenAssertion:
    """A client-assertion ``jti`` already presented (for replay detection)."""

    expires_at: float


@dataclass
class RefreshTokenRecord:
    """What an opaque refresh token stands for."""

    username: str
    client_id: str
    family_id: Optional[str]
    scope: str
    tenant_id: str
    amr: tuple[str, ...]
    auth_time: int
    expires_at: float
    revoked: bool = False
