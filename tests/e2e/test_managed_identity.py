"""ManagedIdentityClient against the emulator, every source over real HTTP(S), and a token
cache shared with msal 1.39's ManagedIdentityClient."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from identitylib import SerializableTokenCache
from identitylib._managed_identity import (
    APP_SERVICE,
    AZURE_ARC,
    CLOUD_SHELL,
    DEFAULT_TO_VM,
    MACHINE_LEARNING,
    SERVICE_FABRIC,
    ManagedIdentityClient,
    ManagedIdentityError,
    SystemAssignedManagedIdentity,
    UserAssignedManagedIdentity,
    _arc,
    _sources,
    get_managed_identity_source,
)
from identitylib._managed_identity._context import IMDS_RETRY
from identitylib.emulator import DEMO_API_ID, DEMO_API_URI, DEMO_MI_CLIENT_ID, Emulator
from identitylib.emulator._mi_sources import (
    disable_arc,
    enable_arc,
    managed_identity_environment,
    managed_identity_requests,
    reset_managed_identity_requests,
)
from tests._servers import require_module

RESOURCE = "https://management.azure.com/"
SYSTEM_MI = "a1b2c3d4-0007-4000-8000-0000000000e5"
MI_OID = "0a1b2c3d-0000-4000-8000-0000000000e2"
MI_RESOURCE_ID = (
    "/subscriptions/0/resourceGroups/demo/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/demo-mi"
)
SOURCE_OF = {
    "imds": DEFAULT_TO_VM,
    "app_service": APP_SERVICE,
    "machine_learning": MACHINE_LEARNING,
    "cloud_shell": CLOUD_SHELL,
    "azure_arc": AZURE_ARC,
    "service_fabric": SERVICE_FABRIC,
}
#: The header each source's secret travels in (lower-cased, as the emulator logs names).
SECRET_HEADER = {
    "app_service": "x-identity-header",
    "machine_learning": "secret",
    "service_fabric": "secret",
    "azure_arc": "authorization",
}


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def emu_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(tls=True, state_dir=tmp_path_factory.mktemp("mi-tls")) as emulator:
        yield emulator


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No managed-identity variables from the machine; Arc's token directory in tmp_path."""
    for name in _sources.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_sources, "ARC_AGENT_FILES", {})
    monkeypatch.setitem(_arc.ARC_TOKEN_DIRECTORIES, sys.platform, str(tmp_path / "tokens"))
    return monkeypatch


@pytest.fixture(autouse=True)
def _clean(emu: Emulator, emu_tls: Emulator) -> Iterator[None]:
    for emulator in (emu, emu_tls):
        emulator.faults.reset()
        emulator.reset_requests()
        reset_managed_identity_requests(emulator)
    yield
    for emulator in (emu, emu_tls):
        disable_arc(emulator)


def use(env: pytest.MonkeyPatch, emulator: Emulator, source: str) -> None:
    if source == "azure_arc":
        enable_arc(emulator, _arc.ARC_TOKEN_DIRECTORIES[sys.platform])
    for name, value in managed_identity_environment(emulator, source).items():
        env.setenv(name, value)
    assert get_managed_identity_source() is SOURCE_OF[source]


def claims_of(emulator: Emulator, token: str, audience: str) -> dict[str, Any]:
    """Verify the token's signature with the emulator's JWKS; return its claims."""
    session = requests.Session()
    session.trust_env = False
    session.verify = emulator.ca_path or True
    keys = session.get(f"{emulator.authority()}/discovery/v2.0/keys", timeout=10).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwt.PyJWKSet.from_dict(keys).keys if k.key_id == kid)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience)


def last_request(emulator: Emulator, source: str) -> dict[str, Any]:
    return next(r for r in reversed(managed_identity_requests(emulator)) if r["source"] == source)


PLAIN_SOURCES = ["imds", "app_service", "machine_learning", "cloud_shell", "azure_arc"]


@pytest.mark.parametrize("source", PLAIN_SOURCES)
def test_system_assigned_then_cache(emu: Emulator, env: pytest.MonkeyPatch, source: str) -> None:
    use(env, emu, source)
    cache = SerializableTokenCache()
    client = ManagedIdentityClient(SystemAssignedManagedIdentity(), token_cache=cache)
    first = client.acquire_token_for_client(resource=RESOURCE)
    assert first["token_source"] == "identity_provider", first
    assert first["token_type"] == "Bearer"
    assert first["resource"] == RESOURCE
    assert 3500 < first["expires_in"] <= 3600
    claims = claims_of(emu, first["access_token"], RESOURCE)
    assert claims["appid"] == SYSTEM_MI
    assert claims["idtyp"] == "app"
    request = last_request(emu, source)
    assert request["params"].get("resource") == RESOURCE
    if source in SECRET_HEADER:
        assert SECRET_HEADER[source] in request["header_names"]
    served = len(emu.requests)
    second = client.acquire_token_for_client(resource=RESOURCE)
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert len(emu.requests) == served
    [entry] = json.loads(cache.serialize())["AccessToken"].values()
    assert (entry["environment"], entry["realm"], entry["client_id"]) == (
        "localhost",
        "managed_identity",
        None,
    )


USER_ASSIGNED = [
    ("imds", UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID),
     {"client_id": DEMO_MI_CLIENT_ID}),
    ("imds", UserAssignedManagedIdentity(object_id=MI_OID), {"object_id": MI_OID}),
    ("imds", UserAssignedManagedIdentity(resource_id=MI_RESOURCE_ID),
     {"msi_res_id": MI_RESOURCE_ID}),
    ("app_service", UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID),
     {"client_id": DEMO_MI_CLIENT_ID}),
    ("app_service", UserAssignedManagedIdentity(resource_id=MI_RESOURCE_ID),
     {"mi_res_id": MI_RESOURCE_ID}),
    ("app_service", {"ManagedIdentityIdType": "ObjectId", "Id": MI_OID}, {"object_id": MI_OID}),
    ("machine_learning", UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID),
     {"clientid": DEMO_MI_CLIENT_ID}),
    ("azure_arc", UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID),
     {"client_id": DEMO_MI_CLIENT_ID}),
    ("azure_arc", UserAssignedManagedIdentity(object_id=MI_OID), {"object_id": MI_OID}),
    ("azure_arc", UserAssignedManagedIdentity(resource_id=MI_RESOURCE_ID),
     {"msi_res_id": MI_RESOURCE_ID}),
]  # fmt: skip


@pytest.mark.parametrize(("source", "identity", "selector"), USER_ASSIGNED)
def test_user_assigned(
    emu: Emulator, env: pytest.MonkeyPatch, source: str, identity: Any, selector: dict[str, str]
) -> None:
    use(env, emu, source)
    cache = SerializableTokenCache()
    client = ManagedIdentityClient(identity, token_cache=cache)
    result = client.acquire_token_for_client(resource=f"{DEMO_API_URI}")
    assert result["token_source"] == "identity_provider", result
    claims = claims_of(emu, result["access_token"], DEMO_API_ID)
    assert claims["appid"] == DEMO_MI_CLIENT_ID
    assert claims["oid"] == MI_OID
    params = last_request(emu, source)["params"]
    assert {k: params[k] for k in selector} == selector
    [entry] = json.loads(cache.serialize())["AccessToken"].values()
    assert entry["client_id"] == identity["Id"]
    served = len(emu.requests)
    assert client.acquire_token_for_client(resource=DEMO_API_URI)["token_source"] == "cache"
    assert len(emu.requests) == served


@pytest.mark.parametrize(
    ("source", "error", "description"),
    [
        ("imds", "invalid_request", "Identity not found"),
        ("app_service", "invalid_scope", "400, Identity not found"),
        ("machine_learning", "invalid_scope", "400, Identity not found"),
    ],
)
def test_unknown_identity(
    emu: Emulator, env: pytest.MonkeyPatch, source: str, error: str, description: str
) -> None:
    use(env, emu, source)
    client = ManagedIdentityClient(UserAssignedManagedIdentity(client_id="no-such-identity"))
    result = client.acquire_token_for_client(resource=RESOURCE)
    assert result["error"] == error
    assert result["error_description"] == description


def test_imds_through_the_pod_identity_host(emu: Emulator, env: pytest.MonkeyPatch) -> None:
    env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.base_url)
    client = ManagedIdentityClient(SystemAssignedManagedIdentity())
    assert client.acquire_token_for_client(resource=RESOURCE)["token_source"] == "identity_provider"
    assert emu.requests == [("GET", "/metadata/identity/oauth2/token")]


def test_imds_retries_transient_failures(emu: Emulator, env: pytest.MonkeyPatch) -> None:
    use(env, emu, "imds")
    emu.faults.inject(503, count=2, path_contains="/metadata/identity")
    client = ManagedIdentityClient(SystemAssignedManagedIdentity())
    client._state.imds_retry = dataclasses.replace(IMDS_RETRY, backoff=0.05)
    result = client.acquire_token_for_client(resource=RESOURCE)
    assert result["token_source"] == "identity_provider", result
    assert emu.requests == [("GET", "/metadata/identity/oauth2/token")] * 3


def test_imds_throttling_is_remembered(emu: Emulator, env: pytest.MonkeyPatch) -> None:
    use(env, emu, "imds")
    emu.faults.inject(429, count=1, retry_after=30, path_contains="/metadata/identity")
    http_cache: dict[str, Any] = {}
    client = ManagedIdentityClient(SystemAssignedManagedIdentity(), http_cache=http_cache)
    first = client.acquire_token_for_client(resource=RESOURCE)
    assert first["error"] == "temporarily_unavailable"
    assert client.acquire_token_for_client(resource=RESOURCE) == first
    assert len(emu.requests) == 1  # Retry-After 30 s: beyond the retry budget, then remembered


@pytest.mark.parametrize(("token_type", "accepted"), [("mac", False), ("BEARER", True)])
def test_a_token_type_other_than_bearer_is_an_error(
    emu: Emulator, env: pytest.MonkeyPatch, token_type: str, accepted: bool
) -> None:
    use(env, emu, "imds")
    body = {"access_token": "mi-at", "expires_in": "3600", "token_type": token_type}
    emu.faults.inject(200, body=body, path_contains="/metadata/identity")
    cache = SerializableTokenCache()
    client = ManagedIdentityClient(SystemAssignedManagedIdentity(), token_cache=cache)
    result = client.acquire_token_for_client(resource=RESOURCE)
    if accepted:
        assert result["access_token"] == "mi-at", result
        assert len(list(cache.search("AccessToken"))) == 1
    else:
        assert result["error"] == "invalid_response", result
        assert "'mac'" in result["error_description"]
        assert list(cache.search("AccessToken")) == []


def test_off_azure_fails_fast(env: pytest.MonkeyPatch) -> None:
    env.setenv("IDENTITYLIB_IMDS_ENDPOINT", "http://127.0.0.1:9/metadata/identity/oauth2/token")
    client = ManagedIdentityClient(SystemAssignedManagedIdentity())
    with pytest.raises(requests.ConnectionError):
        client.acquire_token_for_client(resource=RESOURCE)


def test_cloud_shell_posts_the_resource(emu: Emulator, env: pytest.MonkeyPatch) -> None:
    use(env, emu, "cloud_shell")
    client = ManagedIdentityClient(SystemAssignedManagedIdentity())
    client.acquire_token_for_client(resource=RESOURCE)
    assert emu.requests == [("POST", "/cloudshell/oauth2/token")]
    request = last_request(emu, "cloud_shell")
    assert request["params"] == {"resource": RESOURCE}
    assert "metadata" in request["header_names"]


def test_arc_uses_and_removes_one_key_per_token(
    emu: Emulator, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(env, emu, "azure_arc")
    client = ManagedIdentityClient(SystemAssignedManagedIdentity())
    client.acquire_token_for_client(resource=RESOURCE)
    client.acquire_token_for_client(resource="https://vault.azure.net")
    path = "/arc/metadata/identity/oauth2/token"
    assert emu.requests == [("GET", path)] * 4
    assert list((tmp_path / "tokens").iterdir()) == []


def test_arc_legacy_agent_is_caught(emu: Emulator, env: pytest.MonkeyPatch) -> None:
    use(env, emu, "azure_arc")
    enable_arc(emu, _arc.ARC_TOKEN_DIRECTORIES[sys.platform], echo_identity=False)
    user = ManagedIdentityClient(UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID))
    with pytest.raises(ManagedIdentityError, match="did not confirm"):
        user.acquire_token_for_client(resource=RESOURCE)
    system = ManagedIdentityClient(SystemAssignedManagedIdentity())
    assert "access_token" in system.acquire_token_for_client(resource=RESOURCE)


def test_arc_key_outside_the_token_directory_is_refused(
    emu: Emulator, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(env, emu, "azure_arc")
    enable_arc(emu, tmp_path / "elsewhere")
    with pytest.raises(ManagedIdentityError, match="outside its token directory"):
        ManagedIdentityClient(SystemAssignedManagedIdentity()).acquire_token_for_client(
            resource=RESOURCE
        )
    assert len(emu.requests) == 1  # the key was never sent


# --- Service Fabric over the TLS emulator ----------------------------------------------


def test_service_fabric(emu_tls: Emulator, env: pytest.MonkeyPatch) -> None:
    use(env, emu_tls, "service_fabric")
    cache = SerializableTokenCache()
    client = ManagedIdentityClient(
        SystemAssignedManagedIdentity(), token_cache=cache, client_capabilities=["CP1"]
    )
    first = client.acquire_token_for_client(resource=RESOURCE)
    assert first["token_source"] == "identity_provider", first
    assert claims_of(emu_tls, first["access_token"], RESOURCE)["appid"] == SYSTEM_MI
    request = last_request(emu_tls, "service_fabric")
    assert request["params"] == {
        "api-version": "2019-07-01-preview",
        "resource": RESOURCE,
        "xms_cc": "CP1",
    }
    assert "secret" in request["header_names"]
    served = len(emu_tls.requests)
    assert client.acquire_token_for_client(resource=RESOURCE)["token_source"] == "cache"
    assert len(emu_tls.requests) == served
    renewed = client.acquire_token_for_client(resource=RESOURCE, claims_challenge='{"a":1}')
    assert renewed["token_source"] == "identity_provider"
    digest = hashlib.sha256(first["access_token"].encode()).hexdigest()
    assert last_request(emu_tls, "service_fabric")["params"]["token_sha256_to_refresh"] == digest


def test_service_fabric_wrong_thumbprint(emu_tls: Emulator, env: pytest.MonkeyPatch) -> None:
    use(env, emu_tls, "service_fabric")
    env.setenv("IDENTITY_SERVER_THUMBPRINT", "12" * 20)
    client = ManagedIdentityClient(SystemAssignedManagedIdentity())
    with pytest.raises(requests.exceptions.SSLError):
        client.acquire_token_for_client(resource=RESOURCE)
    assert managed_identity_requests(emu_tls) == []


def test_service_fabric_wrong_secret(emu_tls: Emulator, env: pytest.MonkeyPatch) -> None:
    use(env, emu_tls, "service_fabric")
    env.setenv("IDENTITY_HEADER", "not-the-secret")
    result = ManagedIdentityClient(SystemAssignedManagedIdentity()).acquire_token_for_client(
        resource=RESOURCE
    )
    assert result["error"] == "invalid_client"
    assert "ManagedIdentityNotFound" in result["error_description"]


# --- a cache shared with msal ------------------------------------------------------------

msal_mark = pytest.mark.msal


class TimeoutSession(requests.Session):
    """msal passes no timeout; this session bounds every request of a test."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", 10)
        return super().request(*args, **kwargs)


def msal_client(identity: Any, cache: Any) -> Any:
    msal = require_module("msal")
    session = TimeoutSession()
    session.trust_env = False
    return msal.ManagedIdentityClient(identity, http_client=session, token_cache=cache)


IDENTITIES = [
    lambda: SystemAssignedManagedIdentity(),
    lambda: {"ManagedIdentityIdType": "SystemAssigned"},
    lambda: UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID),
    lambda: {"ManagedIdentityIdType": "ResourceId", "Id": MI_RESOURCE_ID},
]


@msal_mark
@pytest.mark.parametrize("make_identity", IDENTITIES)
def test_msal_reads_our_cache(emu: Emulator, env: pytest.MonkeyPatch, make_identity: Any) -> None:
    msal = require_module("msal")
    env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.base_url)
    ours = SerializableTokenCache()
    mine = ManagedIdentityClient(make_identity(), token_cache=ours)
    token = mine.acquire_token_for_client(resource=RESOURCE)
    assert token["token_source"] == "identity_provider", token
    theirs = msal.SerializableTokenCache()
    theirs.deserialize(ours.serialize())
    served = len(emu.requests)
    result = msal_client(make_identity(), theirs).acquire_token_for_client(resource=RESOURCE)
    assert result["token_source"] == "cache", result
    assert result["access_token"] == token["access_token"]
    assert result["refresh_on"] if "refresh_on" in token else "refresh_on" not in result
    assert len(emu.requests) == served


@msal_mark
@pytest.mark.parametrize("make_identity", IDENTITIES)
def test_we_read_msals_cache(emu: Emulator, env: pytest.MonkeyPatch, make_identity: Any) -> None:
    msal = require_module("msal")
    env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.base_url)
    theirs = msal.SerializableTokenCache()
    token = msal_client(make_identity(), theirs).acquire_token_for_client(resource=RESOURCE)
    assert token["token_source"] == "identity_provider", token
    ours = SerializableTokenCache()
    ours.deserialize(theirs.serialize())
    served = len(emu.requests)
    mine = ManagedIdentityClient(make_identity(), token_cache=ours)
    result = mine.acquire_token_for_client(resource=RESOURCE)
    assert result["token_source"] == "cache", result
    assert result["access_token"] == token["access_token"]
    assert len(emu.requests) == served
    assert json.loads(ours.serialize()) == json.loads(theirs.serialize())


@msal_mark
def test_one_cache_object_shared_both_ways(emu: Emulator, env: pytest.MonkeyPatch) -> None:
    msal = require_module("msal")
    env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.base_url)
    identity = UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID)
    their_cache = msal.TokenCache()
    ManagedIdentityClient(identity, token_cache=their_cache).acquire_token_for_client(
        resource=RESOURCE
    )
    assert (
        msal_client(identity, their_cache).acquire_token_for_client(resource=RESOURCE)[
            "token_source"
        ]
        == "cache"
    )
    our_cache = SerializableTokenCache()
    msal_client(identity, our_cache).acquire_token_for_client(resource=DEMO_API_URI)
    again = ManagedIdentityClient(identity, token_cache=our_cache)
    assert again.acquire_token_for_client(resource=DEMO_API_URI)["token_source"] == "cache"
    assert emu.requests == [("GET", "/metadata/identity/oauth2/token")] * 2


@msal_mark
@pytest.mark.parametrize("source", ["app_service", "machine_learning"])
def test_msal_against_the_emulated_sources(
    emu: Emulator, env: pytest.MonkeyPatch, source: str
) -> None:
    use(env, emu, source)
    identity = UserAssignedManagedIdentity(client_id=DEMO_MI_CLIENT_ID)
    result = msal_client(identity, None).acquire_token_for_client(resource=DEMO_API_URI)
    assert result["token_source"] == "identity_provider", result
    assert claims_of(emu, result["access_token"], DEMO_API_ID)["appid"] == DEMO_MI_CLIENT_ID


@msal_mark
def test_msal_against_emulated_service_fabric(emu_tls: Emulator, env: pytest.MonkeyPatch) -> None:
    use(env, emu_tls, "service_fabric")
    result = msal_client(SystemAssignedManagedIdentity(), None).acquire_token_for_client(
        resource=RESOURCE
    )
    assert result["token_source"] == "identity_provider", result
    env.setenv("IDENTITY_SERVER_THUMBPRINT", "12" * 20)
    with pytest.raises(requests.exceptions.SSLError):
        msal_client(SystemAssignedManagedIdentity(), None).acquire_token_for_client(
            resource="https://other"
        )


@msal_mark
@pytest.mark.parametrize("source", ["app_service", "machine_learning"])
def test_expires_in_from_expires_on_is_msals(
    emu: Emulator, env: pytest.MonkeyPatch, source: str
) -> None:
    """App Service and Azure ML answer ``expires_on``; msal's ``expires_in`` is
    int(expires_on) - int(now), and so is identitylib's (a fraction of the current second
    is not a second less): the same for tokens obtained within one second."""
    use(env, emu, source)
    for _ in range(5):  # until both tokens are obtained within one second of the clock
        second = int(time.time())
        theirs = msal_client(SystemAssignedManagedIdentity(), None).acquire_token_for_client(
            resource=RESOURCE
        )
        ours = ManagedIdentityClient(SystemAssignedManagedIdentity()).acquire_token_for_client(
            resource=RESOURCE
        )
        ours_async = asyncio.run(aio_token(SystemAssignedManagedIdentity()))
        if int(time.time()) == second:
            break
    for result in (theirs, ours, ours_async):
        assert result["token_source"] == "identity_provider", result
    assert ours["expires_in"] == ours_async["expires_in"] == theirs["expires_in"]


async def aio_token(identity: Any) -> dict[str, Any]:
    aio = require_module("identitylib.aio")
    client = aio.ManagedIdentityClient(identity)
    try:
        result: dict[str, Any] = await client.acquire_token_for_client(resource=RESOURCE)
    finally:
        await client.aclose()
    return result
