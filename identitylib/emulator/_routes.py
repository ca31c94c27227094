"""Routing: which model method answers a parsed request, and the replies made without it.

Pure functions of a :class:`Request`; the HTTP server (``_server.py``) parses requests
into this shape and writes the :class:`Reply` back out. Injected faults are applied by
:func:`fault_reply` before routing.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable, Optional, Protocol

from identitylib.emulator import _managed_identity
from identitylib.emulator._faults import InjectedFailure
from identitylib.emulator._reply import Reply

# Ordinary constants, not credentials:
_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "Expires": "-1"}
_CACHEABLE = {
    "Cache-Control": "max-age=86400, private",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
}


class ProviderLike(Protocol):
    """What the server calls on the model (``IdentityProvider`` implements it).

    The discovery methods also get the request's headers (for the correlation id of an
    error) and ``jwks`` the base URL (for each key's ``issuer``), as keywords.
    """

    def openid_configuration(
        self, base_url: str, tenant: str, *, headers: Optional[Mapping[str, str]] = None
    ) -> Reply: ...
    def jwks(
        self,
        tenant: str,
        *,
        base_url: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Reply: ...
    def instance_discovery(
        self,
        base_url: str,
        params: Mapping[str, str],
        *,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Reply: ...
    def user_realm(self, username: str, *, base_url: str) -> Reply: ...
    def federation_metadata(self, base_url: str) -> Reply: ...
    def wstrust(self, base_url: str, version: str, body: str) -> Reply: ...
    def authorize(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply: ...
    def sign_in(self, base_url: str, tenant: str, form: Mapping[str, str]) -> Reply: ...
    def forgot_password(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply: ...
    def end_session(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply: ...
    def demo_api_me(self, base_url: str, headers: Mapping[str, str]) -> Reply: ...
    def device_login_page(self, base_url: str, params: Mapping[str, str]) -> Reply: ...
    def device_login(self, base_url: str, form: Mapping[str, str]) -> Reply: ...
    def token(
        self, base_url: str, tenant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply: ...
    def devicecode(
        self, base_url: str, tenant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply: ...
    def managed_identity_token(
        self,
        resource: Optional[str],
        *,
        client_id: Optional[str] = None,
        object_id: Optional[str] = None,
        resource_id: Optional[str] = None,
    ) -> Reply: ...


@dataclass(frozen=True)
class Request:
    """A parsed HTTP request.

    ``path`` is the raw path without the query; ``segments`` its percent-decoded parts;
    ``params`` the query, ``form`` the url-encoded body (first value of a repeated name
    wins), ``text`` any other body (a SOAP envelope) decoded as UTF-8; ``headers``
    lower-cased; ``base_url`` ``{scheme}://{host[:port]}`` as the client addressed the server.
    """

    method: str
    path: str
    segments: Sequence[str]
    base_url: str
    params: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""


def _timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def ests_error(request: Request, status: int, error: str, code: int, message: str) -> Reply:
    """An error in Entra's envelope (AADSTS code, trace and correlation ids, timestamp)."""
    trace_id = str(uuid.uuid4())
    correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    timestamp = _timestamp()
    description = (
        f"AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
    )
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{request.base_url}/error?code={code}",
    }
    return Reply(status, json=body, headers={"x-ms-request-id": trace_id, **_NO_STORE})


def fault_reply(failure: InjectedFailure, request: Request) -> Reply:
    """The answer for an injected failure: its own body or text, else a fitting default."""
    headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
    mi_body = _managed_identity.fault_body(request.segments, failure.status)
    if failure.body is not None:
        reply = Reply(failure.status, json=dict(failure.body))
    elif failure.text is not None:
        reply = Reply(failure.status, text=failure.text)
    elif mi_body is not None:
        reply = Reply(failure.status, json=mi_body)
    elif [s.lower() for s in request.segments] == ["msi", "token"]:
        body = {"statusCode": failure.status, "message": "Injected failure (emulator fault)."}
        reply = Reply(failure.status, json=body)
    elif request.segments[:1] and request.segments[0].lower() == "metadata":
        body = {"error": "temporarily_unavailable", "error_description": "Injected failure."}
        reply = Reply(failure.status, json=body)
    elif failure.status == 429:
        message = "There are too many incoming requests. Please try again later."
        reply = ests_error(request, 429, "temporarily_unavailable", 90055, message)
    else:
        error = "server_error" if failure.status == 500 else "temporarily_unavailable"
        message = "A transient error has occurred. Try again."
        reply = ests_error(request, failure.status, error, 50033, message)
    reply.headers.update(headers)
    return reply


def not_found(request: Request) -> Reply:
    return Reply(
        404,
        json={
            "error": "not_found",
            "error_description": f"The emulator has no endpoint {request.method} {request.path}",
        },
    )


def method_not_allowed(request: Request, allowed: str) -> Reply:
    return Reply(
        405,
        json={
            "error": "method_not_allowed",
            "error_description": f"{request.method} is not allowed here; use {allowed}",
        },
        headers={"Allow": allowed},
    )


def _with_defaults(reply: Reply, defaults: Mapping[str, str]) -> Reply:
    """A copy of ``reply`` with the default headers it does not set itself."""
    present = {name.lower() for name in reply.headers}
    if "cache-control" in present:
        defaults = {k: v for k, v in defaults.items() if k.lower() not in {"pragma", "expires"}}
    extra = {k: v for k, v in defaults.items() if k.lower() not in present}
    trace_id = (reply.json or {}).get("trace_id")
    if "x-ms-request-id" not in present:
        extra["x-ms-request-id"] = trace_id if isinstance(trace_id, str) else str(uuid.uuid4())
    return replace(reply, headers={**extra, **reply.headers})


def _tenant_route(
    model: ProviderLike, request: Request, tenant: str, rest: Sequence[str]
) -> Optional[Reply]:
    method, base = request.method, request.base_url
    call: Optional[Callable[[], Reply]] = None
    allowed = "GET"
    defaults: Mapping[str, str] = _CACHEABLE
    if rest == ["v2.0", ".well-known", "openid-configuration"]:
        call = partial(model.openid_configuration, base, tenant, headers=request.headers)
    elif rest == ["discovery", "v2.0", "keys"]:
        call = partial(model.jwks, tenant, base_url=base, headers=request.headers)
    elif rest == ["discovery", "instance"]:
        call = partial(model.instance_discovery, base, request.params, headers=request.headers)
    elif rest == ["oauth2", "v2.0", "authorize"]:
        allowed, defaults = "GET, POST", {}
        if method == "GET" and "txn" in request.params:  # a link of the sign-in page
            call = partial(model.forgot_password, base, tenant, request.params)
        elif method == "GET":
            call = partial(model.authorize, base, tenant, request.params)
        elif "txn" in request.form:
            call = partial(model.sign_in, base, tenant, request.form)
        else:
            call = partial(model.authorize, base, tenant, request.form)
    elif rest == ["oauth2", "v2.0", "logout"]:
        allowed, defaults = "GET, POST", {}
        values = request.params if method == "GET" else request.form
        call = partial(model.end_session, base, tenant, values)
    elif rest in (["oauth2", "v2.0", "token"], ["oauth2", "v2.0", "devicecode"]):
        allowed, defaults = "POST", _NO_STORE
        endpoint = model.token if rest[-1] == "token" else model.devicecode
        call = partial(endpoint, base, tenant, request.form, request.headers)
    else:
        return None
    if method not in allowed.split(", "):
        return method_not_allowed(request, allowed)
    reply = call()
    if defaults is _CACHEABLE and reply.status != 200:
        defaults = _NO_STORE  # only successful discovery answers may be cached
    return _with_defaults(reply, defaults)


def _federation_route(model: ProviderLike, request: Request, rest: Sequence[str]) -> Reply:
    """The emulated federation server: ``mex`` (GET), ``{13|2005}/usernamemixed`` (POST)."""
    if list(rest) == ["mex"]:
        if request.method != "GET":
            return method_not_allowed(request, "GET")
        return _with_defaults(model.federation_metadata(request.base_url), _NO_STORE)
    if len(rest) == 2 and rest[0] in ("13", "2005") and rest[1] == "usernamemixed":
        if request.method != "POST":
            return method_not_allowed(request, "POST")
        reply = model.wstrust(request.base_url, rest[0], request.text)
        return _with_defaults(reply, _NO_STORE)
    return not_found(request)


def dispatch(model: ProviderLike, request: Request, identity_header: str) -> Reply:
    """Answer ``request``: the model's reply, a managed-identity reply, or 404/405."""
    segments = list(request.segments)
    lowered = [segment.lower() for segment in segments]
    mi_reply = _managed_identity.route(
        model,
        request.method,
        segments,
        request.params,
        request.headers,
        identity_header,
        form=request.form,
    )
    if mi_reply is not None:
        return mi_reply
    if lowered == ["devicelogin"]:
        if request.method == "GET":
            return model.device_login_page(request.base_url, request.params)
        if request.method == "POST":
            return model.device_login(request.base_url, request.form)
        return method_not_allowed(request, "GET, POST")
    if len(segments) == 3 and lowered[1] == "userrealm":
        if request.method != "GET":
            return method_not_allowed(request, "GET")
        return _with_defaults(model.user_realm(segments[2], base_url=request.base_url), {})
    if lowered[:3] == ["adfs", "services", "trust"]:
        return _federation_route(model, request, lowered[3:])
    if lowered == ["demo-api", "me"]:
        if request.method != "GET":
            return method_not_allowed(request, "GET")
        return model.demo_api_me(request.base_url, request.headers)
    if lowered[:1] == ["tfp"] and len(segments) >= 4:  # B2C's /tfp/{tenant}/{policy} form
        segments, lowered = segments[1:], lowered[1:]
    if len(segments) >= 3 and lowered[1].startswith("b2c_"):  # a B2C user flow
        segments = [f"{segments[0]}/{segments[1]}", *segments[2:]]
        lowered = [segments[0].lower(), *lowered[2:]]
    if len(segments) >= 2:
        reply = _tenant_route(model, request, segments[0], lowered[1:])
        if reply is not None:
            return reply
    return not_found(request)
