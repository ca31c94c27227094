"""The managed-identity endpoints: IMDS and App Service shapes, headers, selectors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from identitylib.emulator._managed_identity import EMULATOR_REGION, to_app_service
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
