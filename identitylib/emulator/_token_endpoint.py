"""``POST /{tenant}/oauth2/v2.0/token``: validation, client authentication, grant dispatch."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Callable

from ._client_auth import authenticate, requested_client_id
from ._config import App
from ._context import ProviderState, TokenRequest, field
from ._directory import TenantRef
from ._errors import (
    NO_STORE_HEADERS,
    OAuthError,
    correlation_of,
    error_reply,
    missing_parameter,
    unknown_tenant,
)
from ._grants import GRANTS, PUBLIC_FLOW_GRANTS
from ._reply import Reply


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): v for k, v in headers.items()}


def json_reply(body: dict[str, Any]) -> Reply:
    """A 200 token-style answer with the no-store headers and a request id."""
    headers = dict(NO_STORE_HEADERS)
    headers["x-ms-request-id"] = str(uuid.uuid4())
    return Reply(200, json=body, headers=headers)


def guarded(
    state: ProviderState,
    base_url: str,
    headers: Mapping[str, str],
    body: Callable[[], dict[str, Any]],
) -> Reply:
    """Run ``body()`` (returning the success JSON); an OAuthError becomes the envelope."""
    now = state.clock()
    try:
        return json_reply(body())
    except OAuthError as err:
        return error_reply(
            err,
            base_url=base_url,
            correlation_id=correlation_of(headers),
            now=now,
            headers=NO_STORE_HEADERS,
        )


def resolve(state: ProviderState, segment: str) -> TenantRef:
    tenant = state.directory.resolve_tenant(segment)
    if tenant is None:
        raise unknown_tenant(segment, discovery=False)
    return tenant


def find_app(state: ProviderState, client_id: str, tenant: TenantRef) -> App:
    app = state.directory.app(client_id)
    if app is None:
        raise OAuthError(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant.segment}'. This can happen if the application has not been installed "
            "by the administrator of the tenant or consented to by any user in the tenant. "
            "You may have sent your authentication request to the wrong tenant.",
        )
    return app


def token(
    state: ProviderState,
    base_url: str,
    segment: str,
    form: Mapping[str, str],
    headers: Mapping[str, str],
) -> Reply:
    """Every grant of the v2 token endpoint."""
    headers = lower_keys(headers)

    def body() -> dict[str, Any]:
        tenant = resolve(state, segment)
        if field(form, "resource") is not None:
            raise OAuthError(
                "invalid_request",
                901002,
                "The 'resource' request parameter is not supported.",
            )
        grant_type = field(form, "grant_type")
        if grant_type is None:
            raise missing_parameter("grant_type")
        grant = GRANTS.get(grant_type)
        if grant is None:
            raise OAuthError(
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type[:100]}'.",
            )
        app = find_app(state, requested_client_id(form, headers), tenant)
        azpacr = authenticate(
            state,
            app,
            form,
            headers,
            base_url=base_url,
            tenant=tenant,
            public_flow=grant_type in PUBLIC_FLOW_GRANTS,
        )
        request = TokenRequest(state, base_url, tenant, form, app, azpacr, state.clock())
        return grant(request)

    return guarded(state, base_url, headers, body)
