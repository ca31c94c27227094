"""Regional token endpoints (ESTS-R) for acquire_token_for_client: the region choice, its
validation, detection (REGION_NAME, IMDS once per process, bounded), and the endpoint."""

from __future__ import annotations

import ast
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

import identitylib
from identitylib import ConfidentialClientApplication, PublicClientApplication
from identitylib._authority import _region
from identitylib._authority._region import (
    IMDS_API_VERSION,
    PROBE_TIMEOUT,
    configured_region,
    detect_region_flow,
    regional_endpoint,
    regional_host,
)
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse
from identitylib.emulator import Emulator
from identitylib.emulator._managed_identity import EMULATOR_REGION
from tests._servers import require_module

from .conftest import CLIENT_ID, TENANT, add_discovery, oidc_config
from .test_client_credentials import body_of, token_json
from .test_on_behalf_of import obo_token

SCOPE = ["https://graph.microsoft.com/.default"]
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
REGIONAL = f"https://westus2.login.microsoft.com/{TENANT}/oauth2/v2.0/token"
CENTRAL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
IMDS = "http://imds.test"
HANG = 10 * sum(PROBE_TIMEOUT)  # seconds: bounds a wait for a hang, far above the probe's timeout
IMDS_COMPUTE = f"{IMDS}/metadata/instance/compute?api-version={IMDS_API_VERSION}"


@pytest.fixture(autouse=True)
def _no_region_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("MSAL_FORCE_REGION", "REGION_NAME", "IDENTITYLIB_IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    _region.reset_detected_region()
    yield
    _region.reset_detected_region()


def make_app(azure_region: Any = None, **kwargs: Any) -> ConfidentialClientApplication:
    kwargs.setdefault("authority", AUTHORITY)
    return ConfidentialClientApplication(CLIENT_ID, "s3cret", azure_region=azure_region, **kwargs)


def posts(http: responses.RequestsMock) -> list[str]:
    return [str(c.request.url) for c in http.calls if c.request.method == "POST"]


def gets(http: responses.RequestsMock) -> list[str]:
    return [str(c.request.url) for c in http.calls if c.request.method == "GET"]


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("login.microsoftonline.com", "westus2.login.microsoft.com"),
        ("login.microsoft.com", "westus2.login.microsoft.com"),
        ("login.windows.net", "westus2.login.microsoft.com"),
        ("sts.windows.net", "westus2.login.microsoft.com"),
        ("login.microsoftonline.us", "westus2.login.microsoftonline.us"),
        ("login.chinacloudapi.cn", "westus2.login.chinacloudapi.cn"),
        ("127.0.0.1", "westus2.127.0.0.1"),
    ],
)
def test_regional_host(host: str, expected: str) -> None:
    assert regional_host("westus2", host) == expected


def test_regional_endpoint_keeps_everything_but_the_host() -> None:
    assert regional_endpoint(CENTRAL, "westus2", "login.microsoftonline.com") == REGIONAL
    assert (
        regional_endpoint("http://127.0.0.1:8400/t/oauth2/v2.0/token?x=1", "r1", "127.0.0.1")
        == "http://r1.127.0.0.1:8400/t/oauth2/v2.0/token?x=1"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (False, None), (True, True), ("westus2", "westus2"), ("a" * 63, "a" * 63)],
)
def test_configured_region(value: Any, expected: Any) -> None:
    assert configured_region(value, confidential=True) == expected


BAD_REGIONS = [
    "",
    "west us",
    "-westus",
    "westus-",
    "2westus",
    "a" * 64,
    "westus2.evil.example",
    "w/x",
    "WestUS2",
    " westus2",
]


@pytest.mark.parametrize("bad", [*BAD_REGIONS, 5])
@pytest.mark.parametrize("kind", ["confidential", "public"])
def test_invalid_regions_fail_at_construction(
    http: responses.RequestsMock, bad: Any, kind: str
) -> None:
    app_class = ConfidentialClientApplication if kind == "confidential" else PublicClientApplication
    credential = "s3cret" if kind == "confidential" else None
    with pytest.raises(ValueError, match="azure_region"):
        app_class(CLIENT_ID, credential, authority=AUTHORITY, azure_region=bad)
    assert len(http.calls) == 0


def test_forced_region_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSAL_FORCE_REGION", "eastus")
    assert configured_region(None, confidential=True) == "eastus"
    assert configured_region(None, confidential=False) is None
    assert configured_region(False, confidential=True) is None
    assert configured_region("westus2", confidential=True) == "westus2"
    for bad in ("not a region", "", " eastus"):  # set but empty counts, as in msal
        monkeypatch.setenv("MSAL_FORCE_REGION", bad)
        with pytest.raises(ValueError, match="MSAL_FORCE_REGION"):
            make_app()
        make_app(False)  # opted out: the variable is not even read
        PublicClientApplication(CLIENT_ID, authority=AUTHORITY)  # public apps ignore it


MSAL_CASES = [
    *[({"azure_region": bad}, None) for bad in BAD_REGIONS],
    ({"azure_region": "westus2"}, None),
    ({"azure_region": True}, None),
    ({"azure_region": False}, ""),
    ({}, ""),
    ({}, " "),
    ({}, "Westus2"),
    ({}, "eastus"),
    ({"azure_region": "westus2"}, "bad region"),
]


@pytest.mark.msal
@pytest.mark.parametrize(("kwargs", "forced"), MSAL_CASES)
@pytest.mark.parametrize(
    "app_class", ["ConfidentialClientApplication", "PublicClientApplication", "ClientApplication"]
)
def test_region_checks_at_construction_are_msals(
    http: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    forced: str | None,
    app_class: str,
) -> None:
    """The same constructor call raises ValueError in msal 1.39, identitylib and
    identitylib.aio, or in none of them."""
    msal = require_module("msal")
    aio = require_module("identitylib.aio")
    if forced is not None:
        monkeypatch.setenv("MSAL_FORCE_REGION", forced)
    monkeypatch.setenv("REGION_NAME", "westus2")  # msal would ask IMDS in its constructor
    http.get(re.compile(r"https://[a-z0-9.]*login\.microsoft(online)?\.com/.*"), json=oidc_config())
    credential = {"client_credential": "s3cret"} if "Confidential" in app_class else {}
    classes = [getattr(msal, app_class), getattr(identitylib, app_class)]
    if app_class != "ClientApplication":
        classes.append(getattr(aio, app_class))
    outcomes = []
    for cls in classes:
        try:
            cls(CLIENT_ID, authority=AUTHORITY, **credential, **kwargs)
        except ValueError:
            outcomes.append("ValueError")
        else:
            outcomes.append("accepted")
    assert outcomes == [outcomes[0]] * len(classes), outcomes


def test_probe_flow_is_sans_io(monkeypatch: pytest.MonkeyPatch) -> None:
    flow = detect_region_flow("http://imds.test")
    request = next(flow)
    assert request.method == "GET"  # type: ignore[union-attr]
    assert request.url == "http://imds.test/metadata/instance/compute"  # type: ignore[union-attr]
    assert request.params == {"api-version": "2021-02-01"}  # type: ignore[union-attr]
    assert request.headers == {"Metadata": "true"}  # type: ignore[union-attr]
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, '{"location": "eastus2", "name": "vm"}'))
    assert done.value.value == "eastus2"
    monkeypatch.setenv("REGION_NAME", "centralus")
    with pytest.raises(StopIteration) as named:
        next(detect_region_flow("http://imds.test"))
    assert named.value.value == "centralus"


@pytest.mark.parametrize(
    "answer",
    [
        HttpResponse(404, '{"error": "not_found"}'),
        HttpResponse(200, "westus2"),  # text, not the JSON document
        HttpResponse(200, '{"location": 5}'),
        HttpResponse(200, '{"location": "west us"}'),
        HttpResponse(200, '["westus2"]'),
        HttpResponse(200, "{}"),
    ],
)
def test_unusable_imds_answers_mean_no_region(answer: HttpResponse) -> None:
    flow = detect_region_flow("http://imds.test")
    next(flow)
    with pytest.raises(StopIteration) as done:
        flow.send(answer)
    assert done.value.value is None


def test_probe_failure_means_no_region() -> None:
    flow = detect_region_flow("http://imds.test")
    next(flow)
    with pytest.raises(StopIteration) as done:
        flow.throw(requests.ConnectionError("no route"))
    assert done.value.value is None


def test_the_region_module_sends_nothing_itself() -> None:
    """No HTTP library in the authority floor's region module (even imported lazily): its
    probe is a flow, driven by the shared drivers."""
    tree = ast.parse(Path(_region.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"requests", "urllib3", "httpx", "http", "socket"}, imported


def test_detection_hands_the_probe_flow_to_its_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITYLIB_IMDS_ENDPOINT", IMDS)
    driven: list[HttpRequest] = []

    def drive(flow: Flow[Any]) -> Any:
        step = next(flow)
        assert isinstance(step, HttpRequest)
        driven.append(step)
        try:
            flow.send(HttpResponse(200, '{"location": "westus3"}'))
        except StopIteration as done:
            return done.value
        raise AssertionError("the probe sends one request")

    assert _region.detect_region(run=drive) == "westus3"
    assert _region.detect_region(run=drive) == "westus3"  # remembered for the process
    assert [request.url for request in driven] == [f"{IMDS}/metadata/instance/compute"]


# ---------------------------------------------------------------- token requests


def test_explicit_region_uses_the_regional_endpoint(http: responses.RequestsMock) -> None:
    add_discovery(http)
    http.post(REGIONAL, json=token_json("regional-at"))
    app = make_app("westus2")
    assert len(http.calls) == 0  # nothing in the constructor
    result = app.acquire_token_for_client(SCOPE)
    assert result["access_token"] == "regional-at"
    assert posts(http) == [REGIONAL]
    assert body_of(http.calls[-1])["grant_type"] == "client_credentials"
    # No discovery (a well-known cloud's endpoints are known), no IMDS probe for an
    # explicit region, no regional discovery.
    assert gets(http) == []
    # The cache entry keeps the central environment and the tenant realm.
    (entry,) = app.token_cache._cache["AccessToken"].values()
    assert (entry["environment"], entry["realm"]) == ("login.microsoftonline.com", TENANT)
    calls = len(http.calls)
    assert app.acquire_token_for_client(SCOPE)["token_source"] == "cache"
    assert len(http.calls) == calls


def test_alias_and_sovereign_authorities(http: responses.RequestsMock) -> None:
    add_discovery(http, base="https://login.windows.net")
    http.post(REGIONAL, json=token_json())
    app = make_app("westus2", authority=f"https://login.windows.net/{TENANT}")
    assert "access_token" in app.acquire_token_for_client(SCOPE)
    add_discovery(http, base="https://login.microsoftonline.us")
    us = f"https://westus2.login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"
    http.post(us, json=token_json())
    gov = make_app("westus2", authority=f"https://login.microsoftonline.us/{TENANT}")
    assert "access_token" in gov.acquire_token_for_client(SCOPE)
    assert posts(http) == [REGIONAL, us]


def test_forced_region_from_env(
    http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MSAL_FORCE_REGION", "westus2")
    add_discovery(http)
    http.post(REGIONAL, json=token_json())
    http.post(CENTRAL, json=token_json())
    make_app().acquire_token_for_client(SCOPE)
    make_app(False).acquire_token_for_client(["api://other/.default"])
    assert posts(http) == [REGIONAL, CENTRAL]


def test_no_region_by_default(http: responses.RequestsMock) -> None:
    add_discovery(http)
    http.post(CENTRAL, json=token_json())
    make_app().acquire_token_for_client(SCOPE)
    assert posts(http) == [CENTRAL]


def test_only_client_credentials_go_regional(http: responses.RequestsMock) -> None:
    add_discovery(http)
    http.post(CENTRAL, json=obo_token())
    app = make_app("westus2")
    assert "access_token" in app.acquire_token_on_behalf_of("incoming.jwt.token", ["User.Read"])
    assert posts(http) == [CENTRAL]


def test_client_assertion_audience_is_the_regional_endpoint(
    http: responses.RequestsMock,
) -> None:
    add_discovery(http)
    http.post(REGIONAL, json=token_json())
    seen: list[dict[str, Any]] = []

    def assertion(context: dict[str, Any]) -> str:
        seen.append(context)
        return "signed.jwt.assertion"

    app = ConfidentialClientApplication(
        CLIENT_ID,
        {"client_assertion": assertion},
        authority=AUTHORITY,
        azure_region="westus2",
    )
    app.acquire_token_for_client(SCOPE)
    assert seen[-1]["token_endpoint"] == REGIONAL


def test_regional_endpoint_not_used_for_adfs(http: responses.RequestsMock) -> None:
    base = "https://adfs.contoso.com/adfs"
    http.get(
        f"{base}/.well-known/openid-configuration",
        json={
            "issuer": base,
            "token_endpoint": f"{base}/oauth2/token",
            "authorization_endpoint": f"{base}/oauth2/authorize",
        },
    )
    http.post(f"{base}/oauth2/token", json=token_json())
    app = ConfidentialClientApplication(CLIENT_ID, "s", authority=base, azure_region="westus2")
    assert "access_token" in app.acquire_token_for_client(SCOPE)
    assert posts(http) == [f"{base}/oauth2/token"]


# ---------------------------------------------------------------- detection


def test_detection_from_region_name(
    http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGION_NAME", "westus2")
    add_discovery(http)
    http.post(REGIONAL, json=token_json())
    make_app(True).acquire_token_for_client(SCOPE)
    assert posts(http) == [REGIONAL]
    assert all("metadata" not in url for url in gets(http))


def test_detection_asks_imds_once_per_process(
    http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITYLIB_IMDS_ENDPOINT", IMDS + "/")
    add_discovery(http)
    probe = http.get(IMDS_COMPUTE, json={"location": "westus2", "name": "vm1"})
    http.post(REGIONAL, json=token_json())
    app = make_app(ConfidentialClientApplication.ATTEMPT_REGION_DISCOVERY)
    assert probe.call_count == 0  # never in the constructor
    app.acquire_token_for_client(SCOPE)
    assert probe.call_count == 1
    imds_call = next(c for c in http.calls if c.request.url == IMDS_COMPUTE)
    assert imds_call.request.headers["Metadata"] == "true"
    make_app(True).acquire_token_for_client(["api://other/.default"])
    assert probe.call_count == 1
    assert posts(http) == [REGIONAL, REGIONAL]


def test_failed_detection_is_remembered_too(
    http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITYLIB_IMDS_ENDPOINT", IMDS)
    add_discovery(http)
    probe = http.get(IMDS_COMPUTE, body=requests.ConnectionError("no route to host"))
    http.post(CENTRAL, json=token_json())
    make_app(True).acquire_token_for_client(SCOPE)
    make_app(True).acquire_token_for_client(["api://other/.default"])
    assert probe.call_count == 1
    assert posts(http) == [CENTRAL, CENTRAL]


def test_detection_never_hangs_on_a_silent_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that accepts the connection but never answers: the read timeout ends it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # never accept()ed: connects succeed, nothing is ever sent
        port = server.getsockname()[1]
        monkeypatch.setenv("IDENTITYLIB_IMDS_ENDPOINT", f"http://127.0.0.1:{port}")
        detected: list[str | None] = []
        probing = threading.Thread(target=lambda: detected.append(_region.detect_region()))
        probing.start()
        probing.join(HANG)  # only bounds the wait: without a read timeout it never ends
        assert not probing.is_alive()
        assert detected == [None]
        server.settimeout(HANG)
        peer, _ = server.accept()  # the probe did connect: the timeout ended it, not a refusal
        peer.close()


def test_detection_over_http_ignores_proxy_settings(
    monkeypatch: pytest.MonkeyPatch, emulator: Emulator
) -> None:
    """IMDS is link-local: a proxy from the environment must never see the probe. The
    emulator's instance metadata answers only a probe with ``Metadata: true`` and an
    ``api-version``, as IMDS does."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: refused
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITYLIB_IMDS_ENDPOINT", emulator.base_url)
    assert _region.detect_region() == EMULATOR_REGION
    assert emulator.requests == [("GET", "/metadata/instance/compute")]


def test_a_cache_hit_never_detects_the_region(
    http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITYLIB_IMDS_ENDPOINT", IMDS)
    add_discovery(http)
    http.post(CENTRAL, json=token_json())
    writer = make_app()
    writer.acquire_token_for_client(SCOPE)
    probe = http.get(IMDS_COMPUTE, json={"location": "westus2"})
    reader = make_app(True, token_cache=writer.token_cache)
    assert reader.acquire_token_for_client(SCOPE)["token_source"] == "cache"
    assert probe.call_count == 0
