"""User realm discovery: is a user's domain managed by Entra ID or federated (wire formats §5).

``GET {authority host}/common/userrealm/{username}?api-version=1.0`` answers with the
domain's ``account_type`` and, for a federated domain, where its federation server is.
A host without the endpoint answers 404; MSAL then signs the user in with the password grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from identitylib._protocol._errors import INVALID_RESPONSE, FlowError, error_result
from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._protocol._token_response import parse_json_object
from identitylib._protocol.federation.names import MICROSOFT_ONLINE

from ._parse import ParsedAuthority

FEDERATED = "Federated"


@dataclass(frozen=True)
class UserRealm:
    """What user realm discovery says about a user's domain."""

    account_type: str  #: ``Managed``, ``Federated`` or ``Unknown``
    federation_metadata_url: str | None = None  #: the federation server's MEX document
    federation_active_auth_url: str | None = None  #: its WS-Trust endpoint, if no MEX
    cloud_audience_urn: str = MICROSOFT_ONLINE  #: ``AppliesTo`` of the WS-Trust request

    @property
    def is_federated(self) -> bool:
        """Whether a federation server checks the user's password (WS-Trust)."""
        return self.account_type == FEDERATED


def user_realm_url(authority: ParsedAuthority, username: str) -> str:
    """The user realm endpoint for ``username`` on the authority's host (port included)."""
    return f"{authority.scheme}://{authority.netloc}/common/userrealm/{quote(username, safe='@')}"


def user_realm_request(
    authority: ParsedAuthority, username: str, correlation_id: str
) -> HttpRequest:
    """The GET of the user realm of ``username``."""
    return HttpRequest(
        "GET",
        user_realm_url(authority, username),
        params={"api-version": "1.0"},
        headers={"Accept": "application/json", "client-request-id": correlation_id},
    )


def parse_user_realm(response: HttpResponse, correlation_id: str) -> UserRealm | None:
    """The user realm, None for a 404 (no such endpoint on this host); a :class:`FlowError`
    with an ``invalid_response`` result for any other failure."""
    if response.status_code == 404:
        return None
    body = parse_json_object(response, "user realm discovery endpoint")
    if isinstance(body, str) or not response.is_success:
        problem = body if isinstance(body, str) else f"HTTP {response.status_code}"
        raise FlowError(
            error_result(
                INVALID_RESPONSE,
                f"User realm discovery failed: {problem}",
                correlation_id=correlation_id,
            )
        )

    def text(name: str) -> str | None:
        value = body.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    return UserRealm(
        account_type=text("account_type") or "",
        federation_metadata_url=text("federation_metadata_url"),
        federation_active_auth_url=text("federation_active_auth_url"),
        cloud_audience_urn=text("cloud_audience_urn") or MICROSOFT_ONLINE,
    )
