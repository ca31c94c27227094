"""Look-ups in the configuration: tenants (with aliases and domains), apps, users.

The configuration is read on every look-up (it is small), so tests may edit it live.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Optional

from ._config import (
    DEMO_TENANT_ID,
    GRAPH_APP_ID,
    GRAPH_URI,
    App,
    EmulatorConfig,
    ManagedIdentity,
    User,
)

#: The Microsoft-account ("consumers") tenant GUID.
MSA_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
#: Tenant path segments that name no single directory.
TENANT_ALIASES = ("common", "organizations", "consumers")

_ID_NAMESPACE = uuid.UUID("5b0e9c55-7a43-4d1e-9a59-2f3c1c8b6d10")


def stable_guid(kind: str, name: str) -> str:
    """A GUID derived from ``name`` (object ids the configuration left empty)."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{kind}:{name.lower()}"))


@dataclass(frozen=True)
class TenantRef:
    """A ``{tenant}`` path segment, resolved.

    ``alias`` is ``common``/``organizations``/``consumers`` or None for a directory;
    ``tenant_id`` is the directory GUID (the MSA tenant for ``consumers``, None for the
    other two aliases). A B2C user-flow path ``{tenant}/{policy}`` also has ``policy``
    (as configured) and ``policy_kind`` (see ``Tenant.user_flows``).
    """

    segment: str
    alias: Optional[str]
    tenant_id: Optional[str]
    policy: Optional[str] = None
    policy_kind: Optional[str] = None

    @property
    def specific(self) -> bool:
        """True when the segment names one directory (a GUID or one of its domains)."""
        return self.alias is None

    @property
    def path(self) -> str:
        """The segment endpoints are published under: the GUID, or the alias as given;
        for a user flow ``{tenant as given}/{policy in lower case}``, as B2C publishes."""
        if self.policy:
            return f"{self.segment.split('/', 1)[0]}/{self.policy.lower()}"
        return self.segment if self.alias else str(self.tenant_id)


class Directory:
    """Read-only views of an :class:`EmulatorConfig`."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config

    # --- tenants -----------------------------------------------------------------------
    def resolve_tenant(self, segment: str) -> Optional[TenantRef]:
        """Resolve a path segment (or ``{tenant}/{policy}`` of a B2C user flow); None when
        it names no known tenant or user flow."""
        text = (segment or "").strip()
        name, _, policy = text.partition("/")
        lowered = name.lower()
        if lowered in TENANT_ALIASES:
            if policy:
                return None
            return TenantRef(text, lowered, MSA_TENANT_ID if lowered == "consumers" else None)
        for tenant in self.config.tenants:
            if lowered == tenant.tenant_id.lower() or lowered in (
                d.lower() for d in [*tenant.domains, *tenant.federated_domains]
            ):
                if not policy:
                    return TenantRef(text, None, tenant.tenant_id)
                for flow, kind in tenant.user_flows.items():
                    if flow.lower() == policy.lower():
                        return TenantRef(text, None, tenant.tenant_id, flow, kind)
                return None
        return None

    def default_tenant_id(self) -> str:
        """The first configured tenant (managed identities and app-only defaults)."""
        return self.config.tenants[0].tenant_id if self.config.tenants else DEMO_TENANT_ID

    def known_domain(self, domain: str) -> bool:
        """True for a tenant domain or the domain of a configured user."""
        lowered = domain.lower()
        if self.federated_domain(domain) or any(
            lowered == d.lower() for t in self.config.tenants for d in t.domains
        ):
            return True
        return any(u.username.lower().rpartition("@")[2] == lowered for u in self.config.users)

    def federated_domain(self, domain: str) -> bool:
        """True for a domain whose users sign in at the federation server (WS-Trust)."""
        lowered = domain.strip().lower()
        return any(lowered == d.lower() for t in self.config.tenants for d in t.federated_domains)

    def is_federated(self, user: User) -> bool:
        """True for a user of a federated domain."""
        return self.federated_domain(user.username.rpartition("@")[2])

    # --- apps and users ----------------------------------------------------------------
    def app(self, client_id: str) -> Optional[App]:
        lowered = (client_id or "").strip().lower()
        return next((a for a in self.config.apps if a.client_id.lower() == lowered), None)

    def resource_for(self, text: str) -> Optional[tuple[App, str]]:
        """The app that ``text`` starts with (identifier URI or client id) and that prefix.

        ``https://graph.microsoft.com/User.Read`` → (Graph, ``https://graph.microsoft.com``).
        The longest matching prefix wins; a bare resource (no scope part) matches too.
        """
        lowered = text.lower()
        best: Optional[tuple[App, str]] = None
        for app in self.config.apps:
            for prefix in [*app.identifier_uris, app.client_id]:
                p = prefix.rstrip("/").lower()
                if not p:
                    continue
                if (lowered == p or lowered.startswith(p + "/")) and (
                    best is None or len(p) > len(best[1])
                ):
                    best = (app, text[: len(p)])
        return best

    def graph(self) -> Optional[App]:
        """The app that owns bare scope names such as ``User.Read`` (Microsoft Graph)."""
        found = self.app(GRAPH_APP_ID)
        if found is not None:
            return found
        hit = self.resource_for(GRAPH_URI)
        return hit[0] if hit else None

    def user(self, username: str) -> Optional[User]:
        lowered = (username or "").strip().lower()
        return next((u for u in self.config.users if u.username.lower() == lowered), None)

    def user_by_object_id(self, object_id: str) -> Optional[User]:
        return next((u for u in self.config.users if self.user_oid(u) == object_id), None)

    @staticmethod
    def user_oid(user: User) -> str:
        return user.object_id or stable_guid("user", user.username)

    @staticmethod
    def app_oid(app: App) -> str:
        """The object id of the app's service principal (derived from its client id)."""
        return stable_guid("sp", app.client_id)

    @staticmethod
    def identity_oid(identity: ManagedIdentity) -> str:
        return identity.object_id or stable_guid("mi", identity.client_id)
