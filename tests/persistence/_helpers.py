"""Helpers shared by the persistent cache tests."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from identitylib._persistence import PersistedTokenCache

from ._workers import app_event

TENANT = "11111111-2222-3333-4444-555555555555"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"

__all__ = ["AUTHORITY", "TENANT", "FakeHttp", "add_token", "app_event", "at_secrets", "stored"]


def stored(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The cache file, parsed."""
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def at_secrets(path: str | os.PathLike[str]) -> set[str]:
    """The secrets of the access tokens in the cache file."""
    return {entry["secret"] for entry in stored(path).get("AccessToken", {}).values()}


class _Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.status_code = 200
        self.text = json.dumps(body)
        self.headers: dict[str, str] = {}

    def raise_for_status(self) -> None:
        pass


class FakeHttp:
    """An MSAL-style http_client: OIDC discovery, then token POSTs from a queue."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.posts = 0

    def get(self, url: str, **kwargs: Any) -> _Response:
        base = url.split("/v2.0/")[0]
        return _Response(
            {
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "issuer": f"{base}/v2.0",
            }
        )

    def post(self, url: str, **kwargs: Any) -> _Response:
        if not self.tokens:
            pytest.fail(f"unexpected token request to {url}")
        self.posts += 1
        return _Response(
            {"access_token": self.tokens.pop(0), "token_type": "Bearer", "expires_in": 3599}
        )

    def close(self) -> None:
        pass


def add_token(cache: PersistedTokenCache, name: str, **kwargs: Any) -> None:
    """Add an app token whose scope and secret are derived from ``name``."""
    cache.add(app_event(f"api://{name}/.default", name), **kwargs)
