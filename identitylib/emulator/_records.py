"""Server-side records: sign-in transactions, authorization codes, device authorizations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ._directory import TenantRef
from ._tokens import SignIn


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
    prompt: Optional[str] = None
    #: The user who signed in and has yet to accept the consent page (None before that).
    signed_in: Optional[SignIn] = None


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
    acrs: tuple[str, ...] = ()


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
    acrs: tuple[str, ...] = ()


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
class IssuedAssertion:
    """A SAML assertion the federation server issued (kept under the digest of its bytes)."""

    username: str
    saml_version: str  #: ``1.1`` or ``2.0``
    auth_time: int
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
    acrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Logout:
    """One request to the end-session endpoint (an ``id_token_hint`` is noted, not kept)."""

    tenant: str  #: the path's tenant (``{tenant}/{policy}`` for a user flow)
    client_id: Optional[str]  #: as sent, else the audience of a valid ``id_token_hint``
    post_logout_redirect_uri: Optional[str]
    logout_hint: Optional[str]
    state: Optional[str]
    id_token_hint: bool
    redirected_to: Optional[str]  #: where the browser was sent; None: the signed-out page
