"""Azure Machine Learning compute (``MSI_ENDPOINT`` + ``MSI_SECRET``, api-version 2017-09-01)."""

from __future__ import annotations

from identitylib._protocol._messages import Flow, HttpRequest

from ._app_service import parse_status_message
from ._context import FlowContext
from ._identities import CLIENT_ID, OBJECT_ID, RESOURCE_ID
from ._response import Outcome
from ._sources import MachineLearningConfig

API_VERSION = "2017-09-01"
#: The 2017 protocol spells the client id selector ``clientid``.
SELECTORS = {CLIENT_ID: "clientid", RESOURCE_ID: "msi_res_id", OBJECT_ID: "object_id"}
NAME = "Azure Machine Learning"


def machine_learning_request(config: MachineLearningConfig, ctx: FlowContext) -> HttpRequest:
    """``GET {MSI_ENDPOINT}?api-version=2017-09-01&resource=...[&clientid=...]``."""
    params = {"api-version": API_VERSION, "resource": ctx.resource}
    params.update(ctx.identity.selector(SELECTORS))
    return HttpRequest("GET", config.endpoint, params=params, headers={"secret": config.secret})


def machine_learning_flow(config: MachineLearningConfig, ctx: FlowContext) -> Flow[Outcome]:
    """One GET; ``expires_on`` (epoch int, string or date text) becomes ``expires_in``."""
    response = yield machine_learning_request(config, ctx)
    result = parse_status_message(response, ctx, NAME)
    return Outcome(result, response.status_code, response.headers)
