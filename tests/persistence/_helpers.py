"""Helpers shared by the persistent cache tests."""

from __future__ import annotations

import json
import os
from typing import Any

import requests

from identitylib._persistence import PersistedTokenCache
from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator

from ._workers import app_event

TENANT = "11111111-2222-3333-4444-555555555555"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"

__all__ = ["AUTHORITY", "TENANT", "Idp", "add_token", "app_event", "at_secrets", "stored"]


def stored(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The cache file, parsed."""
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def at_secrets(path: str | os.PathLike[str]) -> set[str]:
    """The secrets of the access tokens in the cache file."""
    return {entry["secret"] for entry in stored(path).get("AccessToken", {}).values()}


class Idp:
    """The session's TLS emulator as the application tests here use it (msal needs https).

    ``app_kwargs()`` are the constructor arguments of a daemon app on it, for identitylib and
    msal alike; ``token_posts()`` counts the token requests the emulator has answered.
    """

    SCOPES = [f"{DEMO_API_URI}/.default"]

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def app_kwargs(self) -> dict[str, Any]:
        """For identitylib: it passes ``verify=`` with each request."""
        return {
            "client_id": DEMO_DAEMON_ID,
            "client_credential": DEMO_DAEMON_SECRET,
            "authority": self.emu.authority(),
            "verify": self.emu.ca_path or True,
            "instance_discovery": False,
        }

    def msal_kwargs(self) -> dict[str, Any]:
        """For msal: its requests go through a session that trusts the emulator's CA."""
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would override the CA below
        session.verify = self.emu.ca_path or True
        kwargs = {**self.app_kwargs(), "http_client": session}
        del kwargs["verify"]  # msal would hand verify=True to the session with each request
        return kwargs

    def token_posts(self) -> int:
        return sum(
            1 for method, path in self.emu.requests if (method, path[-6:]) == ("POST", "/token")
        )


def add_token(cache: PersistedTokenCache, name: str, **kwargs: Any) -> None:
    """Add an app token whose scope and secret are derived from ``name``."""
    cache.add(app_event(f"api://{name}/.default", name), **kwargs)
