"""A daemon that calls an API with an app-only token (client credentials).

Configure it through the environment, then run ``python examples/daemon_client_credentials.py``:

    IDENTITYLIB_AUTHORITY   e.g. https://login.microsoftonline.com/<tenant-id>
    IDENTITYLIB_CLIENT_ID   the app's client id
    IDENTITYLIB_SECRET      the app's client secret
    IDENTITYLIB_SCOPE       e.g. https://graph.microsoft.com/.default

The second acquisition is served from the token cache without a request.
"""

from __future__ import annotations

import os
import sys

import identitylib as msal


def main() -> int:
    """Acquire a token twice and report where each came from."""
    try:
        authority = os.environ["IDENTITYLIB_AUTHORITY"]
        client_id = os.environ["IDENTITYLIB_CLIENT_ID"]
        secret = os.environ["IDENTITYLIB_SECRET"]
        scope = os.environ["IDENTITYLIB_SCOPE"]
    except KeyError as missing:
        print(f"Set {missing.args[0]} (see the docstring of this file)", file=sys.stderr)
        return 2
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=secret, authority=authority
    )
    for attempt in (1, 2):
        result = app.acquire_token_for_client(scopes=[scope])
        if "access_token" not in result:
            print(f"error: {result['error']}: {result.get('error_description')}", file=sys.stderr)
            return 1
        source, lifetime = result["token_source"], result["expires_in"]
        print(f"attempt {attempt}: token from {source}, expires in {lifetime} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
