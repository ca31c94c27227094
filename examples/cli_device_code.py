"""A command-line tool that signs the user in with a device code, then uses the cache.

The device code flow suits tools without a browser (SSH sessions, containers): the tool
prints a code, the user enters it at a web page on any device, and the tool gets tokens.
The second acquisition is silent, served from the token cache.

Run it against a self-contained emulator (its scripted user enters the code)::

    python examples/cli_device_code.py --emulator

or against a running ``identitylib emulator --port 8400`` (the default) and enter the code
yourself as alice@contoso.onmicrosoft.com / alice-password, or against Entra ID:

    IDENTITYLIB_AUTHORITY   default http://127.0.0.1:8400/<emulator demo tenant>
    IDENTITYLIB_CLIENT_ID   a public client with public client flows allowed
    IDENTITYLIB_SCOPE       default api://demo-api/access_as_user
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any, Callable, Optional

import identitylib as msal
from identitylib.emulator import (
    DEMO_CLI_ID,
    DEMO_TENANT_ID,
    Emulator,
    EmulatorConfig,
    approve_device_code,
)

DEFAULT_AUTHORITY = f"http://127.0.0.1:8400/{DEMO_TENANT_ID}"
DEFAULT_SCOPE = "api://demo-api/access_as_user"
DEMO_USER = ("alice@contoso.onmicrosoft.com", "alice-password")


def show_code(flow: dict[str, Any]) -> None:
    """Tell the user what to do (the flow's message names the page and the code)."""
    print(flow["message"], flush=True)


def scripted_user(flow: dict[str, Any]) -> None:
    """``--emulator``: show the code, and let the emulator's scripted user enter it."""
    show_code(flow)
    threading.Thread(
        target=approve_device_code,
        args=(flow["verification_uri"], flow["user_code"], *DEMO_USER),
        daemon=True,
    ).start()


def run(
    authority: str, client_id: str, scope: str, on_code: Callable[[dict[str, Any]], Any]
) -> int:
    """Sign in with a device code, then get the token again silently."""
    app = msal.PublicClientApplication(client_id, authority=authority)
    result = app.acquire_token([scope], use_device_code=True, device_code_callback=on_code)
    if "access_token" not in result:
        print(f"error: {result.get('error')}: {result.get('error_description')}", file=sys.stderr)
        return 1
    user = result["id_token_claims"].get("preferred_username")
    print(f"signed in as {user}; token from {result['token_source']}")
    again = app.acquire_token([scope])  # silent: the only cached account, from the cache
    print(f"second call: token from {again.get('token_source')}")
    return 0 if again.get("token_source") == "cache" else 1


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="run an in-process emulator")
    args = parser.parse_args(argv)
    if args.emulator:
        config = EmulatorConfig.default()
        config.device_code_interval = 1  # the scripted user is quick: poll every second
        with Emulator(config) as emu:
            return run(emu.authority(), DEMO_CLI_ID, DEFAULT_SCOPE, scripted_user)
    return run(
        os.environ.get("IDENTITYLIB_AUTHORITY", DEFAULT_AUTHORITY),
        os.environ.get("IDENTITYLIB_CLIENT_ID", DEMO_CLI_ID),
        os.environ.get("IDENTITYLIB_SCOPE", DEFAULT_SCOPE),
        show_code,
    )


if __name__ == "__main__":
    raise SystemExit(main())
