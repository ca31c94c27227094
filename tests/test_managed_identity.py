"""ManagedIdentityClient: identities, detection, each source's wire shape, cache, errors."""

from __future__ import annotations

import calendar
import hashlib
import json
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from identitylib import SerializableTokenCache, TokenCache
from identitylib._managed_identity import (
    APP_SERVICE,
    AZURE_ARC,
    CLOUD_SHELL,
    DEFAULT_TO_VM,
    MACHINE_LEARNING,
    SERVICE_FABRIC,
    ArcPlatformNotSupportedError,
    ManagedIdentity,
    ManagedIdentityClient,
    ManagedIdentityError,
    SystemAssignedManagedIdentity,
    UserAssignedManagedIdentity,
    _arc,
    _sources,
    get_managed_identity_source,
)
from identitylib._managed_identity._response import normalise_token, parse_expires_on
from identitylib._managed_identity._transport import DEFAULT_TIMEOUT
from identitylib._transport._policy import NO_RETRY
from tests._fakes import MsalStyleClient
from tests._servers import require_module

IMDS = "http://169.254.169.254/metadata/identity/oauth2/token"
APP_SERVICE_URL = "http://localhost:4141/MSI/token"
ML_URL = "http://127.0.0.1:46808/MSI/auth"
SF_URL = "https://localhost:2377/metadata/identity/oauth2/token"
ARC_URL = "http://localhost:40342/metadata/identity/oauth2/token"
CLOUD_SHELL_URL = "http://localhost:50342/oauth2/token"
THUMBPRINT = "AB" * 20
RESOURCE = "https://management.azure.com"
NOW = int(time.time())


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No managed-identity variable from the machine running the tests, no Arc agent."""
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_sources, "ARC_AGENT_FILES", {})
    return monkeypatch


def imds_body(token: str = "at", expires_in: Any = "86399", **extra: Any) -> dict[str, Any]:
    return {
        "access_token": token,
        "client_id": "mi-client",
        "expires_in": expires_in,
        "expires_on": str(NOW + 86399),
        "ext_expires_in": "86399",
        "not_before": str(NOW),
        "resource": RESOURCE,
        "token_type": "Bearer",
        **extra,
    }


def sent(mock: responses.RequestsMock, index: int = -1) -> dict[str, Any]:
    request = mock.calls[index].request
    parts = urlsplit(request.url)
    body = request.body
    if isinstance(body, bytes):
        body = body.decode()
    return {
        "method": request.method,
        "url": f"{parts.scheme}://{parts.netloc}{parts.path}",
        "params": dict(parse_qsl(parts.query)),
        "headers": dict(request.headers),
        "form": dict(parse_qsl(body)) if body else {},
        "kwargs": getattr(request, "req_kwargs", {}),
    }


def client(identity: Any = None, **kwargs: Any) -> ManagedIdentityClient:
    return ManagedIdentityClient(identity or SystemAssignedManagedIdentity(), **kwargs)


# --- identities ---------------------------------------------------------------------


def test_identity_classes_equal_msal_dicts() -> None:
    assert SystemAssignedManagedIdentity() == {
        "ManagedIdentityIdType": "SystemAssigned",
        "Id": None,
    }
    assert UserAssignedManagedIdentity(client_id="c") == {
        "ManagedIdentityIdType": "ClientId",
        "Id": "c",
    }
    assert UserAssignedManagedIdentity(resource_id="/r") == {
        "ManagedIdentityIdType": "ResourceId",
        "Id": "/r",
    }
    assert UserAssignedManagedIdentity(object_id="o") == {
        "ManagedIdentityIdType": "ObjectId",
        "Id": "o",
    }
    assert json.loads(json.dumps(dict(UserAssignedManagedIdentity(client_id="c"))))["Id"] == "c"


@pytest.mark.parametrize(
    "kwargs", [{}, {"client_id": "a", "object_id": "b"}, {"client_id": "", "resource_id": None}]
)
def test_user_assigned_needs_exactly_one_id(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ManagedIdentityError):
        UserAssignedManagedIdentity(**kwargs)
    with pytest.raises(ValueError):
        UserAssignedManagedIdentity(**kwargs)


@pytest.mark.parametrize(
    "config",
    [
        {"ManagedIdentityIdType": "SystemAssigned", "Id": None},
        {"ManagedIdentityIdType": "SystemAssigned"},
        {"ManagedIdentityIdType": "ClientId", "Id": "c"},
        {"ManagedIdentityIdType": "ResourceId", "Id": "/subscriptions/x"},
        {"ManagedIdentityIdType": "ObjectId", "Id": "o"},
    ],
)
def test_dict_forms_are_accepted(config: dict[str, Any]) -> None:
    client(config)
    assert ManagedIdentity.is_managed_identity(config)


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"ManagedIdentityIdType": "ClientId"},
        {"ManagedIdentityIdType": "ClientId", "Id": ""},
        {"ManagedIdentityIdType": "ClientId", "Id": 5},
        {"ManagedIdentityIdType": "clientid", "Id": "c"},
        {"ManagedIdentityIdType": "Bogus", "Id": "c"},
        "SystemAssigned",
        None,
        ["ClientId", "c"],
    ],
)
def test_invalid_identities_are_refused(config: Any) -> None:
    with pytest.raises(ManagedIdentityError):
        ManagedIdentityClient(config)
    assert not ManagedIdentity.is_managed_identity(config)


def test_classification_helpers() -> None:
    assert ManagedIdentity.is_system_assigned(SystemAssignedManagedIdentity())
    assert ManagedIdentity.is_user_assigned({"ManagedIdentityIdType": "ObjectId", "Id": "o"})
    assert not ManagedIdentity.is_user_assigned(SystemAssignedManagedIdentity())


def test_constructor_makes_no_request_and_checks_arguments(http: responses.RequestsMock) -> None:
    client(http_client=requests.Session())
    assert len(http.calls) == 0
    with pytest.raises(TypeError):
        client(http_cache=[])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client(client_capabilities="CP1")
    with pytest.raises(TypeError):
        client(http_client=object())


def test_resource_must_be_a_string() -> None:
    with pytest.raises(ValueError):
        client().acquire_token_for_client(resource="")
    with pytest.raises(ValueError):
        client().acquire_token_for_client(resource=None)  # type: ignore[arg-type]


# --- detection ----------------------------------------------------------------------

SF_ENV = {
    "IDENTITY_ENDPOINT": SF_URL,
    "IDENTITY_HEADER": "h",
    "IDENTITY_SERVER_THUMBPRINT": THUMBPRINT,
}
APP_ENV = {"IDENTITY_ENDPOINT": APP_SERVICE_URL, "IDENTITY_HEADER": "h"}
ML_ENV = {"MSI_ENDPOINT": ML_URL, "MSI_SECRET": "s"}
ARC_ENV = {"IDENTITY_ENDPOINT": ARC_URL, "IMDS_ENDPOINT": "http://localhost:40342"}
CLOUD_SHELL_ENV = {"AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0"}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, DEFAULT_TO_VM),
        (SF_ENV, SERVICE_FABRIC),
        (APP_ENV, APP_SERVICE),
        (ML_ENV, MACHINE_LEARNING),
        (ARC_ENV, AZURE_ARC),
        (CLOUD_SHELL_ENV, CLOUD_SHELL),
        ({**SF_ENV, **ML_ENV, **CLOUD_SHELL_ENV}, SERVICE_FABRIC),
        ({**APP_ENV, **ML_ENV}, APP_SERVICE),
        ({**ML_ENV, "IMDS_ENDPOINT": "x", **CLOUD_SHELL_ENV}, MACHINE_LEARNING),
        ({**ARC_ENV, **CLOUD_SHELL_ENV}, AZURE_ARC),
        ({"MSI_ENDPOINT": ML_URL, **CLOUD_SHELL_ENV}, CLOUD_SHELL),
        ({"MSI_ENDPOINT": ML_URL}, DEFAULT_TO_VM),
        ({"IDENTITY_ENDPOINT": APP_SERVICE_URL}, DEFAULT_TO_VM),
        ({"AZUREPS_HOST_ENVIRONMENT": "vscode"}, DEFAULT_TO_VM),
    ],
)
def test_detection_order(clean_env: pytest.MonkeyPatch, env: dict[str, str], expected: Any) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert get_managed_identity_source() is expected


def test_arc_detected_by_its_agent_binary(clean_env: pytest.MonkeyPatch, tmp_path: Any) -> None:
    agent = tmp_path / "himds"
    clean_env.setattr(_sources, "ARC_AGENT_FILES", {sys.platform: str(agent)})
    assert get_managed_identity_source() is DEFAULT_TO_VM
    agent.write_text("")
    assert get_managed_identity_source() is AZURE_ARC
    config = _sources.detect()
    assert isinstance(config, _sources.ArcConfig)
    assert config.endpoint == "http://localhost:40342/metadata/identity/oauth2/token"


def test_imds_endpoint_overrides() -> None:
    assert _sources.imds_endpoint({}) == IMDS
    pod = {"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://10.0.0.1:2579/"}
    assert _sources.imds_endpoint(pod) == "http://10.0.0.1:2579/metadata/identity/oauth2/token"
    ours = {**pod, "IDENTITYLIB_IMDS_ENDPOINT": "http://127.0.0.1:9/custom"}
    assert _sources.imds_endpoint(ours) == "http://127.0.0.1:9/custom"
    cloud_shell = _sources.detect(CLOUD_SHELL_ENV)
    assert isinstance(cloud_shell, _sources.CloudShellConfig)
    assert cloud_shell.endpoint == CLOUD_SHELL_URL


# --- IMDS ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "selector"),
    [
        (SystemAssignedManagedIdentity(), {}),
        (UserAssignedManagedIdentity(client_id="c"), {"client_id": "c"}),
        (UserAssignedManagedIdentity(resource_id="/r"), {"msi_res_id": "/r"}),
        (UserAssignedManagedIdentity(object_id="o"), {"object_id": "o"}),
    ],
)
def test_imds_request(
    http: responses.RequestsMock, identity: Any, selector: dict[str, str]
) -> None:
    http.get(IMDS, json=imds_body())
    result = client(identity).acquire_token_for_client(resource=RESOURCE)
    assert result == {
        "access_token": "at",
        "expires_in": 86399,
        "resource": RESOURCE,
        "token_type": "Bearer",
        "refresh_in": 43199,
        "refresh_on": result["refresh_on"],
        "token_source": "identity_provider",
    }
    request = sent(http)
    assert request["method"] == "GET"
    assert request["url"] == IMDS
    assert request["params"] == {"api-version": "2018-02-01", "resource": RESOURCE, **selector}
    assert request["headers"]["Metadata"] == "true"
    assert request["headers"]["x-client-SKU"] == "identitylib.Python"
    assert request["headers"]["x-client-Ver"]
    assert len(request["headers"]["x-ms-client-request-id"]) == 36
    assert request["kwargs"]["timeout"] == DEFAULT_TIMEOUT


def test_imds_error_body_is_returned(http: responses.RequestsMock) -> None:
    body = {"error": "invalid_resource", "error_description": "AADSTS500011: not found"}
    http.get(IMDS, status=400, json=body)
    assert client().acquire_token_for_client(resource=RESOURCE) == body


def test_imds_pod_identity_host(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    clean_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://10.0.0.1:2579")
    http.get("http://10.0.0.1:2579/metadata/identity/oauth2/token", json=imds_body())
    assert client().acquire_token_for_client(resource=RESOURCE)["access_token"] == "at"


def test_redirects_are_not_followed(http: responses.RequestsMock) -> None:
    http.get(IMDS, status=302, headers={"Location": "http://evil.example/steal"})
    result = client().acquire_token_for_client(resource=RESOURCE)
    assert result["error"] == "invalid_response"
    assert len(http.calls) == 1


def test_an_apps_session_gets_no_timeout_and_no_redirects(http: responses.RequestsMock) -> None:
    http.get(IMDS, json=imds_body())
    client(http_client=requests.Session()).acquire_token_for_client(resource=RESOURCE)
    assert sent(http)["kwargs"].get("timeout") is None
    http.replace(responses.GET, IMDS, status=302, headers={"Location": "http://evil.example/"})
    session_client = client(http_client=requests.Session())
    assert session_client.acquire_token_for_client(resource="https://x")["error"]
    assert len(http.calls) == 2


def test_msal_style_http_client_gets_only_msal_arguments() -> None:
    fake = MsalStyleClient({IMDS: imds_body()}, {})
    result = client(http_client=fake).acquire_token_for_client(resource=RESOURCE)
    assert result["access_token"] == "at"
    fake.get.check()
    assert [keywords for _, _, keywords in fake.get.calls] == [{"params", "headers"}]
    assert fake.post.calls == []


# --- response normalisation -----------------------------------------------------------


def test_expires_on_counts_whole_seconds_as_msal() -> None:
    """msal: int(expires_on) - int(now). A fraction of the current second is not a
    second less."""
    for moment in (NOW, NOW + 0.001, NOW + 0.5, NOW + 0.999):
        for expires_on in (NOW + 3600, str(NOW + 3600), float(NOW + 3600)):
            result = normalise_token({"access_token": "t", "expires_on": expires_on}, now=moment,
                                     resource="r")  # fmt: skip
            assert isinstance(result, dict)
            assert result["expires_in"] == 3600, (moment, expires_on)


@pytest.mark.parametrize(("env", "url"), [("app_service", APP_SERVICE_URL), ("ml", ML_URL)])
def test_a_token_cached_from_expires_on_expires_then(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock, env: str, url: str
) -> None:
    """App Service and Azure ML answer expires_on: the result's expires_in and the cache
    entry say that very second, whatever fraction of a second the clock is at."""
    for name, value in (APP_ENV if env == "app_service" else ML_ENV).items():
        clean_env.setenv(name, value)
    http.get(url, json={"access_token": "at", "expires_on": str(NOW + 7300), "resource": RESOURCE})
    cache = SerializableTokenCache()
    mi = client(token_cache=cache)
    mi._state.now = lambda: NOW + 0.75
    result = mi.acquire_token_for_client(resource=RESOURCE)
    assert (result["expires_in"], result["refresh_in"]) == (7300, 3650)
    (entry,) = cache.search("AccessToken")
    assert entry["expires_on"] == str(NOW + 7300)


@pytest.mark.parametrize(
    ("body", "expires_in"),
    [
        ({"access_token": "t", "expires_in": "3600"}, 3600),
        ({"access_token": "t", "expires_in": 3600}, 3600),
        ({"access_token": "t", "expires_in": 3600.7}, 3600),
        ({"access_token": "t", "expires_on": NOW + 3600}, 3600),
        ({"access_token": "t", "expires_on": str(NOW + 3600)}, 3600),
        ({"access_token": "t", "expires_in": "junk", "expires_on": str(NOW + 50)}, 50),
        ({"access_token": "t", "expires_in": 10**9}, 7 * 24 * 3600),
    ],
)
def test_normalise_lifetimes(body: dict[str, Any], expires_in: int) -> None:
    result = normalise_token(body, now=NOW, resource="r")
    assert isinstance(result, dict)
    assert result["expires_in"] == expires_in
    assert result["token_type"] == "Bearer"
    assert result["resource"] == "r"


@pytest.mark.parametrize(
    "text",
    [
        "06/20/2030 02:57:58 +00:00",
        "06/20/2030 02:57:58 AM +00:00",
        "2030-06-20T02:57:58Z",
        "2030-06-20T04:57:58+02:00",
        "Thu, 20 Jun 2030 02:57:58 GMT",
        "06/20/2030 02:57:58",
    ],
)
def test_expires_on_date_texts(text: str) -> None:
    assert parse_expires_on(text) == calendar.timegm((2030, 6, 20, 2, 57, 58, 0, 0, 0))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "not a JSON object"),
        ({}, "no 'access_token'"),
        ({"access_token": 5, "expires_in": 1}, "no 'access_token'"),
        ({"access_token": "t"}, "neither"),
        ({"access_token": "t", "expires_in": "soon"}, "'expires_in'"),
        ({"access_token": "t", "expires_on": "someday"}, "'expires_on'"),
        ({"access_token": "t", "expires_on": NOW - 10}, "already expired"),
        ({"access_token": "t", "expires_in": 10, "token_type": 1}, "'token_type'"),
    ],
)
def test_malformed_bodies(body: Any, problem: str) -> None:
    result = normalise_token(body, now=NOW, resource="r")
    assert isinstance(result, str)
    assert problem in result


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "<html>not json</html>"),
        (200, json.dumps([1, 2])),
        (200, json.dumps({"access_token": "t"})),
        (200, json.dumps({"access_token": "", "expires_in": "10"})),
        (500, "oops"),
        (403, json.dumps({"message": "no"})),
    ],
)
def test_malformed_imds_answers_are_error_dicts(
    http: responses.RequestsMock, status: int, body: str
) -> None:
    http.get(IMDS, status=status, body=body)
    mi = client()
    mi._state.imds_retry = NO_RETRY
    result = mi.acquire_token_for_client(resource=RESOURCE)
    assert result["error"] == "invalid_response"
    assert f"HTTP {status}" in result["error_description"]


def test_server_refresh_in_is_kept(http: responses.RequestsMock) -> None:
    http.get(IMDS, json=imds_body(refresh_in="600"))
    result = client().acquire_token_for_client(resource=RESOURCE)
    assert result["refresh_in"] == 600
    assert abs(result["refresh_on"] - (time.time() + 600)) < 5


# --- App Service, Azure ML, Cloud Shell ------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "selector"),
    [
        (SystemAssignedManagedIdentity(), {}),
        (UserAssignedManagedIdentity(client_id="c"), {"client_id": "c"}),
        (UserAssignedManagedIdentity(resource_id="/r"), {"mi_res_id": "/r"}),
        (UserAssignedManagedIdentity(object_id="o"), {"object_id": "o"}),
    ],
)
def test_app_service_request(
    clean_env: pytest.MonkeyPatch,
    http: responses.RequestsMock,
    identity: Any,
    selector: dict[str, str],
) -> None:
    for name, value in APP_ENV.items():
        clean_env.setenv(name, value)
    body = {"access_token": "at", "expires_on": str(int(time.time()) + 3600), "resource": RESOURCE,
            "token_type": "Bearer", "client_id": "c"}  # fmt: skip
    http.get(APP_SERVICE_URL, json=body)
    result = client(identity).acquire_token_for_client(resource=RESOURCE)
    assert result["access_token"] == "at"
    assert 3590 <= result["expires_in"] <= 3600
    assert "refresh_in" not in result
    request = sent(http)
    assert request["url"] == APP_SERVICE_URL
    assert request["params"] == {"api-version": "2019-08-01", "resource": RESOURCE, **selector}
    assert request["headers"]["X-IDENTITY-HEADER"] == "h"
    assert request["headers"]["Metadata"] == "true"


@pytest.mark.parametrize(
    ("status", "body", "description"),
    [
        (400, {"statusCode": 400, "message": "Unable to load the proper Managed Identity."},
         "400, Unable to load the proper Managed Identity."),
        (500, {"statusCode": "500", "message": "boom", "correlationId": "cid"}, "500, boom"),
        (401, {"error": "unauthorized", "error_description": "bad header"}, "401, bad header"),
        (502, "Bad Gateway", "502, Bad Gateway"),
        (200, {"statusCode": 404, "message": "odd"}, "404, odd"),
    ],
)  # fmt: skip
def test_app_service_errors(
    clean_env: pytest.MonkeyPatch,
    http: responses.RequestsMock,
    status: int,
    body: Any,
    description: str,
) -> None:
    for name, value in APP_ENV.items():
        clean_env.setenv(name, value)
    if isinstance(body, dict):
        http.get(APP_SERVICE_URL, status=status, json=body)
    else:
        http.get(APP_SERVICE_URL, status=status, body=body)
    result = client().acquire_token_for_client(resource=RESOURCE)
    assert result["error"] == "invalid_scope"
    assert result["error_description"] == description


def test_machine_learning_request(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    for name, value in ML_ENV.items():
        clean_env.setenv(name, value)
    http.get(
        ML_URL,
        json={"access_token": "at", "expires_on": int(time.time()) + 7300, "resource": RESOURCE},
    )
    result = client(UserAssignedManagedIdentity(client_id="c")).acquire_token_for_client(
        resource=RESOURCE
    )
    assert result["access_token"] == "at"
    assert result["refresh_in"] == result["expires_in"] // 2
    request = sent(http)
    assert request["params"] == {"api-version": "2017-09-01", "resource": RESOURCE, "clientid": "c"}
    assert request["headers"]["secret"] == "s"
    assert "X-IDENTITY-HEADER" not in request["headers"]


def test_machine_learning_date_text_and_errors(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    for name, value in ML_ENV.items():
        clean_env.setenv(name, value)
    http.get(ML_URL, json={"access_token": "at", "expires_on": "12/31/2099 23:00:00 +00:00"})
    assert client().acquire_token_for_client(resource=RESOURCE)["expires_in"] == 7 * 24 * 3600
    http.replace(responses.GET, ML_URL, status=400, json={"statusCode": 400, "message": "bad"})
    result = client().acquire_token_for_client(resource="https://other")
    assert result == {"error": "invalid_scope", "error_description": "400, bad"}


def test_cloud_shell_request(clean_env: pytest.MonkeyPatch, http: responses.RequestsMock) -> None:
    clean_env.setenv("AZUREPS_HOST_ENVIRONMENT", "cloud-shell/1.0")
    http.post(CLOUD_SHELL_URL, json={"access_token": "user-at", "expires_in": "3599",
                                     "expires_on": str(NOW + 3599), "refresh_token": "",
                                     "resource": RESOURCE, "token_type": "Bearer"})  # fmt: skip
    result = client().acquire_token_for_client(resource=RESOURCE)
    assert result["access_token"] == "user-at"
    assert result["expires_in"] == 3599
    assert "refresh_token" not in result
    request = sent(http)
    assert request["method"] == "POST"
    assert request["form"] == {"resource": RESOURCE}
    assert request["headers"]["Metadata"] == "true"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"code": "TokenExpired", "message": "sign in again"}},
         {"error": "TokenExpired", "error_description": "sign in again"}),
        ({"error": "invalid_request", "error_description": "bad"},
         {"error": "invalid_request", "error_description": "bad"}),
        ({"oops": 1}, {"error": "invalid_request", "error_description": '{"oops": 1}'}),
    ],
)  # fmt: skip
def test_cloud_shell_errors(
    clean_env: pytest.MonkeyPatch,
    http: responses.RequestsMock,
    body: dict[str, Any],
    expected: dict[str, str],
) -> None:
    clean_env.setenv("AZUREPS_HOST_ENVIRONMENT", "cloud-shell/1.0")
    clean_env.setenv("MSI_ENDPOINT", "http://localhost:1234/token")
    http.post("http://localhost:1234/token", status=400, json=body)
    assert client().acquire_token_for_client(resource=RESOURCE) == expected


# --- Service Fabric -----------------------------------------------------------------


def sf_env(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    for name, value in {**SF_ENV, **overrides}.items():
        monkeypatch.setenv(name, value)


def sf_body(token: str = "sf-at") -> dict[str, Any]:
    return {"token_type": "Bearer", "access_token": token, "expires_on": int(time.time()) + 86400,
            "resource": RESOURCE}  # fmt: skip


def test_service_fabric_request(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    sf_env(clean_env)
    http.get(SF_URL, json=sf_body())
    mi = client(UserAssignedManagedIdentity(client_id="ignored"), client_capabilities=["CP1", "x"])
    result = mi.acquire_token_for_client(resource=RESOURCE)
    assert result["access_token"] == "sf-at"
    assert result["refresh_in"] == result["expires_in"] // 2
    request = sent(http)
    assert request["params"] == {
        "api-version": "2019-07-01-preview",
        "resource": RESOURCE,
        "xms_cc": "CP1,x",
    }
    assert request["headers"]["Secret"] == "h"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("SecretHeaderNotFound", "unauthorized_client"),
        ("ManagedIdentityNotFound", "invalid_client"),
        ("ArgumentNullOrEmpty", "invalid_scope"),
        ("InternalServerError", "invalid_request"),
        (None, "invalid_request"),
    ],
)
def test_service_fabric_errors(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock, code: Any, error: str
) -> None:
    sf_env(clean_env)
    body = {"error": {"correlationId": "c", "code": code, "message": "m"}}
    http.get(SF_URL, status=404, json=body)
    result = client().acquire_token_for_client(resource=RESOURCE)
    assert result == {"error": error, "error_description": json.dumps(body)}


@pytest.mark.parametrize(
    "overrides",
    [
        {"IDENTITY_ENDPOINT": "http://localhost:2377/metadata/identity/oauth2/token"},
        {"IDENTITY_ENDPOINT": "https:///no-host"},
        {"IDENTITY_SERVER_THUMBPRINT": "abc"},
        {"IDENTITY_SERVER_THUMBPRINT": "zz" * 20},
    ],
)
def test_service_fabric_configuration_errors(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock, overrides: dict[str, str]
) -> None:
    sf_env(clean_env, **overrides)
    with pytest.raises(ManagedIdentityError):
        client().acquire_token_for_client(resource=RESOURCE)
    assert len(http.calls) == 0


def test_service_fabric_needs_a_requests_session(clean_env: pytest.MonkeyPatch) -> None:
    sf_env(clean_env, IDENTITY_SERVER_THUMBPRINT="ab:" * 19 + "ab")
    fake = MsalStyleClient({}, {})
    with pytest.raises(ManagedIdentityError, match=r"requests\.Session"):
        client(http_client=fake).acquire_token_for_client(resource=RESOURCE)
    assert (fake.get.calls, fake.post.calls) == ([], [])


def test_claims_challenge_on_service_fabric_names_the_old_token(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    sf_env(clean_env)
    http.get(SF_URL, json=sf_body("old"))
    mi = client()
    assert mi.acquire_token_for_client(resource=RESOURCE)["access_token"] == "old"
    assert mi.acquire_token_for_client(resource=RESOURCE)["token_source"] == "cache"
    assert "token_sha256_to_refresh" not in sent(http)["params"]
    http.replace(responses.GET, SF_URL, json=sf_body("new"))
    result = mi.acquire_token_for_client(resource=RESOURCE, claims_challenge='{"access_token":{}}')
    assert result["access_token"] == "new"
    assert result["token_source"] == "identity_provider"
    assert sent(http)["params"]["token_sha256_to_refresh"] == hashlib.sha256(b"old").hexdigest()
    assert mi.acquire_token_for_client(resource=RESOURCE)["access_token"] == "new"
    assert len(http.calls) == 2


def test_claims_challenge_without_a_cached_token_sends_no_hash(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    sf_env(clean_env)
    http.get(SF_URL, json=sf_body())
    client().acquire_token_for_client(resource=RESOURCE, claims_challenge="{}")
    assert "token_sha256_to_refresh" not in sent(http)["params"]


# --- cache ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "cache_client_id"),
    [
        (SystemAssignedManagedIdentity(), None),
        ({"ManagedIdentityIdType": "SystemAssigned"}, "SYSTEM_ASSIGNED_MANAGED_IDENTITY"),
        (UserAssignedManagedIdentity(client_id="cid"), "cid"),
        (UserAssignedManagedIdentity(object_id="oid"), "oid"),
    ],
)
def test_cache_entries_are_msals(
    http: responses.RequestsMock, identity: Any, cache_client_id: Any
) -> None:
    http.get(IMDS, json=imds_body())
    cache = SerializableTokenCache()
    mi = client(identity, token_cache=cache)
    mi.acquire_token_for_client(resource=RESOURCE)
    data = json.loads(cache.serialize())
    [entry] = data["AccessToken"].values()
    assert entry["home_account_id"] is None
    assert entry["environment"] == "localhost"
    assert entry["realm"] == "managed_identity"
    assert entry["client_id"] == cache_client_id
    assert entry["target"] == RESOURCE
    assert entry["secret"] == "at"
    assert int(entry["refresh_on"]) - int(entry["cached_at"]) == 43199
    second = mi.acquire_token_for_client(resource=RESOURCE)
    assert set(second) == {"access_token", "token_type", "expires_in", "token_source", "refresh_on"}
    assert second["token_source"] == "cache"
    assert len(http.calls) == 1


def test_tokens_are_kept_per_identity_and_resource(http: responses.RequestsMock) -> None:
    http.get(IMDS, json=imds_body())
    cache = TokenCache()
    client(token_cache=cache).acquire_token_for_client(resource=RESOURCE)
    client(UserAssignedManagedIdentity(client_id="c"), token_cache=cache).acquire_token_for_client(
        resource=RESOURCE
    )
    client(token_cache=cache).acquire_token_for_client(resource="https://vault.azure.net")
    assert len(http.calls) == 3
    client(token_cache=cache).acquire_token_for_client(resource=RESOURCE)
    assert len(http.calls) == 3


def test_short_lived_tokens_are_not_served_in_the_last_five_minutes(
    http: responses.RequestsMock,
) -> None:
    http.get(IMDS, json=imds_body(expires_in="3600"))
    mi = client()
    first = mi.acquire_token_for_client(resource=RESOURCE)
    assert "refresh_in" not in first
    assert "refresh_on" not in first
    mi._state.now = lambda: time.time() + 3600 - 299
    assert mi.acquire_token_for_client(resource=RESOURCE)["token_source"] == "identity_provider"
    assert len(http.calls) == 2


def test_aging_token_is_refreshed(http: responses.RequestsMock) -> None:
    http.get(IMDS, json=imds_body("first"))
    mi = client()
    mi.acquire_token_for_client(resource=RESOURCE)
    mi._state.now = lambda: time.time() + 43300
    http.replace(responses.GET, IMDS, json=imds_body("second"))
    result = mi.acquire_token_for_client(resource=RESOURCE)
    assert result["access_token"] == "second"
    assert result["token_source"] == "identity_provider"


@pytest.mark.parametrize("failure", ["error", "exception"])
def test_failed_refresh_serves_the_cached_token(http: responses.RequestsMock, failure: str) -> None:
    http.get(IMDS, json=imds_body("first"))
    mi = client()
    mi._state.sleep = lambda seconds: None  # IMDS retries a failure after a pause
    mi.acquire_token_for_client(resource=RESOURCE)
    mi._state.now = lambda: time.time() + 43300
    if failure == "error":
        http.replace(responses.GET, IMDS, status=400, json={"error": "invalid_request"})
    else:
        http.replace(responses.GET, IMDS, body=requests.ConnectionError("down"))
    result = mi.acquire_token_for_client(resource=RESOURCE)
    assert result["access_token"] == "first"
    assert result["token_source"] == "cache"


def test_claims_challenge_bypasses_the_cache_without_fallback(
    http: responses.RequestsMock,
) -> None:
    http.get(IMDS, json=imds_body("first"))
    mi = client()
    mi.acquire_token_for_client(resource=RESOURCE)
    http.replace(responses.GET, IMDS, status=400, json={"error": "invalid_request"})
    result = mi.acquire_token_for_client(resource=RESOURCE, claims_challenge="{}")
    assert result["error"] == "invalid_request"
    assert "token_sha256_to_refresh" not in sent(http)["params"]


def test_connection_error_without_cache_raises(http: responses.RequestsMock) -> None:
    http.get(IMDS, body=requests.ConnectionError("no IMDS here"))
    with pytest.raises(requests.ConnectionError):
        client().acquire_token_for_client(resource=RESOURCE)
    assert len(http.calls) == 1  # off Azure: no retries before IMDS ever answered


def test_error_results_are_not_cached(http: responses.RequestsMock) -> None:
    http.get(IMDS, status=400, json={"error": "invalid_resource"})
    cache = SerializableTokenCache()
    client(token_cache=cache).acquire_token_for_client(resource=RESOURCE)
    assert "AccessToken" not in json.loads(cache.serialize())


# --- throttling ------------------------------------------------------------------------


def test_throttled_answer_is_replayed_locally(http: responses.RequestsMock) -> None:
    http.get(IMDS, status=429, json={"error": "throttled"}, headers={"Retry-After": "60"})
    http_cache: dict[str, Any] = {}
    mi = client(http_cache=http_cache)
    mi._state.imds_retry = NO_RETRY
    first = mi.acquire_token_for_client(resource=RESOURCE)
    assert first["error"] == "throttled"
    assert mi.acquire_token_for_client(resource=RESOURCE) == first
    assert len(http.calls) == 1
    assert len(http_cache) == 1
    other = client(http_cache=http_cache)  # a new client sharing http_cache
    assert other.acquire_token_for_client(resource=RESOURCE) == first
    assert len(http.calls) == 1
    mi.acquire_token_for_client(resource="https://another")  # another request is not throttled
    assert len(http.calls) == 2
    mi._state.now = lambda: time.time() + 61
    mi.acquire_token_for_client(resource=RESOURCE)
    assert len(http.calls) == 3


def test_server_errors_are_throttled_five_seconds(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    for name, value in APP_ENV.items():
        clean_env.setenv(name, value)
    http.get(APP_SERVICE_URL, status=500, json={"statusCode": 500, "message": "x"})
    mi = client()
    mi.acquire_token_for_client(resource=RESOURCE)
    mi.acquire_token_for_client(resource=RESOURCE)
    assert len(http.calls) == 1
    mi._state.now = lambda: time.time() + 6
    mi.acquire_token_for_client(resource=RESOURCE)
    assert len(http.calls) == 2


def test_client_errors_are_not_throttled(http: responses.RequestsMock) -> None:
    http.get(IMDS, status=400, json={"error": "invalid_resource"})
    mi = client()
    mi.acquire_token_for_client(resource=RESOURCE)
    mi.acquire_token_for_client(resource=RESOURCE)
    assert len(http.calls) == 2


# --- Azure Arc (request shape; path rules in test_managed_identity_arc.py) -------------


def test_arc_challenge_and_answer(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock, tmp_path: Any
) -> None:
    for name, value in ARC_ENV.items():
        clean_env.setenv(name, value)
    clean_env.setitem(_arc.ARC_TOKEN_DIRECTORIES, sys.platform, str(tmp_path))
    key_file = tmp_path / "1234.key"
    key_file.write_text("the-secret-key\n")
    http.get(ARC_URL, status=401, headers={"WWW-Authenticate": f"Basic realm={key_file}"})
    http.get(ARC_URL, json=imds_body("arc-at", client_id="c"))
    result = client(UserAssignedManagedIdentity(client_id="c")).acquire_token_for_client(
        resource=RESOURCE
    )
    assert result["access_token"] == "arc-at"
    first, second = sent(http, 0), sent(http, 1)
    expected = {"api-version": "2020-06-01", "resource": RESOURCE, "client_id": "c"}
    assert first["params"] == second["params"] == expected
    assert first["headers"]["Metadata"] == "true"
    assert "Authorization" not in first["headers"]
    assert second["headers"]["Authorization"] == "Basic the-secret-key"


def test_arc_on_an_unsupported_platform(
    clean_env: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    for name, value in ARC_ENV.items():
        clean_env.setenv(name, value)
    clean_env.setattr(_arc, "ARC_TOKEN_DIRECTORIES", {})
    http.get(ARC_URL, status=401, headers={"WWW-Authenticate": "Basic realm=/x/y.key"})
    with pytest.raises(ArcPlatformNotSupportedError):
        client().acquire_token_for_client(resource=RESOURCE)


# --- concurrency and cache hooks ---------------------------------------------------------


def test_concurrent_misses_make_one_request(http: responses.RequestsMock) -> None:
    def slow(request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(0.3)
        return 200, {}, json.dumps(imds_body("shared"))

    http.add_callback(responses.GET, IMDS, callback=slow)
    mi = client()
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(mi.acquire_token_for_client(resource=RESOURCE))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 4
    assert {r["access_token"] for r in results} == {"shared"}
    assert sorted(r["token_source"] for r in results) == ["cache"] * 3 + ["identity_provider"]
    assert len(http.calls) == 1


def test_cache_access_hooks_see_the_managed_identity_partition(
    http: responses.RequestsMock,
) -> None:
    seen: list[tuple[str, Any, bool]] = []
    cache = TokenCache(
        before_access=lambda access: seen.append(("before", access.partition_key, False)),
        after_access=lambda access: seen.append(
            ("after", access.partition_key, access.has_state_changed)
        ),
    )
    http.get(IMDS, json=imds_body())
    client(
        UserAssignedManagedIdentity(client_id="cid"), token_cache=cache
    ).acquire_token_for_client(resource=RESOURCE)
    partition = "cid_managed_identity_AppTokenCache"
    assert {key for _, key, _ in seen} == {partition}
    assert [kind for kind, _, _ in seen] == ["before", "after"] * (len(seen) // 2)
    assert seen[-1] == ("after", partition, True)  # the write
    assert not any(changed for _, _, changed in seen[:-1])  # the lookups


@pytest.mark.msal
def test_msals_identity_objects_are_accepted(http: responses.RequestsMock) -> None:
    msal = require_module("msal")
    http.get(IMDS, json=imds_body())
    cache = SerializableTokenCache()
    client(msal.UserAssignedManagedIdentity(object_id="o"), token_cache=cache)
    mi = client(msal.SystemAssignedManagedIdentity(), token_cache=cache)
    mi.acquire_token_for_client(resource=RESOURCE)
    assert sent(http)["params"] == {"api-version": "2018-02-01", "resource": RESOURCE}
    [entry] = json.loads(cache.serialize())["AccessToken"].values()
    assert entry["client_id"] is None  # msal's cache id for SystemAssignedManagedIdentity()
    base = msal.managed_identity.ManagedIdentity
    assert base.is_managed_identity(SystemAssignedManagedIdentity())
    assert base.is_user_assigned(UserAssignedManagedIdentity(client_id="c"))
