"""The Redis tests' apps and their emulator world: two tenants, one daemon app, and an API
answering to every scope the tests ask for (``api://backend``, ``api://t3-7``, ...).

Processes other than the test's (``_worker.py``) reach the emulator by its base URL.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import identitylib
from identitylib.emulator import App, EmulatorConfig, Tenant

TENANT_A = "aaaaaaaa-0000-4000-8000-00000000000a"
TENANT_B = "bbbbbbbb-0000-4000-8000-00000000000b"
CLIENT_ID = "c1d0ed15-0000-4000-8000-0000000000c1"
CLIENT_SECRET = "redis-daemon-secret"
API_ID = "c1d0ed15-0000-4000-8000-0000000000a1"

#: The thread test's grid (threads x scopes each) and the process test's (processes x
#: threads x scopes each): every scope in them is one of the API's identifier URIs.
THREAD_GRID = (8, 20)
PROCESS_GRID = (4, 4, 15)
NAMED = ("backend", "other", "one", "two", "three")


def thread_scope(thread: int, n: int) -> str:
    return f"api://t{thread}-{n}/.default"


def process_scope(process: int, thread: int, n: int) -> str:
    return f"api://p{process}-t{thread}-{n}/.default"


def _scopes() -> list[str]:
    threads, per_thread = THREAD_GRID
    processes, workers, per_worker = PROCESS_GRID
    return [
        *(f"api://{name}/.default" for name in NAMED),
        *(thread_scope(t, n) for t in range(threads) for n in range(per_thread)),
        *(
            process_scope(p, t, n)
            for p in range(processes)
            for t in range(workers)
            for n in range(per_worker)
        ),
    ]


def redis_world() -> EmulatorConfig:
    """The demo world plus the two tenants, the daemon app and the API (v1 tokens, whose
    ``aud`` names the scope's resource: each token shows which scope it was issued for)."""
    config = EmulatorConfig.default()
    config.tenants += [Tenant(TENANT_A, ["redis-a.example"]), Tenant(TENANT_B, ["redis-b.example"])]
    config.apps.append(App(CLIENT_ID, "redis-daemon", secrets=[CLIENT_SECRET]))
    identifier_uris = [scope[: -len("/.default")] for scope in _scopes()]
    config.apps.append(
        App(
            API_ID,
            "redis-api",
            identifier_uris=identifier_uris,
            app_roles=["Data.Read"],
            access_token_version=1,  # v1 tokens: aud is the identifier URI asked for
        )
    )
    return config


def audience(access_token: str) -> str:
    """The ``aud`` claim of an access token (a JWT; its signature is not checked here)."""
    payload = access_token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return str(claims["aud"])


def resource(scope: str) -> str:
    """The resource a ``{resource}/.default`` scope names: the audience of its tokens."""
    return scope[: -len("/.default")]


def make_app(
    cache: Any, base_url: str, tenant: str = TENANT_A
) -> identitylib.ConfidentialClientApplication:
    return identitylib.ConfidentialClientApplication(
        CLIENT_ID, CLIENT_SECRET, authority=f"{base_url}/{tenant}", token_cache=cache
    )


def app_key(tenant: str, prefix: str = "identitylib:") -> str:
    return f"{prefix}partition:{CLIENT_ID}_{tenant}_AppTokenCache"
