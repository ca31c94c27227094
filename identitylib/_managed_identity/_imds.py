"""Azure VM / VMSS: the instance metadata service (IMDS), with bounded retries."""

from __future__ import annotations

from typing import Any

from identitylib._log import get_logger
from identitylib._protocol._errors import INVALID_RESPONSE, error_result
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse, Wait
from identitylib._protocol._request import SKU
from identitylib._version import __version__

from ._context import FlowContext
from ._identities import CLIENT_ID, OBJECT_ID, RESOURCE_ID
from ._response import (
    Outcome,
    json_body,
    malformed,
    normalise_token,
    not_json,
    oauth_error,
)
from ._sources import ImdsConfig

logger = get_logger(__name__)

API_VERSION = "2018-02-01"
SELECTORS = {CLIENT_ID: "client_id", RESOURCE_ID: "msi_res_id", OBJECT_ID: "object_id"}
NAME = "IMDS"


def imds_request(config: ImdsConfig, ctx: FlowContext) -> HttpRequest:
    """``GET {endpoint}?api-version=2018-02-01&resource=...[&client_id|msi_res_id|object_id]``."""
    params = {"api-version": API_VERSION, "resource": ctx.resource}
    params.update(ctx.identity.selector(SELECTORS))
    headers = {
        "Metadata": "true",
        "x-client-SKU": SKU,
        "x-client-Ver": __version__,
        "x-ms-client-request-id": ctx.new_id(),
    }
    return HttpRequest("GET", config.endpoint, params=params, headers=headers)


def parse_imds(response: HttpResponse, ctx: FlowContext) -> dict[str, Any]:
    """The normalised token, IMDS's own error body, or an ``invalid_response`` error."""
    body = json_body(response)
    if not isinstance(body, dict):
        return not_json(response, NAME)
    error = oauth_error(body, response.status_code)
    if error is not None:
        return error
    if not response.is_success:
        return error_result(
            INVALID_RESPONSE,
            f"{NAME} answered HTTP {response.status_code} without an OAuth error",
        )
    token = normalise_token(body, now=ctx.now(), resource=ctx.resource)
    return malformed(response, NAME, token) if isinstance(token, str) else token


def imds_flow(config: ImdsConfig, ctx: FlowContext) -> Flow[Outcome]:
    """Request a token from IMDS, retrying transient failures as ``ctx.imds_retry`` says.

    A connection failure is retried only once IMDS has answered this client before:
    until then it most likely means the process is not on an Azure VM, and the
    exception reaches the caller after one attempt.
    """
    policy = ctx.imds_retry
    started = ctx.monotonic()
    attempt = 0
    while True:
        attempt += 1
        request = imds_request(config, ctx)
        try:
            response = yield request
        except Exception as exc:
            if not ctx.imds_state.answered:
                raise
            decision = policy.after_error(
                request.method,
                ctx.classify(exc),
                attempt,
                uniform=ctx.uniform,
                elapsed=ctx.monotonic() - started,
            )
            if not decision.retry:
                raise
            logger.info("IMDS request failed (%s); retrying in %.1f s", type(exc).__name__,
                        decision.wait)  # fmt: skip
            yield Wait(decision.wait)
            continue
        ctx.imds_state.answered = True
        status = response.status_code
        decision = policy.after_response(
            request.method,
            status,
            response.headers,
            attempt,
            now=ctx.now(),
            uniform=ctx.uniform,
            elapsed=ctx.monotonic() - started,
        )
        if decision.retry:
            logger.info("IMDS answered HTTP %d; retrying in %.1f s", status, decision.wait)
            yield Wait(decision.wait)
            continue
        if decision.reason:
            logger.info("IMDS answered HTTP %d; not retrying: %s", status, decision.reason)
        return Outcome(parse_imds(response, ctx), status, response.headers)
