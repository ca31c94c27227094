"""Azure Cloud Shell: a local endpoint handing out the signed-in portal user's tokens.

msal serves Cloud Shell through ``PublicClientApplication.acquire_token_interactive(...,
prompt="none")`` and its ``ManagedIdentityClient`` falls through to IMDS there;
identitylib's ``ManagedIdentityClient`` calls the endpoint itself. The token is a user
token (delegated permissions of the person signed in to the portal), cached like any
managed-identity token.
"""

from __future__ import annotations

from typing import Any

from identitylib._log import get_logger
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse

from ._context import FlowContext
from ._response import Outcome, clip, json_body, malformed, normalise_token, not_json
from ._sources import CloudShellConfig

logger = get_logger(__name__)

NAME = "Cloud Shell"


def cloud_shell_request(config: CloudShellConfig, ctx: FlowContext) -> HttpRequest:
    """``POST {MSI_ENDPOINT}`` with form ``resource=...`` and ``Metadata: true``."""
    return HttpRequest(
        "POST", config.endpoint, data={"resource": ctx.resource}, headers={"Metadata": "true"}
    )


def parse_cloud_shell(response: HttpResponse, ctx: FlowContext) -> dict[str, Any]:
    """A token, or ``{"error": <code>, "error_description": <message>}`` from the nested
    ``{"error": {"code", "message"}}`` body."""
    body = json_body(response)
    if response.is_success and isinstance(body, dict) and "error" not in body:
        token = normalise_token(body, now=ctx.now(), resource=ctx.resource)
        return malformed(response, NAME, token) if isinstance(token, str) else token
    if response.is_success and not isinstance(body, dict):
        return not_json(response, NAME)
    error: Any = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
    elif isinstance(error, str) and isinstance(body, dict):
        code, message = error, body.get("error_description")
    else:
        code, message = None, None
    return {
        "error": code if isinstance(code, str) and code else "invalid_request",
        "error_description": message
        if isinstance(message, str) and message
        else clip(response.text) or f"HTTP {response.status_code}",
    }


def cloud_shell_flow(config: CloudShellConfig, ctx: FlowContext) -> Flow[Outcome]:
    """One POST."""
    if ctx.identity.is_user_assigned:
        logger.debug("Cloud Shell serves the signed-in user; the %s identity given is not sent",
                     ctx.identity.describe())  # fmt: skip
    response = yield cloud_shell_request(config, ctx)
    return Outcome(parse_cloud_shell(response, ctx), response.status_code, response.headers)
