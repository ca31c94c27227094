"""Service Fabric certificate pinning over real TLS (the emulator's HTTPS listener)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
import requests
import requests.adapters
from urllib3.util.retry import Retry

from identitylib._managed_identity import (
    ManagedIdentityClient,
    ManagedIdentityError,
    SystemAssignedManagedIdentity,
    _sources,
)
from identitylib._managed_identity._pinning import (
    ThumbprintPinningAdapter,
    normalise_thumbprint,
    pinned_session,
)
from identitylib.emulator import Emulator
from identitylib.emulator._mi_sources import (
    managed_identity_environment,
    managed_identity_requests,
    server_certificate_thumbprint,
    service_fabric_endpoint,
)

RESOURCE = "https://vault.azure.net"
WRONG = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(tls=True, state_dir=tmp_path_factory.mktemp("sf-emulator")) as emulator:
        yield emulator


@pytest.fixture
def sf_env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in managed_identity_environment(emu, "service_fabric").items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def sf_count(emu: Emulator) -> int:
    return sum(1 for r in managed_identity_requests(emu) if r["source"] == "service_fabric")


PARAMS = {"api-version": "2019-07-01-preview", "resource": RESOURCE}


@pytest.mark.parametrize(
    "spelling",
    [
        lambda t: t,
        lambda t: t.lower(),
        lambda t: ":".join(t[i : i + 2] for i in range(0, 40, 2)),
        lambda t: " ".join(t[i : i + 8] for i in range(0, 40, 8)),
    ],
)
def test_pinned_session_accepts_the_right_certificate(
    emu: Emulator, spelling: Callable[[str], str]
) -> None:
    thumbprint = spelling(server_certificate_thumbprint(emu))
    with pinned_session(thumbprint) as session:
        response = session.get(
            service_fabric_endpoint(emu),
            params=PARAMS,
            headers={"Secret": emu.identity_header},
            timeout=10,
        )
    assert response.status_code == 200
    assert response.json()["access_token"]


@pytest.mark.parametrize("template_verify", [True, False, "ca"])
def test_pinned_session_refuses_another_certificate(emu: Emulator, template_verify: object) -> None:
    template = requests.Session()
    template.verify = emu.ca_path if template_verify == "ca" else template_verify  # type: ignore[assignment]
    before = sf_count(emu)
    with pinned_session(WRONG, template) as session, pytest.raises(requests.exceptions.SSLError):
        session.get(
            service_fabric_endpoint(emu),
            params=PARAMS,
            headers={"Secret": emu.identity_header},
            verify=False,
            timeout=10,
        )
    assert sf_count(emu) == before  # the Secret header never left the machine's TLS layer


def test_ca_bundle_from_the_environment_does_not_replace_the_pin(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert emu.ca_path is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca_path)
    session = pinned_session(WRONG)
    session.trust_env = True
    with session, pytest.raises(requests.exceptions.SSLError):
        session.get(service_fabric_endpoint(emu), timeout=10)


def test_template_lends_headers_and_retries() -> None:
    template = requests.Session()
    template.headers["X-Custom"] = "1"
    template.mount("https://", requests.adapters.HTTPAdapter(max_retries=Retry(total=3)))
    session = pinned_session(WRONG, template)
    adapter = session.get_adapter("https://localhost:2377/")
    assert isinstance(adapter, ThumbprintPinningAdapter)
    assert adapter.max_retries.total == 3
    assert session.headers["X-Custom"] == "1"
    assert session.trust_env is False
    with pytest.raises(requests.exceptions.InvalidSchema):
        session.get("http://localhost:2377/", timeout=1)  # only https is mounted
    assert template.get_adapter("https://x/") is not adapter


def test_normalise_thumbprint() -> None:
    assert normalise_thumbprint("AB:" * 19 + "AB") == "ab" * 20
    for bad in ("", "ab" * 19, "ab" * 21, "gg" * 20):
        with pytest.raises(ManagedIdentityError):
            normalise_thumbprint(bad)


def test_client_over_service_fabric(emu: Emulator, sf_env: pytest.MonkeyPatch) -> None:
    client = ManagedIdentityClient(SystemAssignedManagedIdentity())
    result = client.acquire_token_for_client(resource=RESOURCE)
    assert result["token_source"] == "identity_provider", result
    assert result["resource"] == RESOURCE


def test_client_refuses_a_wrong_thumbprint(emu: Emulator, sf_env: pytest.MonkeyPatch) -> None:
    sf_env.setenv("IDENTITY_SERVER_THUMBPRINT", WRONG)
    before = sf_count(emu)
    with pytest.raises(requests.exceptions.SSLError):
        ManagedIdentityClient(SystemAssignedManagedIdentity()).acquire_token_for_client(
            resource=RESOURCE
        )
    session = requests.Session()
    session.verify = False
    with pytest.raises(requests.exceptions.SSLError):
        ManagedIdentityClient(
            SystemAssignedManagedIdentity(), http_client=session
        ).acquire_token_for_client(resource=RESOURCE)
    assert sf_count(emu) == before


def test_an_apps_session_is_not_changed(emu: Emulator, sf_env: pytest.MonkeyPatch) -> None:
    session = requests.Session()
    session.trust_env = False
    client = ManagedIdentityClient(SystemAssignedManagedIdentity(), http_client=session)
    assert "access_token" in client.acquire_token_for_client(resource=RESOURCE)
    with pytest.raises(requests.exceptions.SSLError):
        session.get(emu.base_url + "/nothing", timeout=10)  # still verifies against CAs


def test_thumbprint_of_the_state_dir_certificate(emu: Emulator) -> None:
    thumbprint = server_certificate_thumbprint(emu)
    assert len(thumbprint) == 40
    assert thumbprint == thumbprint.upper()
    assert isinstance(emu.state_dir, Path)
