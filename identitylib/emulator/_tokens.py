"""Minting ID tokens, access tokens and ``client_info`` (wire-formats §10).

Access tokens are real RS256 JWTs signed by the published key, so an API can validate them.
Their format follows the *resource*: ``access_token_version`` 2 → v2 claims (``aud`` = the
API's client id, ``azp``/``azpacr``), 1 → v1 claims (``aud`` as requested, ``appid``,
``iss`` ``https://sts.windows.net/{tid}/``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Optional

from identitylib._protocol._jwt import b64url_encode

from ._config import App, ManagedIdentity, User
from ._directory import Directory
from ._signing import KeyRing, PolicyKeys


@dataclass(frozen=True)
class SignIn:
    """A user signed in to one tenant: who, where, how (``amr``) and when; through which
    B2C user flow (``policy``, None for Entra), satisfying which authentication contexts
    (``acrs``, asked for in the sign-in's ``claims``)."""

    user: User
    oid: str
    tenant_id: str
    amr: tuple[str, ...]
    auth_time: int
    policy: Optional[str] = None
    acrs: tuple[str, ...] = ()


def pairwise_sub(oid: str, audience: str) -> str:
    """A stable per-app subject (43 base64url characters, as Entra's)."""
    return b64url_encode(hashlib.sha256(f"{oid}:{audience.lower()}".encode()).digest())


def client_info(uid: str, utid: str) -> str:
    """base64url JSON ``{"uid": ..., "utid": ...}`` without padding."""
    raw = json.dumps({"uid": uid, "utid": utid}, separators=(",", ":")).encode()
    return b64url_encode(raw)


def client_info_of(sign_in: SignIn) -> str:
    """The ``client_info`` of a sign-in; B2C's ``uid`` names the user flow too."""
    uid = f"{sign_in.oid}-{sign_in.policy.lower()}" if sign_in.policy else sign_in.oid
    return client_info(uid, sign_in.user.tenant_id)


def v2_issuer(base_url: str, tenant_id: str) -> str:
    return f"{base_url}/{tenant_id}/v2.0"


def v1_issuer(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


def b2c_issuer(base_url: str, tenant_id: str, policy: str) -> str:
    """The issuer of one B2C user flow (B2C's ``tfp`` issuer form: one per policy)."""
    return f"{base_url}/tfp/{tenant_id}/{policy.lower()}/v2.0/"


def login_hint(oid: str, tenant_id: str) -> str:
    """The ID token's opaque ``login_hint`` claim (sent back as ``logout_hint``)."""
    raw = json.dumps({"oid": oid, "tid": tenant_id}, separators=(",", ":")).encode()
    return b64url_encode(raw)


def _unique_id() -> str:
    return b64url_encode(secrets.token_bytes(16))


def _times(now: float, lifetime: int) -> dict[str, int]:
    issued = int(now)
    return {"iat": issued, "nbf": issued, "exp": issued + int(lifetime)}


class TokenMinter:
    """Signs tokens with the key ring's current key."""

    def __init__(
        self, keys: KeyRing, directory: Directory, policy_keys: Optional[PolicyKeys] = None
    ) -> None:
        self.keys = keys
        self.directory = directory
        self.policy_keys = policy_keys

    def ring_of(self, sign_in: SignIn) -> KeyRing:
        """The keys that sign ``sign_in``'s tokens: its user flow's own, or the tenant's."""
        if sign_in.policy and self.policy_keys is not None:
            return self.policy_keys.ring(sign_in.tenant_id, sign_in.policy)
        return self.keys

    def _b2c_claims(self, base_url: str, sign_in: SignIn, audience: str) -> dict[str, Any]:
        """What B2C puts in every token of a user flow (``ver`` 1.0, ``sub`` = object id)."""
        policy = str(sign_in.policy)
        return {
            "aud": audience,
            "iss": b2c_issuer(base_url, sign_in.tenant_id, policy),
            "sub": sign_in.oid,
            "oid": sign_in.oid,
            "tid": sign_in.tenant_id,
            "name": sign_in.user.name or sign_in.user.username,
            "emails": [sign_in.user.username],
            "tfp": policy,
            "acr": policy.lower(),
            "ver": "1.0",
            "auth_time": sign_in.auth_time,
        }

    def id_token(
        self,
        base_url: str,
        sign_in: SignIn,
        client_id: str,
        *,
        now: float,
        lifetime: int,
        nonce: Optional[str] = None,
        with_email: bool = False,
    ) -> str:
        """A v2 ID token for ``client_id`` (user ``claims`` from the configuration added)."""
        user = sign_in.user
        claims: dict[str, Any] = dict(user.claims)
        if sign_in.policy:
            claims.update(self._b2c_claims(base_url, sign_in, client_id), **_times(now, lifetime))
            if nonce:
                claims["nonce"] = nonce
            return self.ring_of(sign_in).sign(claims)
        if with_email:
            claims.setdefault("email", user.username)
        claims.update(
            aud=client_id,
            iss=v2_issuer(base_url, sign_in.tenant_id),
            **_times(now, lifetime),
            sub=pairwise_sub(sign_in.oid, client_id),
            oid=sign_in.oid,
            tid=sign_in.tenant_id,
            preferred_username=user.username,
            name=user.name or user.username,
            ver="2.0",
            uti=_unique_id(),
            amr=list(sign_in.amr),
            auth_time=sign_in.auth_time,
            login_hint=login_hint(sign_in.oid, sign_in.tenant_id),
        )
        if nonce:
            claims["nonce"] = nonce
        return self.keys.sign(claims)

    def _resource_claims(
        self, base_url: str, tenant_id: str, client: App, azpacr: str, resource: App, aud: str
    ) -> dict[str, Any]:
        if resource.access_token_version == 1:
            return {
                "aud": aud,
                "iss": v1_issuer(tenant_id),
                "appid": client.client_id,
                "appidacr": azpacr,
                "ver": "1.0",
            }
        return {
            "aud": resource.client_id,
            "iss": v2_issuer(base_url, tenant_id),
            "azp": client.client_id,
            "azpacr": azpacr,
            "ver": "2.0",
        }

    def user_access_token(
        self,
        base_url: str,
        sign_in: SignIn,
        *,
        client: App,
        azpacr: str,
        resource: App,
        audience: str,
        scp: list[str],
        capabilities: list[str],
        now: float,
        lifetime: int,
    ) -> str:
        """A delegated access token: ``scp`` plus the user's ``oid``/``sub``/names (and
        ``acrs``, the authentication contexts the sign-in satisfied)."""
        if sign_in.policy:
            claims = self._b2c_claims(base_url, sign_in, resource.client_id)
            claims.update(_times(now, lifetime), azp=client.client_id, scp=" ".join(scp))
            return self.ring_of(sign_in).sign(claims)
        claims = self._resource_claims(
            base_url, sign_in.tenant_id, client, azpacr, resource, audience
        )
        claims.update(
            _times(now, lifetime),
            tid=sign_in.tenant_id,
            oid=sign_in.oid,
            sub=pairwise_sub(sign_in.oid, resource.client_id),
            scp=" ".join(scp),
            name=sign_in.user.name or sign_in.user.username,
            amr=list(sign_in.amr),
            uti=_unique_id(),
        )
        if claims["ver"] == "1.0":
            claims.update(upn=sign_in.user.username, unique_name=sign_in.user.username)
        else:
            claims["preferred_username"] = sign_in.user.username
        if capabilities:
            claims["xms_cc"] = list(capabilities)
        if sign_in.acrs:
            claims["acrs"] = list(sign_in.acrs)
        return self.keys.sign(claims, with_x5t=claims["ver"] == "1.0")

    def app_access_token(
        self,
        base_url: str,
        tenant_id: str,
        *,
        client: App,
        azpacr: str,
        resource: App,
        audience: str,
        now: float,
        lifetime: int,
    ) -> str:
        """An app-only access token: the resource's app roles, ``idtyp: app``."""
        claims = self._resource_claims(base_url, tenant_id, client, azpacr, resource, audience)
        app_oid = self.directory.app_oid(client)
        claims.update(_times(now, lifetime), tid=tenant_id, oid=app_oid, sub=app_oid, idtyp="app")
        claims["uti"] = _unique_id()
        if resource.app_roles:
            claims["roles"] = list(resource.app_roles)
        return self.keys.sign(claims, with_x5t=claims["ver"] == "1.0")

    def identity_access_token(
        self,
        identity: ManagedIdentity,
        tenant_id: str,
        *,
        audience: str,
        now: float,
        lifetime: int,
    ) -> str:
        """A managed-identity token: v1 app-only, ``appid``/``oid`` of the identity."""
        oid = self.directory.identity_oid(identity)
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": v1_issuer(tenant_id),
            **_times(now, lifetime),
            "appid": identity.client_id,
            "appidacr": "2",
            "idtyp": "app",
            "oid": oid,
            "sub": oid,
            "tid": tenant_id,
            "uti": _unique_id(),
            "ver": "1.0",
        }
        if identity.resource_id:
            claims["xms_mirid"] = identity.resource_id
        return self.keys.sign(claims, with_x5t=True)
