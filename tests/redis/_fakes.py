"""A fake identity provider behind MSAL's ``http_client`` interface, and small helpers."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlsplit

import identitylib

TENANT_A = "aaaaaaaa-0000-0000-0000-00000000000a"
TENANT_B = "bbbbbbbb-0000-0000-0000-00000000000b"
CLIENT_ID = "cid-redis"
HOST = "login.microsoftonline.com"


class FakeResponse:
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.text = json.dumps(body)
        self.headers: dict[str, str] = {}


class FakeIdP:
    """Discovery for any tenant; a token named after the requested scope for every POST.

    With ``down=True`` every request fails (an app that must be served from the cache).
    """

    def __init__(self, *, expires_in: int = 3600, down: bool = False) -> None:
        self.expires_in = expires_in
        self.down = down
        self.posts = 0
        self._lock = threading.Lock()

    def get(self, url: str, params: Any = None, headers: Any = None, **kw: Any) -> FakeResponse:
        if self.down:
            raise ConnectionError("the fake identity provider is down")
        tenant = urlsplit(url).path.split("/")[1]
        base = f"https://{HOST}/{tenant}"
        return FakeResponse(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            },
        )

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> FakeResponse:
        if self.down:
            raise ConnectionError("the fake identity provider is down")
        with self._lock:
            self.posts += 1
        scope = dict(data or {}).get("scope", "")
        body = {
            "access_token": f"tok:{scope}",
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        return FakeResponse(200, body)


def make_app(
    cache: Any, idp: FakeIdP, tenant: str = TENANT_A
) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        CLIENT_ID,
        "secret",
        authority=f"https://{HOST}/{tenant}",
        http_client=idp,
        token_cache=cache,
    )


def app_key(tenant: str, prefix: str = "identitylib:") -> str:
    return f"{prefix}partition:{CLIENT_ID}_{tenant}_AppTokenCache"
