"""A SAML assertion for a federated user's username and password, from the federation server.

Steps (each an HTTP request the driver sends): the MEX document named by user realm
discovery, to find the username/password WS-Trust endpoint (or, without one, the
``federation_active_auth_url`` of the realm); then the WS-Trust request itself. Every
failure ends the flow with an error result, as MSAL-shaped as the rest:

* ``invalid_grant``: the federation server refused the username or password (as Entra
  answers a managed user's wrong password);
* ``invalid_request`` / ``server_error``: another SOAP fault, by its code (``Sender`` /
  ``Receiver``);
* ``invalid_response``: a MEX document or WS-Trust answer that is unusable (an HTTP error,
  unsafe or malformed XML, no username/password endpoint, no assertion), or an endpoint
  address that is not ``https`` (plain ``http`` only on loopback hosts, for an ``http``
  authority such as a local emulator).

Neither the password nor the assertion is ever logged.
"""

from __future__ import annotations

from typing import Any, NoReturn

from identitylib._authority._parse import ParsedAuthority, check_url_scheme
from identitylib._authority._user_realm import UserRealm
from identitylib._flows._state import AppState
from identitylib._log import get_logger, safe_url
from identitylib._protocol._errors import INVALID_RESPONSE, FlowError, error_result
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse
from identitylib._protocol._token_response import MAX_BODY, TRUNCATED_HEADER
from identitylib._protocol.federation.mex import (
    WsTrustEndpoint,
    choose_endpoint,
    usernamemixed_endpoints,
)
from identitylib._protocol.federation.names import version_of_address
from identitylib._protocol.federation.rst import rst_request
from identitylib._protocol.federation.rstr import SamlAssertion, WsTrustFault, parse_rstr

logger = get_logger(__name__)

#: MSAL's hint when a MEX document offers no username/password endpoint.
NO_ENDPOINT_HINT = (
    "This typically happens when attempting MSA accounts. See "
    "https://github.com/AzureAD/microsoft-authentication-library-for-python/wiki/"
    "Username-Password-Authentication"
)


def acceptable_address(authority: ParsedAuthority, url: str) -> bool:
    """Whether a password may be sent to ``url``: ``https``, or plain ``http`` on a loopback
    host for an ``http`` authority (a local emulator), never for an ``https`` one."""
    try:
        scheme, _, _ = check_url_scheme(url, "federation endpoint")
    except (TypeError, ValueError):
        return False
    return authority.scheme != "https" or scheme == "https"


def _fail(correlation_id: str, description: str, error: str = INVALID_RESPONSE) -> NoReturn:
    raise FlowError(error_result(error, description, correlation_id=correlation_id))


def _text_of(response: HttpResponse, what: str, correlation_id: str) -> str:
    if len(response.text) > MAX_BODY or TRUNCATED_HEADER in response.headers:
        _fail(correlation_id, f"The {what} is larger than {MAX_BODY} bytes")
    return response.text


def wstrust_endpoint(
    state: AppState, realm: UserRealm, correlation_id: str
) -> Flow[WsTrustEndpoint]:
    """The username/password endpoint: from the MEX document when the realm names one
    (WS-Trust 1.3 preferred), else the realm's ``federation_active_auth_url``."""
    authority = state.authority.parsed
    mex_url = realm.federation_metadata_url
    if mex_url is None:
        address = realm.federation_active_auth_url
        version = version_of_address(address) if address else None
        if address is None or version is None or not acceptable_address(authority, address):
            _fail(
                correlation_id,
                "User realm discovery names no MEX document and no usable username/password "
                "WS-Trust endpoint (an https .../trust/13/usernamemixed or "
                ".../trust/2005/usernamemixed address)",
            )
        return WsTrustEndpoint(address, version)
    if not acceptable_address(authority, mex_url):
        _fail(correlation_id, f"The MEX document's address {safe_url(mex_url)} is not https")
    response = yield HttpRequest("GET", mex_url)
    if not response.is_success:
        _fail(
            correlation_id,
            f"The MEX document at {safe_url(mex_url)} answered HTTP {response.status_code}",
        )
    try:
        endpoints = usernamemixed_endpoints(_text_of(response, "MEX document", correlation_id))
    except ValueError as exc:
        _fail(correlation_id, f"Unusable MEX document at {safe_url(mex_url)}: {exc}")
    endpoint = choose_endpoint(endpoints, lambda address: acceptable_address(authority, address))
    if endpoint is None:
        _fail(
            correlation_id,
            f"The MEX document at {safe_url(mex_url)} names no https username/password "
            f"WS-Trust endpoint. {NO_ENDPOINT_HINT}",
        )
    return endpoint


def saml_assertion(
    state: AppState,
    realm: UserRealm,
    username: str,
    password: str,
    correlation_id: str,
) -> Flow[SamlAssertion]:
    """The federation server's SAML assertion for ``username`` and ``password``."""
    endpoint = yield from wstrust_endpoint(state, realm, correlation_id)
    logger.debug("WS-Trust request to %s (%s)", safe_url(endpoint.address), endpoint.version.name)
    request = rst_request(
        endpoint,
        username=username,
        password=password,
        applies_to=realm.cloud_audience_urn,
        now=state.now(),
        message_id=state.new_correlation_id(),
    )
    response = yield request
    try:
        answer = parse_rstr(_text_of(response, "WS-Trust answer", correlation_id))
    except ValueError as exc:
        _fail(
            correlation_id,
            f"Unusable answer (HTTP {response.status_code}) from the WS-Trust endpoint "
            f"{safe_url(endpoint.address)}: {exc}",
        )
    if isinstance(answer, WsTrustFault):
        raise FlowError(fault_result(answer, correlation_id))
    return answer


def fault_result(fault: WsTrustFault, correlation_id: str) -> dict[str, Any]:
    """The error result of a SOAP fault (see the module docstring)."""
    if fault.failed_authentication:
        error = "invalid_grant"
        description = "The federation server refused the username or password"
    elif (fault.code or "").rpartition(":")[2] == "Sender":
        error, description = "invalid_request", "The federation server refused the request"
    else:
        error, description = "server_error", "The federation server failed"
    return error_result(error, f"{description}: {fault.describe()}", correlation_id=correlation_id)
