"""App Service, Functions, Container Apps and Automation (api-version 2019-08-01)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse

from ._context import FlowContext
from ._identities import CLIENT_ID, OBJECT_ID, RESOURCE_ID
from ._response import Outcome, clip, json_body, malformed, normalise_token, not_json
from ._sources import AppServiceConfig

API_VERSION = "2019-08-01"
SELECTORS = {CLIENT_ID: "client_id", RESOURCE_ID: "mi_res_id", OBJECT_ID: "object_id"}
NAME = "App Service"
#: msal reports every App Service failure with this error code.
ERROR = "invalid_scope"


def app_service_request(config: AppServiceConfig, ctx: FlowContext) -> HttpRequest:
    """``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=...[&selector]``."""
    params = {"api-version": API_VERSION, "resource": ctx.resource}
    params.update(ctx.identity.selector(SELECTORS))
    headers = {"X-IDENTITY-HEADER": config.secret, "Metadata": "true"}
    return HttpRequest("GET", config.endpoint, params=params, headers=headers)


def status_message_error(body: Any, response: HttpResponse) -> dict[str, Any]:
    """``{"error": "invalid_scope", "error_description": "<statusCode>, <message>"}``.

    The status and message come from the body (``statusCode``, ``message``; an OAuth
    ``error_description`` or ``error`` also serves), else from the HTTP answer.
    """
    fields: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    status = fields.get("statusCode")
    if not isinstance(status, (int, str)) or isinstance(status, bool):
        status = response.status_code
    message: Any = None
    for name in ("message", "error_description", "error"):
        if isinstance(fields.get(name), str) and fields[name]:
            message = fields[name]
            break
    if message is None:
        message = clip(response.text) if response.text else "no message"
    result: dict[str, Any] = {"error": ERROR, "error_description": f"{status}, {message}"}
    correlation_id = fields.get("correlationId")
    if isinstance(correlation_id, str) and correlation_id:
        result["correlation_id"] = correlation_id
    return result


def parse_status_message(response: HttpResponse, ctx: FlowContext, name: str) -> dict[str, Any]:
    """A token, or the ``invalid_scope`` error msal makes of App Service / ML failures."""
    body = json_body(response)
    if response.is_success:
        if not isinstance(body, dict):
            return not_json(response, name)
        if "access_token" in body or not any(
            key in body for key in ("statusCode", "message", "error")
        ):
            token = normalise_token(body, now=ctx.now(), resource=ctx.resource)
            return malformed(response, name, token) if isinstance(token, str) else token
    return status_message_error(body, response)


def app_service_flow(config: AppServiceConfig, ctx: FlowContext) -> Flow[Outcome]:
    """One GET; ``expires_on`` (epoch string) becomes ``expires_in``."""
    response = yield app_service_request(config, ctx)
    result = parse_status_message(response, ctx, NAME)
    return Outcome(result, response.status_code, response.headers)
