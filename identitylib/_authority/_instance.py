"""Instance discovery: asking Microsoft whether an unknown Entra host is genuine."""

from __future__ import annotations

from identitylib._protocol._errors import INVALID_RESPONSE, FlowError, error_result
from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._protocol._token_response import parse_json_object

from ._metadata import refuse_downgrade
from ._parse import ParsedAuthority, check_url_scheme


def instance_discovery_request(authority: ParsedAuthority) -> HttpRequest:
    """The GET that validates ``authority`` and returns its tenant discovery endpoint."""
    assert authority.instance_discovery_endpoint
    return HttpRequest(
        "GET",
        authority.instance_discovery_endpoint,
        params={
            "api-version": "1.0",
            "authorization_endpoint": f"{authority.scheme}://{authority.netloc}{authority.path}/oauth2/v2.0/authorize",
        },
        headers={"Accept": "application/json"},
    )


def parse_instance_discovery(authority: ParsedAuthority, response: HttpResponse) -> str:
    """Return the tenant discovery endpoint, or raise :class:`FlowError`."""
    body = parse_json_object(response, "instance discovery endpoint")
    if isinstance(body, str):
        raise FlowError(error_result(INVALID_RESPONSE, body))
    if body.get("error") == "invalid_instance":
        raise FlowError(
            error_result(
                "invalid_instance",
                f"The authority {authority.url} is not known to Microsoft. If it is a valid host "
                "you trust, pass instance_discovery=False (or validate_authority=False).",
                error_codes=body.get("error_codes", []),
            )
        )
    endpoint = body.get("tenant_discovery_endpoint")
    if not response.is_success or not isinstance(endpoint, str):
        raise FlowError(
            error_result(
                INVALID_RESPONSE,
                f"Instance discovery for {authority.url} answered HTTP {response.status_code} "
                "without a tenant_discovery_endpoint",
            )
        )
    try:
        scheme, _, _ = check_url_scheme(endpoint, "tenant_discovery_endpoint")
    except (TypeError, ValueError) as exc:
        raise FlowError(error_result(INVALID_RESPONSE, str(exc))) from None
    refuse_downgrade(
        authority, scheme, "tenant_discovery_endpoint", f"Instance discovery for {authority.url}"
    )
    return endpoint
