"""Fixtures shared by the whole suite."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from identitylib._authority._registry import REGISTRY
from identitylib.emulator import Emulator
from tests._idp import Idp

# The emulator fixtures are an opt-in plugin (identitylib_emulator, identitylib_emulator_tls,
# identitylib_fresh_emulator); this suite opts in here.
pytest_plugins = ["identitylib.emulator.pytest_plugin"]

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "cid-0000"


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Every test starts with no authority metadata remembered by the process."""
    REGISTRY.clear()
    yield
    REGISTRY.clear()


@pytest.fixture
def emulator(identitylib_fresh_emulator: Emulator) -> Emulator:
    """The suite's short name for the session emulator with no faults and empty logs."""
    return identitylib_fresh_emulator


@pytest.fixture
def tls_idp(identitylib_emulator_tls: Emulator) -> Idp:
    """The session's TLS emulator with empty logs, as daemon-app tests use it."""
    identitylib_emulator_tls.faults.reset()
    identitylib_emulator_tls.reset_requests()
    return Idp(identitylib_emulator_tls)


def oidc_config(
    base: str = "https://login.microsoftonline.com", tenant: str = TENANT
) -> dict[str, Any]:
    """An Entra v2 OpenID configuration document for ``{base}/{tenant}``."""
    return {
        "issuer": f"{base}/{tenant}/v2.0",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
    }


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """A ``responses`` mock in which any unregistered request fails the call."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def add_discovery(
    mock: responses.RequestsMock,
    base: str = "https://login.microsoftonline.com",
    tenant: str = TENANT,
) -> str:
    """Register the discovery document of ``{base}/{tenant}`` and the host's user realm
    endpoint (every user ``Managed``); return the token endpoint."""
    config = oidc_config(base, tenant)
    mock.get(f"{base}/{tenant}/v2.0/.well-known/openid-configuration", json=config)
    add_user_realm(mock, base)
    return str(config["token_endpoint"])


def add_user_realm(
    mock: responses.RequestsMock,
    base: str = "https://login.microsoftonline.com",
    **answer: Any,
) -> None:
    """Register ``{base}/common/userrealm/...``, which username/password sign-in asks first:
    a managed domain, unless ``answer`` says otherwise (e.g. ``account_type="Federated"``)."""
    body = {"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.com", **answer}
    url = re.compile(re.escape(f"{base}/common/userrealm/") + r"[^?]*(\?.*)?")
    mock.upsert(responses.GET, url, json=body)
