"""A FastAPI web API that validates tokens and calls downstream on behalf of the user.

``GET /me`` needs ``Authorization: Bearer <token>`` for this API with the scope
``access_as_user``. The token is validated with ``identitylib.validation`` (401/403 with
``WWW-Authenticate`` when it is not acceptable). The API then gets a token for the
downstream API *on behalf of* the caller (the OBO flow; cached per incoming token) and,
when ``IDENTITYLIB_DOWNSTREAM_URL`` is set, calls it with ``httpx`` and the adapter
``HttpxBearerAuth``. A downstream ``interaction_required`` (e.g. Conditional Access)
becomes a 401 whose ``WWW-Authenticate`` carries the claims challenge for the caller.

Run it with a self-contained emulator (it prints a token to try it with)::

    pip install fastapi uvicorn
    python examples/fastapi_web_api.py --emulator

Without ``--emulator`` it talks to a running ``identitylib emulator --port 8400`` (the
default) or, through the environment, to Entra ID:

    IDENTITYLIB_AUTHORITY         default http://127.0.0.1:8400/<emulator demo tenant>
    IDENTITYLIB_CLIENT_ID         this API's client id
    IDENTITYLIB_SECRET            its client secret
    IDENTITYLIB_API_URI           its App ID URI (an accepted audience)
    IDENTITYLIB_DOWNSTREAM_SCOPE  default https://graph.microsoft.com/User.Read
    IDENTITYLIB_DOWNSTREAM_URL    a downstream API to call (default: none)
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Optional

import httpx
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

import identitylib as msal
from identitylib.emulator import DEMO_API_ID, DEMO_API_SECRET, DEMO_API_URI, DEMO_TENANT_ID
from identitylib.validation import AccessTokenValidator, TokenValidationError

DEFAULT_AUTHORITY = f"http://127.0.0.1:8400/{DEMO_TENANT_ID}"
DEFAULT_DOWNSTREAM_SCOPE = "https://graph.microsoft.com/User.Read"


@dataclass
class Settings:
    authority: str = DEFAULT_AUTHORITY
    client_id: str = DEMO_API_ID
    client_secret: str = DEMO_API_SECRET
    app_id_uri: str = DEMO_API_URI
    downstream_scope: str = DEFAULT_DOWNSTREAM_SCOPE
    downstream_url: Optional[str] = None

    @classmethod
    def from_env(cls, authority: Optional[str] = None) -> Settings:
        env = os.environ
        return cls(
            authority=authority or env.get("IDENTITYLIB_AUTHORITY", DEFAULT_AUTHORITY),
            client_id=env.get("IDENTITYLIB_CLIENT_ID", DEMO_API_ID),
            client_secret=env.get("IDENTITYLIB_SECRET", DEMO_API_SECRET),
            app_id_uri=env.get("IDENTITYLIB_API_URI", DEMO_API_URI),
            downstream_scope=env.get("IDENTITYLIB_DOWNSTREAM_SCOPE", DEFAULT_DOWNSTREAM_SCOPE),
            downstream_url=env.get("IDENTITYLIB_DOWNSTREAM_URL") or None,
        )


def _error(status: int, error: str, description: str, challenge: str = "") -> JSONResponse:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application for ``settings``."""
    api = FastAPI(title="identitylib FastAPI example")
    validator = AccessTokenValidator(
        settings.authority,
        audience=[settings.client_id, settings.app_id_uri],
        required_scopes=["access_as_user"],
    )
    # One confidential client per process: its cache keeps the OBO tokens per caller.
    client = msal.ConfidentialClientApplication(
        settings.client_id, client_credential=settings.client_secret, authority=settings.authority
    )

    @api.get("/me")
    def me(authorization: Optional[str] = Header(default=None)) -> Any:
        try:
            claims = validator.validate_bearer_header(authorization)
        except TokenValidationError as rejected:
            return _error(
                rejected.status_code,
                rejected.error,
                rejected.description,
                rejected.www_authenticate,
            )
        assert authorization is not None
        user_token = authorization.split(None, 1)[1].strip()
        result = client.acquire_token_on_behalf_of(user_token, [settings.downstream_scope])
        if "access_token" not in result:
            if result.get("error") == "interaction_required" and result.get("claims"):
                challenge = msal.claims_challenge_header(result["claims"])
                return _error(401, "interaction_required", "step-up needed", challenge)
            return _error(502, result.get("error", "downstream"), "no downstream token")
        body: dict[str, Any] = {
            "preferred_username": claims.get("preferred_username"),
            "oid": claims.get("oid"),
            "downstream": {
                "scope": settings.downstream_scope,
                "token_source": result.get("token_source"),
            },
        }
        if settings.downstream_url:
            from identitylib.integrations.httpx_auth import HttpxBearerAuth

            # The adapter gets the token on behalf of the caller (from the cache here).
            auth = HttpxBearerAuth(client, [settings.downstream_scope], user_assertion=user_token)
            answer = httpx.get(settings.downstream_url, auth=auth, timeout=10)
            body["downstream"]["status"] = answer.status_code
        return body

    return api


def _demo_token(authority: str) -> str:
    """A token for this API, as a client app would get it (the demo user's password)."""
    from identitylib.emulator import DEMO_CLI_ID

    public = msal.PublicClientApplication(DEMO_CLI_ID, authority=authority)
    result = public.acquire_token_by_username_password(
        "alice@contoso.onmicrosoft.com", "alice-password", [f"{DEMO_API_URI}/access_as_user"]
    )
    return str(result["access_token"])


def main(argv: Optional[list[str]] = None) -> int:
    import uvicorn

    from identitylib.emulator import Emulator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="run an in-process emulator")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if args.emulator:
        with Emulator() as emu:
            token = _demo_token(emu.authority())
            print(f'try: curl -H "Authorization: Bearer {token}" http://127.0.0.1:{args.port}/me')
            uvicorn.run(create_app(Settings.from_env(emu.authority())), port=args.port)
        return 0
    uvicorn.run(create_app(Settings.from_env()), port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
