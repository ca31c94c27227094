"""Azure Arc-enabled servers: a challenge answered with a local key file.

The agent answers the first request with 401 and ``WWW-Authenticate: Basic
realm=<path of a key file>``; only privileged users can read that file, which proves the
caller runs on the machine with enough rights. The request is repeated with
``Authorization: Basic <file contents>``.

A hostile process listening on the agent's port could name any file, so the path is
checked before anything is read: it must be an absolute path of a ``.key`` file directly
in the agent's token directory for this platform (:data:`ARC_TOKEN_DIRECTORIES`), must
still be inside it once symbolic links are resolved, must be a regular file and at most
4 KB. Anything else raises ``ManagedIdentityError`` (``ArcPlatformNotSupportedError`` on
platforms other than Linux and Windows), as msal does.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
import stat
from typing import Any, Optional

from identitylib._log import get_logger, hide
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse

from ._context import FlowContext
from ._errors import ArcPlatformNotSupportedError, ManagedIdentityError
from ._identities import CLIENT_ID, OBJECT_ID, RESOURCE_ID
from ._response import Outcome, clip, json_body, malformed, normalise_token, not_json
from ._sources import ArcConfig

logger = get_logger(__name__)

API_VERSION = "2020-06-01"
SELECTORS = {CLIENT_ID: "client_id", RESOURCE_ID: "msi_res_id", OBJECT_ID: "object_id"}
NAME = "Azure Arc"
#: Largest key file read, in bytes.
MAX_KEY_FILE_SIZE = 4096
#: The agent's token directory per ``sys.platform`` (``%ProgramData%`` is expanded).
#: Tests point it elsewhere with ``monkeypatch.setitem(ARC_TOKEN_DIRECTORIES, ...)``.
ARC_TOKEN_DIRECTORIES: dict[str, str] = {
    "linux": "/var/opt/azcmagent/tokens",
    "win32": r"%ProgramData%\AzureConnectedMachineAgent\Tokens",
}

_CHALLENGE = re.compile(r'^\s*basic\s+realm\s*=\s*(?:"([^"]*)"|(\S.*?))\s*$', re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def token_directory(platform: str) -> str:
    """The token directory of ``platform``; ArcPlatformNotSupportedError if there is none."""
    directory = ARC_TOKEN_DIRECTORIES.get(platform)
    if not directory:
        raise ArcPlatformNotSupportedError(f"Platform {platform} was undefined and unsupported")
    program_data = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
    return directory.replace("%ProgramData%", program_data)


def challenge_realm(response: HttpResponse) -> str:
    """The key file path of a ``Basic realm=...`` challenge; ManagedIdentityError if none."""
    header = response.headers.get("www-authenticate", "")
    match = _CHALLENGE.match(header)
    realm = (match.group(1) if match.group(1) is not None else match.group(2)) if match else ""
    if not realm:
        raise ManagedIdentityError(
            f"Unrecognizable WWW-Authenticate header from Azure Arc: {clip(header)!r}"
        )
    return realm


def key_file_path(realm: str, platform: str) -> tuple[str, str]:
    """(the key file path, the token directory) after checking the realm names a
    ``.key`` file directly inside the token directory; ManagedIdentityError otherwise."""
    directory = token_directory(platform)
    paths: Any = ntpath if platform == "win32" else posixpath
    if not paths.isabs(realm):
        raise ManagedIdentityError(f"Azure Arc named a key file by a relative path: {realm!r}")
    path = paths.normpath(realm)
    parent, name = paths.split(path)
    if paths.normcase(parent) != paths.normcase(paths.normpath(directory)):
        raise ManagedIdentityError(
            f"Azure Arc named a key file outside its token directory {directory}: {realm!r}"
        )
    stem, extension = paths.splitext(name)
    if not stem or extension.lower() != ".key":
        raise ManagedIdentityError(f"Azure Arc named a file that is not a .key file: {realm!r}")
    return path, directory


def _inside(path: str, directory: str) -> bool:
    try:
        return os.path.commonpath([path, directory]) == directory and path != directory
    except ValueError:  # different drives (Windows)
        return False


def read_key_file(path: str, directory: str) -> bytes:
    """Read a key file (at most :data:`MAX_KEY_FILE_SIZE` + 1 bytes) after checking that
    it is a regular file inside ``directory`` even with symbolic links resolved."""
    real = os.path.realpath(path)
    if not _inside(real, os.path.realpath(directory)):
        raise ManagedIdentityError(
            f"The Azure Arc key file {path} resolves outside the token directory"
        )
    try:
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise ManagedIdentityError(f"The Azure Arc key file {path} is not a regular file")
        if info.st_size > MAX_KEY_FILE_SIZE:
            raise ManagedIdentityError("Local key file shall not be larger than 4KB")
        with open(real, "rb") as file:
            return file.read(MAX_KEY_FILE_SIZE + 1)
    except OSError as exc:
        raise ManagedIdentityError(
            f"Cannot read the Azure Arc key file {path}: {exc.strerror or exc}"
        ) from None


def load_key(realm: str, ctx: FlowContext) -> str:
    """The key to send for ``realm`` (checked path, size and content)."""
    path, directory = key_file_path(realm, ctx.platform)
    reader = ctx.read_key_file or read_key_file
    raw = reader(path, directory)
    if len(raw) > MAX_KEY_FILE_SIZE:
        raise ManagedIdentityError("Local key file shall not be larger than 4KB")
    try:
        key = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ManagedIdentityError(f"The Azure Arc key file {path} is not text") from None
    if not key or _CONTROL.search(key):
        raise ManagedIdentityError(f"The Azure Arc key file {path} holds no usable key")
    return hide(key)


def arc_request(config: ArcConfig, ctx: FlowContext, key: Optional[str] = None) -> HttpRequest:
    """``GET {endpoint}?api-version=2020-06-01&resource=...[&selector]``, ``Metadata: true``."""
    params = {"api-version": API_VERSION, "resource": ctx.resource}
    params.update(ctx.identity.selector(SELECTORS))
    headers = {"Metadata": "true"}
    if key is not None:
        headers["Authorization"] = hide(f"Basic {key}")
    return HttpRequest("GET", config.endpoint, params=params, headers=headers)


def check_echo(ctx: FlowContext, body: dict[str, Any]) -> None:
    """ManagedIdentityError unless the answer names the user-assigned identity asked for.

    A legacy agent ignores the selector and returns the system-assigned identity's token.
    """
    identity = ctx.identity
    if not identity.is_user_assigned or identity.id is None:
        return
    if identity.id_type == CLIENT_ID:
        echoed = body.get("client_id")
    elif identity.id_type == OBJECT_ID:
        echoed = body.get("object_id")
    else:
        echoed = body.get("msi_res_id") or body.get("mi_res_id")
    if not echoed or str(echoed).lower() != identity.id.lower():
        raise ManagedIdentityError(
            "Azure Arc did not confirm the requested user-assigned managed identity in the "
            "token response. The agent likely does not support user-assigned managed "
            "identities and returned the system-assigned identity."
        )


def parse_arc(response: HttpResponse, ctx: FlowContext) -> dict[str, Any]:
    """A token (after the echo check), or ``invalid_request`` with the answer's text."""
    body = json_body(response)
    if response.is_success and isinstance(body, dict) and "access_token" in body:
        token = normalise_token(body, now=ctx.now(), resource=ctx.resource)
        if isinstance(token, str):
            return malformed(response, NAME, token)
        check_echo(ctx, body)
        return token
    if response.is_success and not isinstance(body, dict):
        return not_json(response, NAME)
    description = clip(response.text) or f"HTTP {response.status_code}"
    return {"error": "invalid_request", "error_description": description}


def arc_flow(config: ArcConfig, ctx: FlowContext) -> Flow[Outcome]:
    """Challenge, key file, then the token request."""
    first = yield arc_request(config, ctx)
    if first.status_code != 401:
        description = clip(first.text) or f"HTTP {first.status_code}"
        result = {"error": "invalid_request", "error_description": description}
        return Outcome(result, first.status_code, first.headers)
    realm = challenge_realm(first)
    key = load_key(realm, ctx)
    response = yield arc_request(config, ctx, key)
    return Outcome(parse_arc(response, ctx), response.status_code, response.headers)
