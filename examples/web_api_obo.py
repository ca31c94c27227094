"""A protected web API that calls a downstream API on behalf of its caller (OBO).

``GET /me`` needs ``Authorization: Bearer <token>``, a token for this API with the scope
``access_as_user``. The API validates it with :mod:`identitylib.validation` (401 or 403
with ``WWW-Authenticate`` when it is not acceptable), exchanges it for a Microsoft Graph
token on behalf of the same user, and answers with who called and whether that downstream
token came from the token cache. Standard library only; serves on 127.0.0.1.

Try it against the emulator (its demo world is the default configuration)::

    identitylib emulator --port 8400                  # terminal 1
    python examples/web_api_obo.py --port 8000        # terminal 2
    TOKEN=$(python - <<'EOF'
    import identitylib
    from identitylib.emulator import DEMO_CLI_ID, DEMO_TENANT_ID
    app = identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=f"http://127.0.0.1:8400/{DEMO_TENANT_ID}")
    print(app.acquire_token_by_username_password(
        "alice@contoso.onmicrosoft.com", "alice-password",
        ["api://demo-api/access_as_user"])["access_token"])
    EOF
    )
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/me

Configuration (environment; defaults are the emulator's demo web API on port 8400):

    IDENTITYLIB_AUTHORITY         the API's tenant, e.g. https://login.microsoftonline.com/<tenant>
    IDENTITYLIB_CLIENT_ID         the API's client id
    IDENTITYLIB_SECRET            the API's client secret
    IDENTITYLIB_API_URI           the API's App ID URI (the audience of v1 tokens)
    IDENTITYLIB_DOWNSTREAM_SCOPE  default https://graph.microsoft.com/User.Read
    IDENTITYLIB_CA_BUNDLE         a CA file to trust (``identitylib emulator --tls``)

``--port 0`` takes a free port; the URL is printed.
"""

from __future__ import annotations

import argparse
import base64
import http
import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any, Callable, Optional, Union
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import identitylib
from identitylib.emulator import DEMO_API_ID, DEMO_API_SECRET, DEMO_API_URI, DEMO_TENANT_ID
from identitylib.validation import AccessTokenValidator, TokenValidationError

HOST = "127.0.0.1"
REQUIRED_SCOPE = "access_as_user"
DEFAULT_AUTHORITY = f"http://{HOST}:8400/{DEMO_TENANT_ID}"
DEFAULT_DOWNSTREAM_SCOPE = "https://graph.microsoft.com/User.Read"

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Settings:
    """What the API needs to know: its identity, its tenant and the downstream API."""

    authority: str
    client_id: str
    client_secret: str
    app_id_uri: str
    downstream_scope: str
    verify: Union[str, bool] = True

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] = os.environ, authority: Optional[str] = None
    ) -> Settings:
        return cls(
            authority=authority or environ.get("IDENTITYLIB_AUTHORITY", DEFAULT_AUTHORITY),
            client_id=environ.get("IDENTITYLIB_CLIENT_ID", DEMO_API_ID),
            client_secret=environ.get("IDENTITYLIB_SECRET", DEMO_API_SECRET),
            app_id_uri=environ.get("IDENTITYLIB_API_URI", DEMO_API_URI),
            downstream_scope=environ.get("IDENTITYLIB_DOWNSTREAM_SCOPE", DEFAULT_DOWNSTREAM_SCOPE),
            verify=environ.get("IDENTITYLIB_CA_BUNDLE") or True,
        )


class WebApi:
    """The WSGI application: one validator and one confidential client per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.validator = AccessTokenValidator(
            settings.authority,
            audience=[settings.client_id, settings.app_id_uri],
            required_scopes=[REQUIRED_SCOPE],
            verify=settings.verify,
        )
        # Its token cache keeps the downstream tokens, keyed by the incoming token.
        self.client = identitylib.ConfidentialClientApplication(
            settings.client_id,
            client_credential=settings.client_secret,
            authority=settings.authority,
            verify=settings.verify,
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/me":
            return _reply(start_response, 404, {"error": "not_found"})
        if environ.get("REQUEST_METHOD") != "GET":
            return _reply(start_response, 405, {"error": "method_not_allowed"}, [("Allow", "GET")])
        try:
            claims = self.validator.validate_bearer_header(environ.get("HTTP_AUTHORIZATION"))
        except TokenValidationError as rejected:
            error = {"error": rejected.error, "error_description": rejected.description}
            challenge = [("WWW-Authenticate", rejected.www_authenticate)]
            return _reply(start_response, rejected.status_code, error, challenge)
        user_token = environ["HTTP_AUTHORIZATION"].split(None, 1)[1].strip()
        result = self.client.acquire_token_on_behalf_of(
            user_assertion=user_token, scopes=[self.settings.downstream_scope]
        )
        if "access_token" not in result:
            return self._downstream_failure(start_response, result)
        body: dict[str, Any] = {
            "name": claims.get("name"),
            "oid": claims.get("oid"),
            "preferred_username": claims.get("preferred_username"),
            "tenant_id": claims.get("tid"),
            "downstream": {
                "scope": self.settings.downstream_scope,
                "token_source": result.get("token_source"),
                "from_cache": result.get("token_source") == "cache",
                "expires_in": result.get("expires_in"),
            },
        }
        return _reply(start_response, 200, body)

    def _downstream_failure(
        self, start_response: StartResponse, result: Mapping[str, Any]
    ) -> Iterable[bytes]:
        body = {"error": result.get("error"), "error_description": result.get("error_description")}
        claims = result.get("claims")
        if result.get("error") == "interaction_required" and isinstance(claims, str):
            # A claims challenge (MFA, conditional access): hand it to the client (§12.1).
            encoded = base64.b64encode(claims.encode()).decode()
            authorize = f"{self.settings.authority.rstrip('/')}/oauth2/v2.0/authorize"
            challenge = (
                f'Bearer realm="", authorization_uri="{authorize}", '
                f'error="insufficient_claims", claims="{encoded}"'
            )
            return _reply(start_response, 401, body, [("WWW-Authenticate", challenge)])
        return _reply(start_response, 502, body)


def _reply(
    start_response: StartResponse,
    status: int,
    body: Mapping[str, Any],
    headers: Optional[list[tuple[str, str]]] = None,
) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        f"{status} {http.HTTPStatus(status).phrase}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"),
            *(headers or []),
        ],
    )
    return [payload]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # The request line only: headers (and so tokens) are never logged.
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def create_server(settings: Settings, port: int) -> WSGIServer:
    """The API bound to 127.0.0.1:``port`` (0 = a free port), not yet serving."""
    return make_server(
        HOST, port, WebApi(settings), server_class=_ThreadingServer, handler_class=_Handler
    )


def main(
    argv: Optional[list[str]] = None, *, on_ready: Optional[Callable[[WSGIServer], None]] = None
) -> int:
    """Serve until Ctrl+C (or ``server.shutdown()`` from ``on_ready``'s caller)."""
    parser = argparse.ArgumentParser(description="A web API calling Graph on behalf of its user")
    parser.add_argument("--port", type=int, default=8000, help="0 = any free port")
    parser.add_argument("--authority", help="overrides IDENTITYLIB_AUTHORITY")
    args = parser.parse_args(argv)
    settings = Settings.from_env(authority=args.authority)
    server = create_server(settings, args.port)
    print(f"Serving http://{HOST}:{server.server_port}/me (tokens of {settings.authority})")
    sys.stdout.flush()
    if on_ready is not None:
        on_ready(server)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
