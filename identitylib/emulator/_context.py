"""The provider's state (config, keys, stores) and the context of one token request."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Optional

from ._config import App, EmulatorConfig, User
from ._consent import ConsentStore
from ._directory import Directory, TenantRef
from ._errors import OAuthError, missing_parameter
from ._faults import Faults
from ._records import (
    AuthCode,
    DeviceAuthorization,
    IssuedAssertion,
    Logout,
    SeenAssertion,
    Transaction,
    UserCodeIndex,
)
from ._refresh_tokens import RefreshTokenStore
from ._signing import KeyRing, PolicyKeys
from ._stores import BoundedLog, BoundedStore
from ._tokens import SignIn, TokenMinter


@dataclass
class Options:
    """Behaviour switches beyond Entra's defaults (both off by default).

    ``device_slow_down``: answer ``slow_down`` to device-code polls faster than ``interval``.
    ``reject_assertion_replay``: refuse a client assertion whose ``jti`` was seen before.
    Off by default because MSAL 1.39 reuses one signed assertion for several minutes;
    identitylib signs a fresh one per token request and passes with it on.
    """

    device_slow_down: bool = False
    reject_assertion_replay: bool = False


def field(form: Mapping[str, str], name: str) -> Optional[str]:
    """A form/query value, None when absent, empty or not text."""
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value


class ProviderState:
    """Everything mutable the grants and pages share; each store has its own lock."""

    def __init__(
        self,
        config: EmulatorConfig,
        faults: Faults,
        clock: Callable[[], float],
        keys: KeyRing,
        options: Options,
    ) -> None:
        self.config = config
        self.faults = faults
        self.clock = clock
        self.keys = keys
        self.options = options
        self.directory = Directory(config)
        self.policy_keys = PolicyKeys(clock)
        self.minter = TokenMinter(keys, self.directory, self.policy_keys)
        self.transactions: BoundedStore[Transaction] = BoundedStore(clock, retention=0.0)
        self.codes: BoundedStore[AuthCode] = BoundedStore(clock)
        self.devices: BoundedStore[DeviceAuthorization] = BoundedStore(clock)
        self.user_codes: BoundedStore[UserCodeIndex] = BoundedStore(clock, retention=0.0)
        self.refresh_tokens = RefreshTokenStore(clock)
        self.seen_assertions: BoundedStore[SeenAssertion] = BoundedStore(clock, retention=0.0)
        self.assertions: BoundedStore[IssuedAssertion] = BoundedStore(clock)  # SAML, issued
        self.consents = ConsentStore()
        self.logouts: BoundedLog[Logout] = BoundedLog()

    def access_token_lifetime(self) -> int:
        override = self.faults.access_token_lifetime
        return int(override if override is not None else self.config.access_token_lifetime)

    def refresh_in(self) -> Optional[int]:
        value = self.faults.refresh_in
        if value is None:
            value = self.config.refresh_in
        return None if value is None else int(value)

    def mfa_demanded(self, user: User) -> bool:
        return bool(self.faults.mfa_required or user.mfa_required)

    def sign_in(
        self,
        user: User,
        tenant: TenantRef,
        amr: tuple[str, ...],
        auth_time: int,
        acrs: tuple[str, ...] = (),
    ) -> SignIn:
        """The user signed in through ``tenant`` (tokens carry that tenant, or home; and
        its user flow, if any), satisfying the authentication contexts ``acrs``."""
        return SignIn(
            user,
            self.directory.user_oid(user),
            member_tenant(tenant, user),
            tuple(amr),
            auth_time,
            tenant.policy,
            tuple(acrs),
        )


def member_tenant(tenant: TenantRef, user: User) -> str:
    """The tenant the user's tokens are for; AADSTS50034 if not a member of ``tenant``."""
    if tenant.specific and (tenant.tenant_id or "").lower() != user.tenant_id.lower():
        raise OAuthError(
            "invalid_grant",
            50034,
            f"The user account {user.username} does not exist in the {tenant.segment} "
            "directory. To sign into this application, the account must be added to the "
            "directory.",
        )
    return user.tenant_id


@dataclass
class TokenRequest:
    """One authenticated token-endpoint request (``azpacr``: 0 public, 1 secret, 2 cert)."""

    state: ProviderState
    base_url: str
    tenant: TenantRef
    form: Mapping[str, str]
    client: App
    azpacr: str
    now: float

    def get(self, name: str) -> Optional[str]:
        return field(self.form, name)

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise missing_parameter(name)
        return value


def check_password(state: ProviderState, username: str, password: str) -> User:
    """The user with these credentials; AADSTS50034 (unknown) or 50126 (bad password)."""
    user = state.directory.user(username)
    if user is None:
        raise OAuthError(
            "invalid_grant",
            50034,
            f"The user account {username} does not exist in the directory. To sign into this "
            "application, the account must be added to the directory.",
        )
    if not hmac.compare_digest(user.password.encode(), password.encode()):
        raise OAuthError(
            "invalid_grant",
            50126,
            "Error validating credentials due to invalid username or password.",
        )
    return user
