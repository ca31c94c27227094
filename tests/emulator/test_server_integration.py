"""The server with the real identity-provider model, and the pytest plugin.

Skipped while ``IdentityProvider`` is still the skeleton that raises NotImplementedError.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from identitylib import ConfidentialClientApplication
from identitylib.emulator import (
    DEMO_API_URI,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_MI_CLIENT_ID,
    DEMO_TENANT_ID,
    Emulator,
)

from .server_fakes import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
SCOPE = [f"{DEMO_API_URI}/.default"]


@pytest.fixture(scope="module", params=["http", "https"])
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(tls=request.param == "https") as emulator:
        yield emulator


def test_discovery(emu: Emulator) -> None:
    verify = emu.ca_path or True
    config = requests.get(
        f"{emu.authority()}/v2.0/.well-known/openid-configuration", verify=verify,
        timeout=TIMEOUT,
    ).json()  # fmt: skip
    assert config["token_endpoint"] == f"{emu.authority()}/oauth2/v2.0/token"
    assert DEMO_TENANT_ID in config["issuer"]
    keys = requests.get(config["jwks_uri"], verify=verify, timeout=TIMEOUT).json()
    assert keys["keys"]


@pytest.mark.parametrize("credential", ["secret", "certificate"])
def test_client_credentials(emu: Emulator, credential: str) -> None:
    secret = DEMO_DAEMON_SECRET if credential == "secret" else emu.demo_certificate
    app = ConfidentialClientApplication(
        DEMO_DAEMON_ID, secret, authority=emu.authority(), verify=emu.ca_path or True
    )
    result = app.acquire_token_for_client(SCOPE)
    assert "access_token" in result, result


def test_managed_identity_sources(emu: Emulator) -> None:
    verify = emu.ca_path or True
    resource = {"resource": DEMO_API_URI, "client_id": DEMO_MI_CLIENT_ID}
    imds = requests.get(
        emu.imds_endpoint,
        params={"api-version": "2018-02-01", **resource},
        headers={"Metadata": "true"},
        verify=verify,
        timeout=TIMEOUT,
    )
    assert imds.status_code == 200, imds.text
    assert isinstance(imds.json()["expires_in"], str)
    app_service = requests.get(
        emu.app_service_endpoint,
        params={"api-version": "2019-08-01", **resource},
        headers={"X-IDENTITY-HEADER": emu.identity_header},
        verify=verify,
        timeout=TIMEOUT,
    )
    assert app_service.status_code == 200, app_service.text
    body = app_service.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert int(body["expires_on"]) > time.time()


def test_pytest_plugin_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_uses_plugin.py").write_text(
        textwrap.dedent(
            """
            import requests

            def test_plain(identitylib_fresh_emulator, identitylib_emulator):
                emulator = identitylib_fresh_emulator
                assert emulator is identitylib_emulator
                assert emulator.requests == []
                emulator.faults.inject(503)
                url = emulator.authority() + "/discovery/v2.0/keys"
                assert requests.get(url, timeout=10).status_code == 503

            def test_faults_were_reset(identitylib_fresh_emulator):
                url = identitylib_fresh_emulator.authority() + "/discovery/v2.0/keys"
                assert requests.get(url, timeout=10).status_code == 200

            def test_tls(identitylib_emulator_tls):
                url = identitylib_emulator_tls.authority() + "/discovery/v2.0/keys"
                verify = identitylib_emulator_tls.ca_path
                assert requests.get(url, verify=verify, timeout=10).status_code == 200
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "identitylib.emulator.pytest_plugin", "--rootdir", str(tmp_path),
            str(tmp_path),
        ],
        cwd=tmp_path,
        # only the plugin under test, whether or not its entry point is installed
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
