"""A token cache shared through Redis by every process and machine of a service.

``identitylib.RedisTokenCache`` keeps each partition of the cache (one app's app-only
tokens, one user's tokens, the tokens obtained on behalf of one caller) under its own
Redis key, with a short-lived in-process first level, and merges concurrent writes. When
Redis is down the app keeps working from memory (and asks the identity provider).

This example acquires an app-only token with one application object, then gets the same
token from Redis with a second application object and a second cache (as another process
or machine would), without any request to the identity provider::

    pip install "identitylib[redis]"
    python examples/redis_cache.py --emulator             # an in-process emulator

Without ``--emulator`` it talks to a running ``identitylib emulator --port 8400`` (the
default) or, through the environment, to Entra ID:

    IDENTITYLIB_REDIS_URL   default redis://localhost:6379/0
    IDENTITYLIB_AUTHORITY   default http://127.0.0.1:8400/<emulator demo tenant>
    IDENTITYLIB_CLIENT_ID   a confidential client (default: the emulator's demo daemon)
    IDENTITYLIB_SECRET      its client secret
    IDENTITYLIB_SCOPE       default api://demo-api/.default
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from typing import Optional

import identitylib as msal
from identitylib.emulator import (
    DEMO_API_URI,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_ID,
    Emulator,
)

DEFAULT_AUTHORITY = f"http://127.0.0.1:8400/{DEMO_TENANT_ID}"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"


def run(authority: str, client_id: str, secret: str, scope: str, redis_url: str) -> int:
    """One token from the identity provider, then the same one from Redis."""
    prefix = f"identitylib-example-{uuid.uuid4().hex[:8]}:"  # keys of this run only
    sources = []
    for worker in ("worker 1", "worker 2"):
        cache = msal.RedisTokenCache(url=redis_url, prefix=prefix)
        app = msal.ConfidentialClientApplication(
            client_id, client_credential=secret, authority=authority, token_cache=cache
        )
        result = app.acquire_token_for_client([scope])
        if "access_token" not in result:
            print(f"error: {result.get('error')}: {result.get('error_description')}")
            return 1
        sources.append(result["token_source"])
        print(f"{worker}: token from {result['token_source']}")
    if sources != ["identity_provider", "cache"]:
        print("the second worker did not find the token in Redis (is Redis running?)")
        return 1
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="run an in-process emulator")
    args = parser.parse_args(argv)
    env = os.environ
    redis_url = env.get("IDENTITYLIB_REDIS_URL", DEFAULT_REDIS_URL)
    if args.emulator:
        with Emulator() as emu:
            scope = f"{DEMO_API_URI}/.default"
            return run(emu.authority(), DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, scope, redis_url)
    return run(
        env.get("IDENTITYLIB_AUTHORITY", DEFAULT_AUTHORITY),
        env.get("IDENTITYLIB_CLIENT_ID", DEMO_DAEMON_ID),
        env.get("IDENTITYLIB_SECRET", DEMO_DAEMON_SECRET),
        env.get("IDENTITYLIB_SCOPE", f"{DEMO_API_URI}/.default"),
        redis_url,
    )


if __name__ == "__main__":
    sys.exit(main())
