"""The managed-identity endpoints: what Azure's local token services look like on the wire.

Six sources are served, each at its own path on the emulator:

* IMDS (Azure VM / VMSS), ``GET /metadata/identity/oauth2/token?api-version=2018-02-01
  &resource=...[&client_id=|&object_id=|&msi_res_id=]`` with header ``Metadata: true``;
  all numbers in the answer are strings. The instance metadata used for region detection
  is served too: ``/metadata/instance/compute`` and ``/metadata/instance/compute/location``.
* App Service / Functions / Container Apps (api-version 2019-08-01),
  ``GET /msi/token?api-version=2019-08-01&resource=...[&client_id=|&principal_id=|
  &object_id=|&mi_res_id=]`` with header ``X-IDENTITY-HEADER``; the answer has
  ``access_token, expires_on (string epoch), resource, token_type, client_id`` and errors are
  ``{"statusCode": n, "message": "...", "correlationId": "..."}``.

* Azure Machine Learning (api-version 2017-09-01), ``GET /ml/msi/token?resource=...
  [&clientid=|&object_id=|&msi_res_id=]`` with header ``secret`` (the emulator's
  ``identity_header``); answers like App Service (``expires_on`` an epoch string).
* Cloud Shell, ``POST /cloudshell/oauth2/token`` with form ``resource`` and header
  ``Metadata: true``; answers ``access_token, refresh_token (""), expires_in, expires_on,
  not_before, resource, token_type`` (numbers as strings); errors nest code and message,
  ``{"error": {"code": ..., "message": ...}}``. Real Cloud Shell hands out the portal
  user's token; the emulator's is an app-only token of its system-assigned identity.
* Azure Arc (api-version 2020-06-01), ``GET /arc/metadata/identity/oauth2/token`` with
  ``Metadata: true``: without ``Authorization`` the answer is 401 with ``WWW-Authenticate:
  Basic realm=<key file>``, a new file of random content written into the directory given
  to :func:`enable_arc`; the request repeated with ``Authorization: Basic <content>``
  gets an IMDS-shaped token that echoes the user-assigned selector (``client_id``,
  ``object_id``, ``msi_res_id``) unless the agent plays a legacy one
  (``echo_identity=False``: selectors ignored, system-assigned token). Keys are single use.
* Service Fabric (api-version 2019-07-01-preview), ``GET /sf/metadata/identity/oauth2/token``
  with header ``Secret`` (the ``identity_header``); answers ``token_type, access_token,
  expires_on (int), resource``; errors are ``{"error": {"correlationId", "code",
  "message"}}`` with SF's codes. Serve it with ``tls=True``: clients pin the emulator's
  server certificate by its SHA-1 thumbprint.

The model answers in IMDS shape (``IdentityProvider.managed_identity_token``); this module
checks the headers each source demands and converts the answer for each source. The
query parameters of the last requests to each source are kept (without secrets) for
tests: :func:`recent_requests`.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Union

from identitylib.emulator._reply import Reply
from identitylib.emulator._tls import write_private

#: The Azure region the emulated instance metadata reports.
EMULATOR_REGION = "emulatorregion"

IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_TOKEN_PATH = "/msi/token"
APP_SERVICE_API_VERSION = "2019-08-01"
MACHINE_LEARNING_TOKEN_PATH = "/ml/msi/token"
MACHINE_LEARNING_API_VERSION = "2017-09-01"
CLOUD_SHELL_TOKEN_PATH = "/cloudshell/oauth2/token"
ARC_TOKEN_PATH = "/arc/metadata/identity/oauth2/token"
ARC_API_VERSION = "2020-06-01"
SERVICE_FABRIC_TOKEN_PATH = "/sf/metadata/identity/oauth2/token"
SERVICE_FABRIC_API_VERSION = "2019-07-01-preview"

_ML = ["ml", "msi", "token"]
_CLOUD_SHELL = ["cloudshell", "oauth2", "token"]
_ARC = ["arc", "metadata", "identity", "oauth2", "token"]
_SERVICE_FABRIC = ["sf", "metadata", "identity", "oauth2", "token"]
#: How many requests (per emulator) :func:`recent_requests` remembers.
_LOG_LENGTH = 50


class ManagedIdentityModel(Protocol):
    """The part of the identity-provider model the managed-identity endpoints use."""

    def managed_identity_token(
        self,
        resource: Optional[str],
        *,
        client_id: Optional[str] = None,
        object_id: Optional[str] = None,
        resource_id: Optional[str] = None,
    ) -> Reply: ...


def _imds_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, json={"error": error, "error_description": description})


def _app_service_error(status: int, message: str) -> Reply:
    body = {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
    return Reply(status, json=body)


def _has_metadata_header(headers: Mapping[str, str]) -> bool:
    return headers.get("metadata", "").strip().lower() == "true"


def _imds_token(model: ManagedIdentityModel, params: Mapping[str, str]) -> Reply:
    if not params.get("api-version"):
        return _imds_error(
            400, "invalid_request", "Required query variable 'api-version' is missing"
        )
    return model.managed_identity_token(
        params.get("resource") or None,
        client_id=params.get("client_id") or None,
        object_id=params.get("object_id") or None,
        resource_id=params.get("msi_res_id") or None,
    )


def _compute(rest: Sequence[str], params: Mapping[str, str]) -> Reply:
    if not params.get("api-version"):
        return Reply(
            400,
            json={
                "error": "Bad request. api-version was not specified in the request. For more "
                "information refer to aka.ms/azureimds",
                "newest-versions": ["2021-01-01"],
            },
        )
    compute: dict[str, Any] = {
        "azEnvironment": "AzurePublicCloud",
        "location": EMULATOR_REGION,
        "name": "identitylib-emulator",
        "osType": "Linux",
        "vmId": "00000000-0000-4000-8000-00000000e0e0",
    }
    if not rest:
        return Reply(json={"compute": compute})
    if rest == ["compute"]:
        return Reply(json=compute)
    leaves = {name.lower(): value for name, value in compute.items()}
    if len(rest) == 2 and rest[0] == "compute" and rest[1] in leaves:
        value = str(leaves[rest[1]])
        if params.get("format") == "text":
            return Reply(text=value)
        return Reply(text=json.dumps(value), headers={"Content-Type": "application/json"})
    return _imds_error(404, "not_found", "The requested metadata path does not exist")


def _app_service_token(
    model: ManagedIdentityModel,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    identity_header: str,
    clock: Callable[[], float],
) -> Reply:
    return _header_source_token(
        model,
        params,
        clock,
        secret=(
            headers.get("x-identity-header", ""),
            identity_header,
            "X-IDENTITY-HEADER",
            "IDENTITY_HEADER",
        ),
        api_version=APP_SERVICE_API_VERSION,
        selectors=(("client_id",), ("principal_id", "object_id"), ("mi_res_id",)),
    )


def _header_source_token(
    model: ManagedIdentityModel,
    params: Mapping[str, str],
    clock: Callable[[], float],
    *,
    secret: tuple[str, str, str, str],
    api_version: str,
    selectors: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
) -> Reply:
    """A token from a source that authenticates its caller by a secret header and answers
    in App Service's shape (App Service, Azure Machine Learning).

    ``secret`` is (the header's value sent, the expected value, the header's name, the
    environment variable's name); ``selectors`` lists the query parameters naming a
    client id, an object id and a resource id, in that order.
    """
    sent, expected, header_name, variable = secret
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _app_service_error(
            401, f"The {header_name} header is missing or does not match {variable}."
        )
    if params.get("api-version") != api_version:
        return _app_service_error(400, f"api-version must be {api_version} on this endpoint.")
    client_id, object_id, resource_id = (
        next((params[name] for name in names if params.get(name)), None) for names in selectors
    )
    if sum(1 for value in (client_id, object_id, resource_id) if value) > 1:
        named = ", ".join("/".join(names) for names in selectors)
        return _app_service_error(400, f"Only one of {named} may be given.")
    reply = model.managed_identity_token(
        params.get("resource") or None,
        client_id=client_id,
        object_id=object_id,
        resource_id=resource_id,
    )
    return to_app_service(reply, clock)


def to_app_service(reply: Reply, clock: Callable[[], float] = time.time) -> Reply:
    """Convert the model's IMDS-shaped answer into the App Service 2019-08-01 shape."""
    body = reply.json or {}
    if reply.status != 200 or "access_token" not in body:
        message = body.get("error_description") or body.get("error") or reply.text or "error"
        status = reply.status if reply.status >= 400 else 500
        return _app_service_error(status, str(message))
    expires_on = body.get("expires_on")
    if expires_on is None:
        expires_on = int(clock()) + int(body.get("expires_in", 0))
    converted = {
        "access_token": body["access_token"],
        "expires_on": str(expires_on),
        "resource": body.get("resource", ""),
        "token_type": body.get("token_type", "Bearer"),
        "client_id": body.get("client_id", ""),
    }
    return Reply(200, json=converted, headers=dict(reply.headers))


# --- a log of what each source was asked (tests look at it) ---------------------------

_log_lock = threading.Lock()
_logs: dict[str, deque[dict[str, Any]]] = {}


def _log(
    identity_header: str, source: str, params: Mapping[str, str], headers: Mapping[str, str]
) -> None:
    entry = {"source": source, "params": dict(params), "header_names": sorted(headers)}
    with _log_lock:
        _logs.setdefault(identity_header, deque(maxlen=_LOG_LENGTH)).append(entry)


def recent_requests(identity_header: str) -> list[dict[str, Any]]:
    """``{"source", "params", "header_names"}`` of the latest managed-identity requests
    served by the emulator whose ``identity_header`` this is (oldest first). Only query
    parameters (form fields for Cloud Shell) and header *names* are kept."""
    with _log_lock:
        return [dict(entry) for entry in _logs.get(identity_header, ())]


def forget_requests(identity_header: str) -> None:
    """Empty the log of :func:`recent_requests`."""
    with _log_lock:
        _logs.pop(identity_header, None)


# --- Azure Machine Learning ----------------------------------------------------------


def _machine_learning_token(
    model: ManagedIdentityModel,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    identity_header: str,
    clock: Callable[[], float],
) -> Reply:
    return _header_source_token(
        model,
        params,
        clock,
        secret=(headers.get("secret", ""), identity_header, "secret", "MSI_SECRET"),
        api_version=MACHINE_LEARNING_API_VERSION,
        selectors=(("clientid", "client_id"), ("object_id",), ("msi_res_id",)),
    )


# --- Cloud Shell ---------------------------------------------------------------------


def _cloud_shell_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, json={"error": {"code": code, "message": message}})


def _cloud_shell_token(
    model: ManagedIdentityModel, method: str, form: Mapping[str, str], headers: Mapping[str, str]
) -> Reply:
    if method != "POST":
        return _cloud_shell_error(405, "MethodNotAllowed", "Only POST is supported.")
    if not _has_metadata_header(headers):
        return _cloud_shell_error(400, "BadRequest", "Required metadata header not specified")
    resource = (form.get("resource") or "").strip()
    if not resource:
        return _cloud_shell_error(400, "BadRequest", "The 'resource' form field is required.")
    reply = model.managed_identity_token(resource)
    body = reply.json or {}
    if reply.status != 200 or "access_token" not in body:
        code = str(body.get("error") or "BadRequest")
        message = str(body.get("error_description") or reply.text or "error")
        return _cloud_shell_error(reply.status if reply.status >= 400 else 500, code, message)
    converted = {
        "access_token": body["access_token"],
        "refresh_token": "",
        "expires_in": str(body.get("expires_in", "")),
        "expires_on": str(body.get("expires_on", "")),
        "not_before": str(body.get("not_before", "")),
        "resource": resource,
        "token_type": body.get("token_type", "Bearer"),
    }
    return Reply(200, json=converted)


# --- Azure Arc -----------------------------------------------------------------------


class ArcAgent:
    """The emulated Arc agent's challenge keys: one new key file per challenge, each key
    accepted once (its file is removed when used). At most ``max_outstanding`` unused
    keys are kept; older ones are forgotten and their files removed."""

    def __init__(
        self, directory: Union[str, Path], *, echo_identity: bool = True, max_outstanding: int = 32
    ) -> None:
        self.directory = Path(directory)
        self.echo_identity = echo_identity
        self._max = max(1, max_outstanding)
        self._keys: dict[str, Path] = {}
        self._lock = threading.Lock()

    def challenge(self) -> str:
        """Write a new key file; return its absolute path (the challenge's realm)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path = (self.directory / f"{uuid.uuid4()}.key").absolute()
        write_private(path, key.encode("ascii"))
        with self._lock:
            self._keys[key] = path
            while len(self._keys) > self._max:
                oldest = next(iter(self._keys))
                self._remove(oldest)
        return str(path)

    def redeem(self, presented: str) -> bool:
        """Whether ``presented`` is an unused key (it is used up by this call)."""
        with self._lock:
            for key in list(self._keys):
                if hmac.compare_digest(key.encode(), presented.encode()):
                    self._remove(key)
                    return True
        return False

    def close(self) -> None:
        """Remove every unused key file."""
        with self._lock:
            for key in list(self._keys):
                self._remove(key)

    def _remove(self, key: str) -> None:
        path = self._keys.pop(key)
        with contextlib.suppress(OSError):
            path.unlink()


_arc_lock = threading.Lock()
_arc_agents: dict[str, ArcAgent] = {}


def enable_arc(
    identity_header: str, directory: Union[str, Path], *, echo_identity: bool = True
) -> ArcAgent:
    """Serve Azure Arc for the emulator with this ``identity_header``, writing key files
    into ``directory`` (point the client's token directory at it)."""
    agent = ArcAgent(directory, echo_identity=echo_identity)
    with _arc_lock:
        previous = _arc_agents.pop(identity_header, None)
        _arc_agents[identity_header] = agent
    if previous is not None:
        previous.close()
    return agent


def disable_arc(identity_header: str) -> None:
    """Stop serving Azure Arc for that emulator and remove its unused key files."""
    with _arc_lock:
        agent = _arc_agents.pop(identity_header, None)
    if agent is not None:
        agent.close()


def _arc_token(
    model: ManagedIdentityModel,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    identity_header: str,
) -> Reply:
    with _arc_lock:
        agent = _arc_agents.get(identity_header)
    if agent is None:
        return _imds_error(
            404,
            "not_enabled",
            "Azure Arc is not enabled on this emulator: call "
            "identitylib.emulator._mi_sources.enable_arc(emu, directory) first",
        )
    if not params.get("api-version"):
        return _imds_error(
            400, "invalid_request", "Required query variable 'api-version' is missing"
        )
    authorization = headers.get("authorization", "")
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "basic" or not presented.strip() or not agent.redeem(presented.strip()):
        realm = agent.challenge()
        reply = _imds_error(
            401, "unauthorized", "Answer the challenge with the content of the key file."
        )
        reply.headers["WWW-Authenticate"] = f"Basic realm={realm}"
        return reply
    selectors = {
        "client_id": params.get("client_id") or None,
        "object_id": params.get("object_id") or None,
        "resource_id": params.get("msi_res_id") or None,
    }
    if not agent.echo_identity:
        selectors = {}
    reply = model.managed_identity_token(params.get("resource") or None, **selectors)
    body = reply.json
    if reply.status == 200 and isinstance(body, dict) and "access_token" in body:
        body = dict(body)
        if selectors.get("object_id"):
            body["object_id"] = selectors["object_id"]
        if selectors.get("resource_id"):
            body["msi_res_id"] = selectors["resource_id"]
        return Reply(200, json=body, headers=dict(reply.headers))
    return reply


# --- Service Fabric ------------------------------------------------------------------


def _service_fabric_error(status: int, code: str, message: str) -> Reply:
    body = {"error": {"correlationId": str(uuid.uuid4()), "code": code, "message": message}}
    return Reply(status, json=body)


def _service_fabric_token(
    model: ManagedIdentityModel,
    method: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    identity_header: str,
    clock: Callable[[], float],
) -> Reply:
    if method != "GET":
        return _service_fabric_error(405, "MethodNotAllowed", "Only GET is supported.")
    sent = headers.get("secret", "")
    if not sent:
        return _service_fabric_error(
            401, "SecretHeaderNotFound", "Secret is not found in the request headers."
        )
    if not hmac.compare_digest(sent.encode(), identity_header.encode()):
        return _service_fabric_error(404, "ManagedIdentityNotFound", "Unknown authentication code.")
    if params.get("api-version") != SERVICE_FABRIC_API_VERSION:
        return _service_fabric_error(
            400, "InvalidApiVersion", f"api-version must be {SERVICE_FABRIC_API_VERSION}."
        )
    resource = (params.get("resource") or "").strip()
    if not resource:
        return _service_fabric_error(400, "ArgumentNullOrEmpty", "resource is null or empty.")
    digest = params.get("token_sha256_to_refresh")
    if digest is not None and (
        len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest)
    ):
        return _service_fabric_error(
            400, "InvalidParameter", "token_sha256_to_refresh must be a SHA-256 hex digest."
        )
    reply = model.managed_identity_token(resource)
    body = reply.json or {}
    if reply.status != 200 or "access_token" not in body:
        message = str(body.get("error_description") or reply.text or "error")
        code = (
            "ManagedIdentityNotFound" if "not found" in message.lower() else "InternalServerError"
        )
        return _service_fabric_error(reply.status if reply.status >= 400 else 500, code, message)
    expires_on = body.get("expires_on")
    if expires_on is None:
        expires_on = int(clock()) + int(body.get("expires_in", 0))
    converted = {
        "token_type": body.get("token_type", "Bearer"),
        "access_token": body["access_token"],
        "expires_on": int(expires_on),
        "resource": resource,
    }
    return Reply(200, json=converted)


def fault_body(segments: Sequence[str], status: int) -> Optional[dict[str, Any]]:
    """The body of an injected failure on one of the sources added here, in its shape."""
    lowered = [segment.lower() for segment in segments]
    message = "Injected failure (emulator fault)."
    if lowered == _ML:
        return {"statusCode": status, "message": message}
    if lowered == _CLOUD_SHELL:
        return {"error": {"code": "ServiceUnavailable", "message": message}}
    if lowered == _SERVICE_FABRIC:
        code = "InternalServerError" if status >= 500 else "Throttled"
        return {"error": {"correlationId": str(uuid.uuid4()), "code": code, "message": message}}
    if lowered == _ARC:
        return {"error": "temporarily_unavailable", "error_description": message}
    return None


def route(
    model: ManagedIdentityModel,
    method: str,
    segments: Sequence[str],
    params: Mapping[str, str],
    headers: Mapping[str, str],
    identity_header: str,
    clock: Callable[[], float] = time.time,
    *,
    form: Optional[Mapping[str, str]] = None,
) -> Optional[Reply]:
    """The reply for a managed-identity path, or None when the path is not one of them.

    ``segments`` are the path's decoded segments, compared case-insensitively; ``form``
    the url-encoded body (Cloud Shell).
    """
    lowered = [segment.lower() for segment in segments]
    if lowered == ["msi", "token"]:
        if method != "GET":
            return _app_service_error(405, "Only GET is supported.")
        _log(identity_header, "app_service", params, headers)
        return _app_service_token(model, params, headers, identity_header, clock)
    if lowered == _ML:
        if method != "GET":
            return _app_service_error(405, "Only GET is supported.")
        _log(identity_header, "machine_learning", params, headers)
        return _machine_learning_token(model, params, headers, identity_header, clock)
    if lowered == _CLOUD_SHELL:
        _log(identity_header, "cloud_shell", form or {}, headers)
        return _cloud_shell_token(model, method, form or {}, headers)
    if lowered == _SERVICE_FABRIC:
        _log(identity_header, "service_fabric", params, headers)
        return _service_fabric_token(model, method, params, headers, identity_header, clock)
    if lowered == _ARC:
        if method != "GET":
            return _imds_error(405, "invalid_request", "Only GET is supported.")
        if not _has_metadata_header(headers):
            return _imds_error(400, "invalid_request", "Required metadata header not specified")
        _log(identity_header, "azure_arc", params, headers)
        return _arc_token(model, params, headers, identity_header)
    if lowered[:1] != ["metadata"] or len(lowered) < 2:
        return None
    if lowered[1:] == ["identity", "oauth2", "token"]:
        kind = "token"
    elif lowered[1] == "instance":
        kind = "instance"
    else:
        return None
    if method != "GET":
        return _imds_error(405, "invalid_request", "Only GET is supported.")
    if not _has_metadata_header(headers):
        return _imds_error(400, "invalid_request", "Required metadata header not specified")
    if kind == "token":
        _log(identity_header, "imds", params, headers)
        return _imds_token(model, params)
    return _compute(lowered[2:], params)
