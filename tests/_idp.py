"""Apps on the emulator as the tests use them: the token requests it answered, and a
daemon app on the session's TLS emulator, for identitylib and msal alike."""

from __future__ import annotations

from typing import Any

import requests

from identitylib.emulator import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, Emulator


def token_posts(emu: Emulator) -> int:
    """The token requests ``emu`` has answered since its request log was last reset."""
    return sum(1 for method, path in emu.requests if method == "POST" and path.endswith("/token"))


class Idp:
    """The session's TLS emulator as the daemon-app tests use it (msal needs https).

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
        return token_posts(self.emu)
