"""Managed-identity tokens in the IMDS shape (wire-formats §11.2; numbers as strings)."""

from __future__ import annotations

from typing import Optional

from ._config import ManagedIdentity
from ._context import ProviderState
from ._reply import Reply


def _imds_error(error: str, description: str) -> Reply:
    return Reply(400, json={"error": error, "error_description": description})


def select_identity(
    state: ProviderState,
    client_id: Optional[str],
    object_id: Optional[str],
    resource_id: Optional[str],
) -> Optional[ManagedIdentity]:
    """The identity a selector names; without one, the system-assigned identity."""
    identities = state.config.managed_identities
    directory = state.directory
    if client_id:
        return next((i for i in identities if i.client_id.lower() == client_id.lower()), None)
    if object_id:
        wanted = object_id.lower()
        return next((i for i in identities if directory.identity_oid(i).lower() == wanted), None)
    if resource_id:
        wanted = resource_id.lower().rstrip("/")
        return next(
            (i for i in identities if i.resource_id and i.resource_id.lower() == wanted), None
        )
    return next((i for i in identities if i.system_assigned), None)


def audience_for(state: ProviderState, resource: str) -> str:
    """The resource's app id when it is a configured v2 resource, else the resource as given."""
    hit = state.directory.resource_for(resource.rstrip("/"))
    if hit is not None and not resource.rstrip("/")[len(hit[1]) :].strip("/"):
        app = hit[0]
        return app.client_id if app.access_token_version == 2 else resource
    return resource


def token(
    state: ProviderState,
    resource: Optional[str],
    *,
    client_id: Optional[str] = None,
    object_id: Optional[str] = None,
    resource_id: Optional[str] = None,
) -> Reply:
    """An app-only v1 token for the selected identity."""
    if not resource or not resource.strip():
        return _imds_error(
            "invalid_resource",
            "AADSTS50001: The 'resource' parameter is required (e.g. "
            "https://management.azure.com/).",
        )
    identity = select_identity(state, client_id, object_id, resource_id)
    if identity is None:
        return _imds_error("invalid_request", "Identity not found")
    now = int(state.clock())
    lifetime = state.access_token_lifetime()
    access_token = state.minter.identity_access_token(
        identity,
        state.directory.default_tenant_id(),
        audience=audience_for(state, resource.strip()),
        now=now,
        lifetime=lifetime,
    )
    return Reply(
        200,
        json={
            "access_token": access_token,
            "client_id": identity.client_id,
            "expires_in": str(lifetime),
            "expires_on": str(now + lifetime),
            "ext_expires_in": str(lifetime),
            "not_before": str(now),
            "resource": resource,
            "token_type": "Bearer",
        },
    )
