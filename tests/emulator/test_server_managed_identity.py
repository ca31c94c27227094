"""The managed-identity endpoints: every source's shape, headers, selectors and errors."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from identitylib.emulator._managed_identity import EMULATOR_REGION, to_app_service
from identitylib.emulator._mi_sources import (
    SOURCES,
    arc_endpoint,
    cloud_shell_endpoint,
    disable_arc,
    enable_arc,
    machine_learning_endpoint,
    managed_identity_environment,
    managed_identity_requests,
    reset_managed_identity_requests,
    service_fabric_endpoint,
)
from identitylib.emulator._reply import Reply

from .server_fakes import TIMEOUT, FakeEmulator, small_config

RESOURCE = "https://management.azure.com/"
IMDS = {"api-version": "2018-02-01", "resource": RESOURCE}
APP_SERVICE = {"api-version": "2019-08-01", "resource": RESOURCE}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeEmulator]:
    with FakeEmulator(small_config()) as emu:
        yield emu


@pytest.fixture
def emu(server: FakeEmulator) -> FakeEmulator:
    server.fake.reset()
    server.faults.reset()
    server.reset_requests()
    return server


def get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, **kwargs)


def test_endpoints(emu: FakeEmulator) -> None:
    assert emu.imds_endpoint == f"{emu.base_url}/metadata/identity/oauth2/token"
    assert emu.app_service_endpoint == f"{emu.base_url}/msi/token"
    assert len(emu.identity_header) >= 16


def test_imds_requires_the_metadata_header(emu: FakeEmulator) -> None:
    response = get(emu.imds_endpoint, params=IMDS)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Required metadata header not specified",
    }
    assert get(emu.imds_endpoint, params=IMDS, headers={"Metadata": "false"}).status_code == 400
    assert emu.fake.calls == []


def test_imds_token_is_the_models_answer(emu: FakeEmulator) -> None:
    response = get(emu.imds_endpoint, params=IMDS, headers={"Metadata": "true"})
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] == "fake-mi-token"
    assert body["expires_in"] == "86399"
    assert body["resource"] == RESOURCE
    assert emu.fake.last("managed_identity_token") == {
        "resource": RESOURCE,
        "client_id": None,
        "object_id": None,
        "resource_id": None,
    }


@pytest.mark.parametrize(
    ("param", "argument"),
    [("client_id", "client_id"), ("object_id", "object_id"), ("msi_res_id", "resource_id")],
)
def test_imds_selectors(emu: FakeEmulator, param: str, argument: str) -> None:
    get(emu.imds_endpoint, params={**IMDS, param: "sel-1"}, headers={"Metadata": "true"})
    assert emu.fake.last("managed_identity_token")[argument] == "sel-1"


def test_imds_without_resource_still_asks_the_model(emu: FakeEmulator) -> None:
    emu.fake.overrides["managed_identity_token"] = Reply(
        400, json={"error": "invalid_request", "error_description": "resource missing"}
    )
    params = {"api-version": "2018-02-01"}
    response = get(emu.imds_endpoint, params=params, headers={"Metadata": "true"})
    assert response.status_code == 400
    assert emu.fake.last("managed_identity_token")["resource"] is None


def test_imds_needs_an_api_version_and_get(emu: FakeEmulator) -> None:
    headers = {"Metadata": "true"}
    missing = get(emu.imds_endpoint, params={"resource": RESOURCE}, headers=headers)
    assert missing.status_code == 400
    assert "api-version" in missing.json()["error_description"]
    posted = requests.post(emu.imds_endpoint, params=IMDS, headers=headers, timeout=TIMEOUT)
    assert posted.status_code == 405
    assert emu.fake.calls == []


@pytest.mark.parametrize("header", [None, "wrong"])
def test_app_service_requires_the_identity_header(emu: FakeEmulator, header: Any) -> None:
    headers = {} if header is None else {"X-IDENTITY-HEADER": header}
    response = get(emu.app_service_endpoint, params=APP_SERVICE, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["statusCode"] == 401
    assert body["message"]
    assert emu.fake.calls == []


def test_app_service_shape(emu: FakeEmulator) -> None:
    headers = {"X-IDENTITY-HEADER": emu.identity_header}
    response = get(emu.app_service_endpoint, params=APP_SERVICE, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["access_token"] == "fake-mi-token"
    assert isinstance(body["expires_on"], str)
    assert int(body["expires_on"]) > time.time() + 3600
    assert body["resource"] == RESOURCE
    assert body["token_type"] == "Bearer"
    assert body["client_id"] == "fake-mi-client"


@pytest.mark.parametrize(
    ("param", "argument"),
    [
        ("client_id", "client_id"),
        ("principal_id", "object_id"),
        ("object_id", "object_id"),
        ("mi_res_id", "resource_id"),
    ],
)
def test_app_service_selectors(emu: FakeEmulator, param: str, argument: str) -> None:
    headers = {"x-identity-header": emu.identity_header}
    response = get(
        emu.app_service_endpoint, params={**APP_SERVICE, param: "sel-2"}, headers=headers
    )
    assert response.status_code == 200
    assert emu.fake.last("managed_identity_token")[argument] == "sel-2"


def test_app_service_refuses_two_selectors_and_other_api_versions(emu: FakeEmulator) -> None:
    headers = {"X-IDENTITY-HEADER": emu.identity_header}
    two = {**APP_SERVICE, "client_id": "a", "principal_id": "b"}
    assert get(emu.app_service_endpoint, params=two, headers=headers).status_code == 400
    old = {**APP_SERVICE, "api-version": "2017-09-01"}
    refused = get(emu.app_service_endpoint, params=old, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["statusCode"] == 400
    assert emu.fake.calls == []


def test_app_service_error_shape(emu: FakeEmulator) -> None:
    emu.fake.overrides["managed_identity_token"] = Reply(
        400, json={"error": "invalid_request", "error_description": "Identity not found"}
    )
    headers = {"X-IDENTITY-HEADER": emu.identity_header}
    response = get(emu.app_service_endpoint, params=APP_SERVICE, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert body["message"] == "Identity not found"
    assert body["correlationId"]


def test_app_service_path_is_case_insensitive(emu: FakeEmulator) -> None:
    headers = {"X-IDENTITY-HEADER": emu.identity_header}
    response = get(f"{emu.base_url}/MSI/token", params=APP_SERVICE, headers=headers)
    assert response.status_code == 200


def test_to_app_service_computes_expires_on_when_missing() -> None:
    reply = Reply(json={"access_token": "t", "expires_in": "100", "resource": "r"})
    converted = to_app_service(reply, clock=lambda: 1000.0)
    assert converted.json == {
        "access_token": "t",
        "expires_on": "1100",
        "resource": "r",
        "token_type": "Bearer",
        "client_id": "",
    }
    failed = to_app_service(Reply(500, text="boom"))
    assert failed.status == 500
    assert failed.json is not None
    assert failed.json["message"] == "boom"


def test_instance_metadata_for_region_detection(emu: FakeEmulator) -> None:
    base = f"{emu.base_url}/metadata/instance"
    headers = {"Metadata": "true"}
    version = {"api-version": "2021-01-01"}
    location = get(f"{base}/compute/location", params={**version, "format": "text"},
                   headers=headers)  # fmt: skip
    assert location.status_code == 200
    assert location.text == EMULATOR_REGION
    assert location.headers["Content-Type"].startswith("text/plain")
    as_json = get(f"{base}/compute/location", params=version, headers=headers)
    assert as_json.json() == EMULATOR_REGION
    compute = get(f"{base}/compute", params=version, headers=headers)
    assert compute.json()["location"] == EMULATOR_REGION
    assert get(base, params=version, headers=headers).json()["compute"]["location"]
    assert get(f"{base}/compute", params=version).status_code == 400
    assert get(f"{base}/compute", headers=headers).status_code == 400
    assert get(f"{base}/compute/nothing", params=version, headers=headers).status_code == 404


# --- Azure Machine Learning, Cloud Shell, Azure Arc, Service Fabric --------------------

ML = {"api-version": "2017-09-01", "resource": RESOURCE}
ARC = {"api-version": "2020-06-01", "resource": RESOURCE}
SF = {"api-version": "2019-07-01-preview", "resource": RESOURCE}


def test_new_endpoints(emu: FakeEmulator) -> None:
    assert machine_learning_endpoint(emu) == f"{emu.base_url}/ml/msi/token"
    assert cloud_shell_endpoint(emu) == f"{emu.base_url}/cloudshell/oauth2/token"
    assert arc_endpoint(emu) == f"{emu.base_url}/arc/metadata/identity/oauth2/token"
    assert service_fabric_endpoint(emu) == f"{emu.base_url}/sf/metadata/identity/oauth2/token"
    environments = {
        s: managed_identity_environment(emu, s) for s in SOURCES if s != "service_fabric"
    }
    assert environments["machine_learning"]["MSI_SECRET"] == emu.identity_header
    assert environments["cloud_shell"]["AZUREPS_HOST_ENVIRONMENT"].startswith("cloud-shell")
    assert set(environments["azure_arc"]) == {"IDENTITY_ENDPOINT", "IMDS_ENDPOINT"}
    with pytest.raises(RuntimeError):
        managed_identity_environment(emu, "service_fabric")  # no TLS on this emulator
    with pytest.raises(ValueError):
        managed_identity_environment(emu, "nope")


@pytest.mark.parametrize("secret", [None, "wrong"])
def test_machine_learning_requires_the_secret(emu: FakeEmulator, secret: Any) -> None:
    headers = {} if secret is None else {"secret": secret}
    response = get(machine_learning_endpoint(emu), params=ML, headers=headers)
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert emu.fake.calls == []


@pytest.mark.parametrize(
    ("param", "argument"),
    [("clientid", "client_id"), ("client_id", "client_id"), ("object_id", "object_id"),
     ("msi_res_id", "resource_id")],
)  # fmt: skip
def test_machine_learning_shape_and_selectors(emu: FakeEmulator, param: str, argument: str) -> None:
    headers = {"secret": emu.identity_header}
    response = get(machine_learning_endpoint(emu), params={**ML, param: "sel"}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["expires_on"].isdigit()
    assert emu.fake.last("managed_identity_token")[argument] == "sel"


def test_machine_learning_refusals(emu: FakeEmulator) -> None:
    headers = {"secret": emu.identity_header}
    url = machine_learning_endpoint(emu)
    assert get(url, params={**ML, "api-version": "2019-08-01"}, headers=headers).status_code == 400
    two = {**ML, "clientid": "a", "object_id": "b"}
    assert get(url, params=two, headers=headers).status_code == 400
    posted = requests.post(url, params=ML, headers=headers, timeout=TIMEOUT)
    assert posted.status_code == 405
    assert emu.fake.calls == []


def test_cloud_shell_token(emu: FakeEmulator) -> None:
    response = requests.post(
        cloud_shell_endpoint(emu),
        data={"resource": RESOURCE},
        headers={"Metadata": "true"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] == "fake-mi-token"
    assert body["expires_in"] == "86399"
    assert body["resource"] == RESOURCE
    assert body["refresh_token"] == ""
    assert emu.fake.last("managed_identity_token")["resource"] == RESOURCE
    logged = managed_identity_requests(emu)[-1]
    assert logged["source"] == "cloud_shell"
    assert logged["params"] == {"resource": RESOURCE}
    assert "metadata" in logged["header_names"]


@pytest.mark.parametrize(
    ("method", "data", "headers", "status"),
    [
        ("GET", None, {"Metadata": "true"}, 405),
        ("POST", {"resource": RESOURCE}, {}, 400),
        ("POST", {}, {"Metadata": "true"}, 400),
    ],
)
def test_cloud_shell_errors_are_nested(
    emu: FakeEmulator, method: str, data: Any, headers: dict[str, str], status: int
) -> None:
    response = requests.request(
        method, cloud_shell_endpoint(emu), data=data, headers=headers, timeout=TIMEOUT
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"code", "message"}


def test_arc_must_be_enabled(emu: FakeEmulator) -> None:
    disable_arc(emu)
    response = get(arc_endpoint(emu), params=ARC, headers={"Metadata": "true"})
    assert response.status_code == 404
    assert "enable_arc" in response.json()["error_description"]


def test_arc_challenge_and_single_use_keys(emu: FakeEmulator, tmp_path: Path) -> None:
    directory = enable_arc(emu, tmp_path / "tokens")
    try:
        assert get(arc_endpoint(emu), params=ARC).status_code == 400  # no Metadata header
        first = get(arc_endpoint(emu), params=ARC, headers={"Metadata": "true"})
        assert first.status_code == 401
        scheme, _, realm = first.headers["WWW-Authenticate"].partition(" realm=")
        assert scheme == "Basic"
        key_file = Path(realm)
        assert key_file.parent == directory.absolute()
        assert key_file.suffix == ".key"
        if sys.platform != "win32":
            assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text()
        auth = {"Metadata": "true", "Authorization": f"Basic {key}"}
        answered = get(arc_endpoint(emu), params={**ARC, "object_id": "oid"}, headers=auth)
        assert answered.status_code == 200
        assert answered.json()["object_id"] == "oid"  # the selector is echoed
        assert emu.fake.last("managed_identity_token")["object_id"] == "oid"
        assert not key_file.exists()
        again = get(arc_endpoint(emu), params=ARC, headers=auth)
        assert again.status_code == 401  # single use: a new challenge
        assert Path(again.headers["WWW-Authenticate"].partition("realm=")[2]).exists()
    finally:
        disable_arc(emu)
    assert list(directory.iterdir()) == []


def test_arc_legacy_agent_ignores_selectors(emu: FakeEmulator, tmp_path: Path) -> None:
    enable_arc(emu, tmp_path, echo_identity=False)
    try:
        first = get(arc_endpoint(emu), params=ARC, headers={"Metadata": "true"})
        key = Path(first.headers["WWW-Authenticate"].partition("realm=")[2]).read_text()
        auth = {"Metadata": "true", "Authorization": f"Basic {key}"}
        answered = get(arc_endpoint(emu), params={**ARC, "client_id": "c"}, headers=auth)
        assert answered.status_code == 200
        assert emu.fake.last("managed_identity_token")["client_id"] is None
        assert answered.json()["client_id"] == "fake-mi-client"
    finally:
        disable_arc(emu)


def test_service_fabric_shape(emu: FakeEmulator) -> None:
    headers = {"Secret": emu.identity_header}
    response = get(service_fabric_endpoint(emu), params=SF, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "access_token", "expires_on", "resource"}
    assert isinstance(body["expires_on"], int)
    assert body["resource"] == RESOURCE
    assert emu.fake.last("managed_identity_token") == {
        "resource": RESOURCE,
        "client_id": None,
        "object_id": None,
        "resource_id": None,
    }
    digest = "ab" * 32
    extra = {**SF, "token_sha256_to_refresh": digest, "xms_cc": "CP1"}
    assert get(service_fabric_endpoint(emu), params=extra, headers=headers).status_code == 200
    assert managed_identity_requests(emu)[-1]["params"] == extra


@pytest.mark.parametrize(
    ("params", "headers", "status", "code"),
    [
        (SF, {}, 401, "SecretHeaderNotFound"),
        (SF, {"Secret": "wrong"}, 404, "ManagedIdentityNotFound"),
        ({**SF, "api-version": "2019-08-01"}, None, 400, "InvalidApiVersion"),
        ({"api-version": SF["api-version"]}, None, 400, "ArgumentNullOrEmpty"),
        ({**SF, "token_sha256_to_refresh": "xyz"}, None, 400, "InvalidParameter"),
    ],
)
def test_service_fabric_errors(
    emu: FakeEmulator, params: dict[str, str], headers: Any, status: int, code: str
) -> None:
    if headers is None:
        headers = {"Secret": emu.identity_header}
    response = get(service_fabric_endpoint(emu), params=params, headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["correlationId"]
    assert emu.fake.calls == []


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/ml/msi/token", {"statusCode", "message"}),
        ("/cloudshell/oauth2/token", {"error"}),
        ("/sf/metadata/identity/oauth2/token", {"error"}),
        ("/arc/metadata/identity/oauth2/token", {"error", "error_description"}),
    ],
)
def test_injected_faults_in_each_sources_shape(
    emu: FakeEmulator, path: str, shape: set[str]
) -> None:
    emu.faults.inject(503, retry_after=2, path_contains=path)
    response = get(emu.base_url + path)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert set(response.json()) == shape


def test_request_log_is_per_emulator(emu: FakeEmulator) -> None:
    reset_managed_identity_requests(emu)
    get(emu.imds_endpoint, params=IMDS, headers={"Metadata": "true"})
    [entry] = managed_identity_requests(emu)
    assert entry["source"] == "imds"
    assert entry["params"] == IMDS
    reset_managed_identity_requests(emu)
    assert managed_identity_requests(emu) == []
