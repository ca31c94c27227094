"""``identitylib login / token / accounts / logout`` against the emulator, in process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from identitylib import _cli_commands
from identitylib._cli import main
from identitylib._interactive import _browser
from identitylib.emulator import DEMO_API_URI, DEMO_CLI_ID, Emulator, approve_device_code, sign_in

USER, PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
SCOPE = f"{DEMO_API_URI}/access_as_user"
BOUNDED = ["--timeout", "60"]  #: no sign-in waits longer in these tests


@pytest.fixture
def cli(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Options naming the emulator and a plain-text cache in tmp_path (env vars unset)."""
    for name in ("IDENTITYLIB_CLIENT_ID", "IDENTITYLIB_AUTHORITY", "IDENTITYLIB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return [
        "--client-id",
        DEMO_CLI_ID,
        "--authority",
        emulator.authority(),
        "--cache",
        str(tmp_path / "cache.bin"),
        "--plaintext",
    ]


@pytest.fixture
def scripted_device_user(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """Alice approves every device code the CLI shows."""
    threads: list[threading.Thread] = []

    def show_and_approve(flow: dict[str, Any]) -> None:
        print(flow["message"], file=sys.stderr)
        thread = threading.Thread(
            target=approve_device_code,
            args=(flow["verification_uri"], flow["user_code"], USER, PASSWORD),
            daemon=True,
        )
        thread.start()
        threads.append(thread)

    monkeypatch.setattr(_cli_commands, "show_device_message", show_and_approve)
    return threads


@pytest.fixture
def scripted_browser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A browser exists, and alice signs in on the page it opens."""
    opened: list[str] = []

    def open_with_scripted_user(url: str) -> bool:
        opened.append(url)
        threading.Thread(
            target=sign_in, args=(url, USER, PASSWORD), kwargs={"deliver": True}, daemon=True
        ).start()
        return True

    monkeypatch.setattr(_cli_commands, "browser_available", lambda: True)
    monkeypatch.setattr(_browser, "open_browser", open_with_scripted_user)
    return opened


def _login_with_device_code(cli: list[str]) -> int:
    return main(["login", *cli, *BOUNDED, "--device-code", "--scope", SCOPE])


def test_device_code_login_then_token_from_the_cache(
    cli: list[str],
    emulator: Emulator,
    scripted_device_user: list[threading.Thread],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _login_with_device_code(cli) == 0
    err = capsys.readouterr().err
    assert "code" in err.lower()
    assert f"Signed in as {USER}" in err
    emulator.reset_requests()
    assert main(["token", *cli, *BOUNDED, "--scope", SCOPE, "--output", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["token_source"] == "cache"
    assert shown["username"] == USER
    assert shown["access_token"].count(".") == 2
    assert emulator.requests == []  # nothing went to the identity provider
    assert main(["token", *cli, *BOUNDED, "--scope", SCOPE]) == 0
    assert capsys.readouterr().out.strip() == shown["access_token"]


def test_token_for_another_scope_uses_the_refresh_token(
    cli: list[str],
    emulator: Emulator,
    scripted_device_user: list[threading.Thread],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _login_with_device_code(cli) == 0
    graph = "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read"
    args = ["token", *cli, *BOUNDED, "--scope", graph, "--output", "json", "--no-interaction"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["token_source"] == "identity_provider"
    assert main(["token", *cli, *BOUNDED, "--scope", "openid"]) == 2
    assert "reserved" in capsys.readouterr().err


def test_accounts_and_logout(
    cli: list[str], scripted_device_user: list[threading.Thread], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["accounts", *cli]) == 0
    assert "No accounts" in capsys.readouterr().err
    assert _login_with_device_code(cli) == 0
    capsys.readouterr()
    assert main(["accounts", *cli, "--output", "json"]) == 0
    assert [a["username"] for a in json.loads(capsys.readouterr().out)] == [USER]
    assert main(["accounts", *cli]) == 0
    assert capsys.readouterr().out.startswith(USER)
    assert main(["logout", *cli, "--username", "nobody@contoso.onmicrosoft.com"]) == 1
    assert main(["logout", *cli]) == 0
    assert f"Signed out {USER}" in capsys.readouterr().err
    assert main(["token", *cli, *BOUNDED, "--scope", SCOPE, "--no-interaction"]) == 1
    assert "identitylib login" in capsys.readouterr().err


def test_browser_login(
    cli: list[str], scripted_browser: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["login", *cli, *BOUNDED, "--scope", SCOPE]) == 0
    assert len(scripted_browser) == 1
    assert f"Signed in as {USER}" in capsys.readouterr().err


def test_no_browser_prints_the_address(
    cli: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def user_opens_it(url: str) -> None:
        threading.Thread(
            target=sign_in, args=(url, USER, PASSWORD), kwargs={"deliver": True}, daemon=True
        ).start()

    monkeypatch.setattr(_cli_commands, "show_address", user_opens_it)
    monkeypatch.setattr(_browser, "open_browser", lambda url: pytest.fail("browser opened"))
    assert main(["token", *cli, *BOUNDED, "--scope", SCOPE, "--no-browser"]) == 0
    assert capsys.readouterr().out.count(".") == 2


def test_device_code_is_automatic_without_a_browser(
    cli: list[str],
    monkeypatch: pytest.MonkeyPatch,
    scripted_device_user: list[threading.Thread],
) -> None:
    monkeypatch.setattr(_cli_commands, "browser_available", lambda: False)
    assert main(["login", *cli, *BOUNDED]) == 0
    assert len(scripted_device_user) == 1


def test_env_var_fallbacks(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scripted_device_user: list[threading.Thread],
) -> None:
    monkeypatch.setenv("IDENTITYLIB_CLIENT_ID", DEMO_CLI_ID)
    monkeypatch.setenv("IDENTITYLIB_AUTHORITY", emulator.authority())
    monkeypatch.setenv("IDENTITYLIB_CACHE", str(tmp_path / "env-cache.bin"))
    assert main(["login", "--device-code", "--plaintext", *BOUNDED]) == 0
    assert (tmp_path / "env-cache.bin").exists()


def test_failed_sign_in_is_one_line(
    cli: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        _cli_commands, "show_device_message", lambda flow: flow.update(expires_at=0)
    )
    assert main(["login", *cli, *BOUNDED, "--device-code"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_missing_client_id_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("IDENTITYLIB_CLIENT_ID", raising=False)
    assert main(["accounts"]) == 2
    assert "--client-id" in capsys.readouterr().err


def test_the_default_cache_place() -> None:
    env = {"XDG_CACHE_HOME": "/x/cache", "LOCALAPPDATA": r"C:\Users\a\AppData\Local"}
    assert _cli_commands.default_cache_path("linux", env) == os.path.join(
        "/x/cache", "identitylib", "token_cache.bin"
    )
    assert _cli_commands.default_cache_path("linux", {}).endswith(
        os.path.join(".cache", "identitylib", "token_cache.bin")
    )
    assert os.path.join("Library", "Caches", "identitylib") in _cli_commands.default_cache_path(
        "darwin", {}
    )
    assert _cli_commands.default_cache_path("win32", env).startswith(env["LOCALAPPDATA"])


def test_no_plaintext_without_being_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from identitylib import _persistence

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        assert kwargs["allow_unencrypted"] is False
        raise _persistence.PersistenceUnavailableError("no libsecret")

    monkeypatch.setattr(_persistence, "build_persistence", unavailable)
    with pytest.raises(_cli_commands.CliError, match="--plaintext"):
        _cli_commands.open_cache(str(tmp_path / "c.bin"), plaintext=False)


def test_progress_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain, terminal = io.StringIO(), Terminal()
    with _cli_commands.progress(lambda c: f"{c} waiting", plain):
        pass
    with _cli_commands.progress(lambda c: f"{c} waiting", terminal, period=0.01):
        threading.Event().wait(0.05)
    assert plain.getvalue() == ""
    assert "waiting" in terminal.getvalue()
    assert "\r" in terminal.getvalue()


def test_python_dash_m_and_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "identitylib", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    for command in ("login", "token", "accounts", "logout", "emulator", "demo"):
        assert command in done.stdout
