"""``identitylib emulator``: arguments, the printed summary, serving and stopping."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from identitylib.emulator import DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, DEMO_TENANT_ID
from identitylib.emulator import _cli_emulator as cli

from .server_fakes import TIMEOUT, FakeEmulator

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="identitylib")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["emulator", *argv])


@pytest.fixture
def fake_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "Emulator", FakeEmulator)


def test_arguments() -> None:
    args = parse()
    assert (args.host, args.port, args.config, args.tls) == ("127.0.0.1", 8400, None, False)
    assert args.run is cli.run
    assert args.serve_seconds is None
    args = parse("--port", "0", "--tls", "--host", "::1", "--serve-seconds", "1.5")
    assert (args.port, args.tls, args.host, args.serve_seconds) == (0, True, "::1", 1.5)


def test_serve_seconds_is_hidden(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--help")
    out = capsys.readouterr().out
    assert "--serve-seconds" not in out
    assert "--port" in out
    assert "--tls" in out
    assert "--config" in out


@pytest.mark.usefixtures("fake_emulator")
def test_prints_endpoints_and_credentials_then_stops(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse("--port", "0", "--serve-seconds", "0.2")) == 0
    out = capsys.readouterr().out
    base = re.search(r"authority\s+(http://127\.0\.0\.1:\d+)/", out)
    assert base is not None
    authority = f"{base.group(1)}/{DEMO_TENANT_ID}"
    for expected in (
        f"{authority}/v2.0/.well-known/openid-configuration",
        f"{authority}/oauth2/v2.0/token",
        f"{authority}/oauth2/v2.0/logout",
        f"{base.group(1)}/devicelogin",
        f"{base.group(1)}/demo-api/me",
        f"user flow {base.group(1)}/contoso.onmicrosoft.com/B2C_1_susi  (sign_up_sign_in)",
        f"{base.group(1)}/metadata/identity/oauth2/token",
        f"IDENTITY_ENDPOINT={base.group(1)}/msi/token",
        "IDENTITY_HEADER=",
        DEMO_DAEMON_ID,
        DEMO_DAEMON_SECRET,
        "alice@contoso.onmicrosoft.com  password: alice-password",
        "stopped",
    ):
        assert expected in out
    assert "CA certificate" not in out


@pytest.mark.usefixtures("fake_emulator")
def test_tls_prints_the_ca_and_demo_certificate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = parse("--port", "0", "--tls", "--state-dir", str(tmp_path), "--serve-seconds", "0")
    assert cli.run(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"authority\s+https://localhost:\d+/", out)
    assert f"CA certificate     {tmp_path / 'ca.pem'}" in out
    assert str(tmp_path / "demo-daemon-key.pem") in out


@pytest.mark.usefixtures("fake_emulator")
def test_serves_while_running(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(cli.run(parse("--port", "0", "--serve-seconds", "1")))
    )
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while "Serving" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    match = re.search(r"discovery\s+(\S+)", out.getvalue())
    assert match is not None
    response = requests.get(match.group(1), timeout=TIMEOUT)
    assert response.json()["called"] == "openid_configuration"
    thread.join(TIMEOUT)
    assert codes == [0]


@pytest.mark.usefixtures("fake_emulator")
def test_custom_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = {
        "tenants": [{"tenant_id": "11111111-0000-4000-8000-000000000001", "domains": ["x.test"]}],
        "apps": [{"client_id": "app-1", "name": "my-app", "secrets": ["s3cret"]}],
        "users": [{"username": "u@x.test", "password": "pw"}],
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert cli.run(parse("--port", "0", "--config", str(path), "--serve-seconds", "0")) == 0
    out = capsys.readouterr().out
    assert "/11111111-0000-4000-8000-000000000001/oauth2/v2.0/token" in out
    assert "my-app" in out
    assert "s3cret" in out
    assert "u@x.test  password: pw" in out


@pytest.mark.usefixtures("fake_emulator")
@pytest.mark.parametrize("content", ["{not json", '{"bogus": 1}', None])
def test_bad_config_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    assert cli.run(parse("--port", "0", "--config", str(path), "--serve-seconds", "0")) == 2
    assert "bad --config" in capsys.readouterr().err


@pytest.mark.usefixtures("fake_emulator")
def test_non_loopback_host_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse("--host", "0.0.0.0", "--port", "0", "--serve-seconds", "0")) == 2
    assert "loopback" in capsys.readouterr().err


@pytest.mark.usefixtures("fake_emulator")
def test_port_in_use_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeEmulator() as busy:
        port = busy.base_url.rsplit(":", 1)[1]
        assert cli.run(parse("--port", port, "--serve-seconds", "0")) == 1
    assert "--port" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_the_command_cleanly() -> None:
    script = (
        "import sys\n"
        "from identitylib.emulator import _cli_emulator as cli\n"
        "from tests.emulator.server_fakes import FakeEmulator\n"
        "cli.Emulator = FakeEmulator\n"
        "import argparse\n"
        "p = argparse.ArgumentParser(); cli.add_parser(p.add_subparsers())\n"
        "sys.exit(cli.run(p.parse_args(['emulator', '--port', '0'])))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Serving" in line:
                break
        assert any("Serving" in line for line in lines), lines
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err
        assert "stopped" in out
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.communicate()
