"""A desktop app that signs the user in with the system browser, then uses the cache.

``acquire_token`` is the one call a desktop app needs: silent for the signed-in account,
else an interactive sign-in in the browser (PKCE, a loopback redirect on a free port), or
the device code flow where no browser can open. The second call is served from the cache.

Run it against a self-contained emulator::

    python examples/desktop_interactive.py --emulator

Your browser opens the emulator's sign-in page: sign in as alice@contoso.onmicrosoft.com
with the password alice-password. Where no browser can open (SSH, CI), the emulator's
scripted user signs in at the address instead. Without ``--emulator`` the app talks to a
running ``identitylib emulator --port 8400`` (the default) or, through the environment,
to Entra ID:

    IDENTITYLIB_AUTHORITY   default http://127.0.0.1:8400/<emulator demo tenant>
    IDENTITYLIB_CLIENT_ID   a public client with the redirect URI http://localhost
    IDENTITYLIB_SCOPE       default api://demo-api/access_as_user
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any, Callable, Optional

import identitylib as msal
from identitylib.emulator import DEMO_DESKTOP_ID, DEMO_TENANT_ID, Emulator, sign_in

DEFAULT_AUTHORITY = f"http://127.0.0.1:8400/{DEMO_TENANT_ID}"
DEFAULT_SCOPE = "api://demo-api/access_as_user"
DEMO_USER = ("alice@contoso.onmicrosoft.com", "alice-password")


def scripted_user(url: str) -> None:
    """No browser here: the emulator's scripted user signs in at ``url``."""
    print(f"no browser here; the emulator's scripted user signs in at {url[:60]}...")
    threading.Thread(
        target=sign_in, args=(url, *DEMO_USER), kwargs={"deliver": True}, daemon=True
    ).start()


def run(
    authority: str,
    client_id: str,
    scope: str,
    no_browser: Optional[Callable[[str], Any]] = None,
) -> int:
    """Sign in interactively (the browser), then get the token again silently."""
    app = msal.PublicClientApplication(client_id, authority=authority)
    options: dict[str, Any] = {"timeout": 120}
    if no_browser is not None:
        options["auth_uri_callback"] = no_browser
    result = app.acquire_token([scope], use_device_code=False, **options)
    if "access_token" not in result:
        print(f"error: {result.get('error')}: {result.get('error_description')}", file=sys.stderr)
        return 1
    user = result["id_token_claims"].get("preferred_username")
    print(f"signed in as {user}; token from {result['token_source']}")
    again = app.acquire_token([scope])
    print(f"second call: token from {again.get('token_source')}")
    return 0 if again.get("token_source") == "cache" else 1


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="run an in-process emulator")
    args = parser.parse_args(argv)
    if args.emulator:
        with Emulator() as emu:
            return run(emu.authority(), DEMO_DESKTOP_ID, DEFAULT_SCOPE, scripted_user)
    return run(
        os.environ.get("IDENTITYLIB_AUTHORITY", DEFAULT_AUTHORITY),
        os.environ.get("IDENTITYLIB_CLIENT_ID", DEMO_DESKTOP_ID),
        os.environ.get("IDENTITYLIB_SCOPE", DEFAULT_SCOPE),
    )


if __name__ == "__main__":
    raise SystemExit(main())
