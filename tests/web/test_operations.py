"""The web operations driven with fake applications: the paths a live provider rarely takes."""

from __future__ import annotations

from typing import Any, Optional

import requests

from identitylib.web import MemorySignInStore
from identitylib.web._operations import sign_out
from identitylib.web._session import USER_KEY
from identitylib.web._steps import run_sync


class Unreachable:
    """An application whose provider cannot be discovered; it records removed accounts."""

    def __init__(self) -> None:
        self.removed: list[dict[str, Any]] = []

    @property
    def authority(self) -> Any:
        raise requests.exceptions.ConnectionError("discovery failed")

    def remove_account(self, account: dict[str, Any]) -> None:
        self.removed.append(account)


def test_sign_out_without_the_provider_still_signs_out_of_the_app() -> None:
    app = Unreachable()
    session: dict[str, Any] = {
        USER_KEY: {"account": {"home_account_id": "uid.tid"}, "claims": {"name": "Alice"}},
        "other": "kept by the adapter's own clearing",
    }

    def apps(user_flow: Optional[str]) -> Any:
        return app

    url = run_sync(
        sign_out(session, client_id="c", post_logout_redirect_uri="https://app.example/"),
        apps,
        MemorySignInStore(),
    )
    assert url == "https://app.example/"  # home, not the provider
    assert USER_KEY not in session
    assert app.removed == [{"home_account_id": "uid.tid"}]  # the tokens are gone too
