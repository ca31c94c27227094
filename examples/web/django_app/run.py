"""A Django site that signs users in with identitylib.web.django and calls an API for them.

* ``/auth/login``, ``/auth/redirect``, ``/auth/logout``: the routes of
  ``identitylib.web.django.urls`` (auth code flow with PKCE, ``form_post``, a new session
  key at sign-in, sign-out by POST with Django's CSRF token);
* ``/call-api`` (``login_required``): a token for the signed-in user from
  ``token_for_user``, sent to ``/api/me``;
* ``/api/me``: a protected API view (``require(scopes=["access_as_user"])``).

Run it with a self-contained emulator, then open http://localhost:8000 and sign in as
alice@contoso.onmicrosoft.com / alice-password::

    pip install 'identitylib[django]'
    python examples/web/django_app/run.py --emulator

Without ``--emulator`` it talks to a running ``identitylib emulator --port 8400`` (the
default) or, through the environment, to Entra ID (see settings.py):
IDENTITYLIB_AUTHORITY, IDENTITYLIB_CLIENT_ID, IDENTITYLIB_SECRET (the web app, with the
redirect URI http://localhost:8000/auth/redirect), IDENTITYLIB_SCOPE, IDENTITYLIB_API_ID,
DJANGO_SECRET_KEY.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Optional


def serve(port: int) -> None:
    """Serve the site on 127.0.0.1:``port`` (0: any free port) until interrupted."""
    import django
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    django.setup()
    call_command("check")  # identitylib's checks: middleware order, cookie settings
    server = ThreadedWSGIServer(("127.0.0.1", port), WSGIRequestHandler)
    server.set_app(WSGIHandler())
    print(f"serving at http://localhost:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="run an in-process emulator")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the django_app package
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")
    with ExitStack() as stack:
        if args.emulator:
            from identitylib.emulator import Emulator

            emu = stack.enter_context(Emulator())
            os.environ["IDENTITYLIB_AUTHORITY"] = emu.authority()
            print(f"emulator at {emu.authority()}; sign in as alice@contoso.onmicrosoft.com")
        with suppress(KeyboardInterrupt):
            serve(args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
