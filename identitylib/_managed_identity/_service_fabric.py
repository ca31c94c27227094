"""Service Fabric: an HTTPS endpoint whose certificate is pinned by thumbprint."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from identitylib._log import get_logger
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse

from ._context import FlowContext
from ._errors import ManagedIdentityError
from ._response import Outcome, clip, json_body, malformed, normalise_token, not_json
from ._sources import ServiceFabricConfig

logger = get_logger(__name__)

API_VERSION = "2019-07-01-preview"
NAME = "Service Fabric"
#: Service Fabric error codes and the OAuth errors msal reports them as.
ERROR_CODES = {
    "SecretHeaderNotFound": "unauthorized_client",
    "ManagedIdentityNotFound": "invalid_client",
    "ArgumentNullOrEmpty": "invalid_scope",
}


def check_endpoint(endpoint: str) -> None:
    """ManagedIdentityError unless ``endpoint`` is an ``https`` URL with a host."""
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() != "https" or not host:
        raise ManagedIdentityError("Service Fabric managed identity endpoint must use HTTPS.")


def service_fabric_request(config: ServiceFabricConfig, ctx: FlowContext) -> HttpRequest:
    """``GET {IDENTITY_ENDPOINT}?api-version=2019-07-01-preview&resource=...`` with the
    optional ``token_sha256_to_refresh`` and ``xms_cc``; header ``Secret``."""
    params = {"api-version": API_VERSION, "resource": ctx.resource}
    if ctx.token_sha256_to_refresh:
        params["token_sha256_to_refresh"] = ctx.token_sha256_to_refresh
    if ctx.client_capabilities:
        params["xms_cc"] = ",".join(ctx.client_capabilities)
    return HttpRequest("GET", config.endpoint, params=params, headers={"Secret": config.secret})


def parse_service_fabric(response: HttpResponse, ctx: FlowContext) -> dict[str, Any]:
    """A token, or ``{"error": <mapped code>, "error_description": <the answer's text>}``."""
    body = json_body(response)
    if response.is_success and isinstance(body, dict) and "error" not in body:
        token = normalise_token(body, now=ctx.now(), resource=ctx.resource)
        return malformed(response, NAME, token) if isinstance(token, str) else token
    if response.is_success and not isinstance(body, dict):
        return not_json(response, NAME)
    nested = body.get("error") if isinstance(body, dict) else None
    code = nested.get("code") if isinstance(nested, dict) else None
    error = ERROR_CODES.get(code, "invalid_request") if isinstance(code, str) else "invalid_request"
    description = clip(response.text) or f"HTTP {response.status_code}"
    return {"error": error, "error_description": description}


def service_fabric_flow(config: ServiceFabricConfig, ctx: FlowContext) -> Flow[Outcome]:
    """One GET over the pinned connection the client provides for this source."""
    check_endpoint(config.endpoint)
    if ctx.identity.is_user_assigned:
        logger.debug(
            "Service Fabric chooses the identity in the cluster configuration; "
            "the %s identity given is not sent",
            ctx.identity.describe(),
        )
    response = yield service_fabric_request(config, ctx)
    return Outcome(parse_service_fabric(response, ctx), response.status_code, response.headers)
