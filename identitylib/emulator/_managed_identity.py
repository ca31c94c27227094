"""The managed-identity endpoints: what Azure's local token services look like on the wire.

Two sources are served, each at its own path on the emulator:

* IMDS (Azure VM / VMSS), ``GET /metadata/identity/oauth2/token?api-version=2018-02-01
  &resource=...[&client_id=|&object_id=|&msi_res_id=]`` with header ``Metadata: true``;
  all numbers in the answer are strings. The instance metadata used for region detection
  is served too: ``/metadata/instance/compute`` and ``/metadata/instance/compute/location``.
* App Service / Functions / Container Apps (api-version 2019-08-01),
  ``GET /msi/token?api-version=2019-08-01&resource=...[&client_id=|&principal_id=|
  &object_id=|&mi_res_id=]`` with header ``X-IDENTITY-HEADER``; the answer has
  ``access_token, expires_on (string epoch), resource, token_type, client_id`` and errors are
  ``{"statusCode": n, "message": "...", "correlationId": "..."}``.

The model answers in IMDS shape (``IdentityProvider.managed_identity_token``); this module
checks the headers each source demands and converts the answer for App Service.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Protocol

from identitylib.emulator._reply import Reply

#: The Azure region the emulated instance metadata reports.
EMULATOR_REGION = "emulatorregion"

IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_TOKEN_PATH = "/msi/token"
APP_SERVICE_API_VERSION = "2019-08-01"


class ManagedIdentityModel(Protocol):
    """The part of the identity-provider model the managed-identity endpoints use."""

    def managed_identity_token(
        self,
        resource: Optional[str],
        *,
        client_id: Optional[str] = None,
        object_id: Optional[str] = None,
        resource_id: Optional[str] = None,
    ) -> Reply: ...


def _imds_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, json={"error": error, "error_description": description})


def _app_service_error(status: int, message: str) -> Reply:
    body = {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
    return Reply(status, json=body)


def _has_metadata_header(headers: Mapping[str, str]) -> bool:
    return headers.get("metadata", "").strip().lower() == "true"


def _imds_token(model: ManagedIdentityModel, params: Mapping[str, str]) -> Reply:
    if not params.get("api-version"):
        return _imds_error(
            400, "invalid_request", "Required query variable 'api-version' is missing"
        )
    return model.managed_identity_token(
        params.get("resource") or None,
        client_id=params.get("client_id") or None,
        object_id=params.get("object_id") or None,
        resource_id=params.get("msi_res_id") or None,
    )


def _compute(rest: Sequence[str], params: Mapping[str, str]) -> Reply:
    if not params.get("api-version"):
        return Reply(
            400,
            json={
                "error": "Bad request. api-version was not specified in the request. For more "
                "information refer to aka.ms/azureimds",
                "newest-versions": ["2021-01-01"],
            },
        )
    compute: dict[str, Any] = {
        "azEnvironment": "AzurePublicCloud",
        "location": EMULATOR_REGION,
        "name": "identitylib-emulator",
        "osType": "Linux",
        "vmId": "00000000-0000-4000-8000-00000000e0e0",
    }
    if not rest:
        return Reply(json={"compute": compute})
    if rest == ["compute"]:
        return Reply(json=compute)
    leaves = {name.lower(): value for name, value in compute.items()}
    if len(rest) == 2 and rest[0] == "compute" and rest[1] in leaves:
        value = str(leaves[rest[1]])
        if params.get("format") == "text":
            return Reply(text=value)
        return Reply(text=json.dumps(value), headers={"Content-Type": "application/json"})
    return _imds_error(404, "not_found", "The requested metadata path does not exist")


def _app_service_token(
    model: ManagedIdentityModel,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    identity_header: str,
    clock: Callable[[], float],
) -> Reply:
    sent = headers.get("x-identity-header", "")
    if not sent or not hmac.compare_digest(sent.encode(), identity_header.encode()):
        return _app_service_error(
            401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER."
        )
    if params.get("api-version") != APP_SERVICE_API_VERSION:
        return _app_service_error(
            400, f"api-version must be {APP_SERVICE_API_VERSION} on this endpoint."
        )
    object_id = params.get("principal_id") or params.get("object_id") or None
    client_id = params.get("client_id") or None
    resource_id = params.get("mi_res_id") or None
    if sum(1 for value in (client_id, object_id, resource_id) if value) > 1:
        return _app_service_error(
            400, "Only one of client_id, principal_id/object_id and mi_res_id may be given."
        )
    reply = model.managed_identity_token(
        params.get("resource") or None,
        client_id=client_id,
        object_id=object_id,
        resource_id=resource_id,
    )
    return to_app_service(reply, clock)


def to_app_service(reply: Reply, clock: Callable[[], float] = time.time) -> Reply:
    """Convert the model's IMDS-shaped answer into the App Service 2019-08-01 shape."""
    body = reply.json or {}
    if reply.status != 200 or "access_token" not in body:
        message = body.get("error_description") or body.get("error") or reply.text or "error"
        status = reply.status if reply.status >= 400 else 500
        return _app_service_error(status, str(message))
    expires_on = body.get("expires_on")
    if expires_on is None:
        expires_on = int(clock()) + int(body.get("expires_in", 0))
    converted = {
        "access_token": body["access_token"],
        "expires_on": str(expires_on),
        "resource": body.get("resource", ""),
        "token_type": body.get("token_type", "Bearer"),
        "client_id": body.get("client_id", ""),
    }
    return Reply(200, json=converted, headers=dict(reply.headers))


def route(
    model: ManagedIdentityModel,
    method: str,
    segments: Sequence[str],
    params: Mapping[str, str],
    headers: Mapping[str, str],
    identity_header: str,
    clock: Callable[[], float] = time.time,
) -> Optional[Reply]:
    """The reply for a managed-identity path, or None when the path is not one of them.

    ``segments`` are the path's decoded segments, compared case-insensitively.
    """
    lowered = [segment.lower() for segment in segments]
    if lowered == ["msi", "token"]:
        if method != "GET":
            return _app_service_error(405, "Only GET is supported.")
        return _app_service_token(model, params, headers, identity_header, clock)
    if lowered[:1] != ["metadata"] or len(lowered) < 2:
        return None
    if lowered[1:] == ["identity", "oauth2", "token"]:
        kind = "token"
    elif lowered[1] == "instance":
        kind = "instance"
    else:
        return None
    if method != "GET":
        return _imds_error(405, "invalid_request", "Only GET is supported.")
    if not _has_metadata_header(headers):
        return _imds_error(400, "invalid_request", "Required metadata header not specified")
    if kind == "token":
        return _imds_token(model, params)
    return _compute(lowered[2:], params)
