"""User tokens through PersistedTokenCache against the emulator: sign in in one process,
use the account in another, rotate the refresh token, sign out everywhere."""

from __future__ import annotations

import warnings
from pathlib import Path

import identitylib
from identitylib._persistence import PersistedTokenCache
from identitylib.emulator import DEMO_CLI_ID, Emulator

from ._helpers import stored

BOB = ("bob@contoso.onmicrosoft.com", "bob-password")
GRAPH = ["User.Read"]


def public_app(emulator: Emulator, path: Path) -> identitylib.PublicClientApplication:
    return identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emulator.authority(), token_cache=PersistedTokenCache(str(path))
    )


def test_user_tokens_are_shared_refreshed_and_removed_through_the_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    first = public_app(emulator, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        signed_in = first.acquire_token_by_username_password(*BOB, GRAPH)
    assert "access_token" in signed_in, signed_in
    (rt_before,) = [e["secret"] for e in stored(path)["RefreshToken"].values()]

    second = public_app(emulator, path)  # Another process, same file.
    (account,) = second.get_accounts()
    assert account["username"] == BOB[0]
    hit = second.acquire_token_silent(GRAPH, account)
    assert hit is not None
    assert (hit["token_source"], hit["access_token"]) == ("cache", signed_in["access_token"])

    refreshed = second.acquire_token_silent(GRAPH, account, force_refresh=True)
    assert refreshed is not None
    assert refreshed["token_source"] == "identity_provider", refreshed
    (rt_after,) = [e["secret"] for e in stored(path)["RefreshToken"].values()]
    assert rt_after != rt_before  # The rotated refresh token reached the file.
    again = first.acquire_token_silent(GRAPH, first.get_accounts()[0])
    assert again is not None
    assert again["access_token"] == refreshed["access_token"]  # first sees second's token.

    first.remove_account(account)
    assert second.get_accounts() == []
    state = stored(path)
    for section in ("AccessToken", "RefreshToken", "IdToken", "Account"):
        assert state.get(section, {}) == {}, section
