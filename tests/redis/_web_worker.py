"""One process of a Flask web app whose token cache and pending sign-ins live in Redis.

``python -m tests.redis._web_worker REDIS_URL AUTHORITY``: serves the app on a free
loopback port, prints ``ready <port>``, and runs until its stdin closes.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import flask
import redis
from werkzeug.serving import make_server

from identitylib import RedisTokenCache
from identitylib.emulator import DEMO_API_URI, DEMO_WEB_ID, DEMO_WEB_SECRET
from identitylib.web import RedisSignInStore
from identitylib.web.flask import FlaskAuth

API_SCOPE = f"{DEMO_API_URI}/access_as_user"
SECRET_KEY = "shared-by-every-process-of-the-app"


def build(redis_url: str, authority: str) -> flask.Flask:
    app = flask.Flask(__name__)
    app.secret_key = SECRET_KEY
    auth = FlaskAuth(
        app,
        client_id=DEMO_WEB_ID,
        client_credential=DEMO_WEB_SECRET,
        authority=authority,
        scopes=[API_SCOPE],
        token_cache=RedisTokenCache(url=redis_url, prefix="web-test:"),
        sign_in_store=RedisSignInStore(redis.Redis.from_url(redis_url)),
    )

    @app.get("/orders")
    @auth.login_required
    def orders() -> Any:
        token = auth.token_for_user([API_SCOPE])
        user = auth.user
        return {
            "user": user.username if user else None,
            "token_source": token.get("token_source"),
        }

    return app


def main() -> None:
    redis_url, authority = sys.argv[1], sys.argv[2]
    server = make_server("127.0.0.1", 0, build(redis_url, authority), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready {server.server_port}", flush=True)
    sys.stdin.read()  # until the test closes the pipe
    server.shutdown()


if __name__ == "__main__":
    main()
