"""Building token-endpoint requests: common body fields and client headers."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from identitylib._version import __version__

from ._messages import HttpRequest

SKU = "identitylib.Python"


def client_headers(
    correlation_id: str, *, app_name: str | None = None, app_version: str | None = None
) -> dict[str, str]:
    """Headers sent with every token and device-code request."""
    headers = {
        "Accept": "application/json",
        "x-client-sku": SKU,
        "x-client-ver": __version__,
        "x-client-os": sys.platform,
        "x-ms-lib-capability": "retry-after, h429",
        "client-request-id": correlation_id,
    }
    if app_name:
        headers["x-app-name"] = app_name
    if app_version:
        headers["x-app-ver"] = app_version
    return headers


def form_fields(*parts: Mapping[str, object] | None) -> dict[str, str]:
    """Merge body field mappings left to right, dropping None and empty values."""
    merged: dict[str, str] = {}
    for part in parts:
        if not part:
            continue
        for name, value in part.items():
            if value is None or value == "":
                merged.pop(name, None)
            else:
                merged[name] = str(value)
    return merged


def token_request(
    token_endpoint: str, fields: Mapping[str, str], headers: Mapping[str, str]
) -> HttpRequest:
    """A POST of form ``fields`` to the token endpoint."""
    return HttpRequest("POST", token_endpoint, data=dict(fields), headers=dict(headers))
