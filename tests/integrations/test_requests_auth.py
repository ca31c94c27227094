"""BearerAuth: bearer tokens from the emulator, and one retry after a claims challenge."""

from __future__ import annotations

import pytest
import requests

import identitylib
from identitylib.emulator import DEMO_CLI_ID, Emulator
from identitylib.integrations import TokenAcquisitionError
from identitylib.integrations.requests_auth import BearerAuth

from .conftest import SCOPES, USER_SCOPES, ResourceServer, token_requests

App = identitylib.ConfidentialClientApplication


def test_attaches_a_token_and_reuses_the_cached_one(
    emulator: Emulator, resource_server: ResourceServer, daemon_app: App
) -> None:
    auth = BearerAuth(daemon_app, SCOPES)
    with requests.Session() as session:
        first = session.get(resource_server.url, auth=auth, timeout=10)
        second = session.get(resource_server.url, auth=auth, timeout=10)
    assert first.status_code == second.status_code == 200
    assert resource_server.seen[0] == resource_server.seen[1] != ""
    assert token_requests(emulator) == 1  # the second token came from the cache


def test_claims_challenge_gets_a_fresh_token_and_retries_once(
    emulator: Emulator, resource_server: ResourceServer, daemon_app: App
) -> None:
    resource_server.challenge_first = True
    auth = BearerAuth(daemon_app, SCOPES)
    response = requests.post(resource_server.url, data=b"payload", auth=auth, timeout=10)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert len(resource_server.seen) == 2
    assert resource_server.seen[0] != resource_server.seen[1]
    assert resource_server.bodies == [b"payload", b"payload"]
    assert token_requests(emulator) == 2


def test_a_second_challenge_is_returned_not_retried(
    resource_server: ResourceServer, daemon_app: App
) -> None:
    resource_server.challenge_always = True
    response = requests.get(resource_server.url, auth=BearerAuth(daemon_app, SCOPES), timeout=10)
    assert response.status_code == 401
    assert len(resource_server.seen) == 2


def test_a_401_without_claims_is_not_retried(
    resource_server: ResourceServer, daemon_app: App
) -> None:
    response = requests.get(resource_server.url, timeout=10)  # no auth: plain 401
    assert response.status_code == 401
    assert len(resource_server.seen) == 1


def test_user_token_of_the_signed_in_account(
    resource_server: ResourceServer, signed_in_app: identitylib.PublicClientApplication
) -> None:
    resource_server.challenge_first = True
    response = requests.get(
        resource_server.url, auth=BearerAuth(signed_in_app, USER_SCOPES), timeout=10
    )
    assert response.status_code == 200
    assert resource_server.seen[0] != resource_server.seen[1]


def test_no_token_raises(resource_server: ResourceServer, emulator: Emulator) -> None:
    app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emulator.authority())
    with pytest.raises(TokenAcquisitionError, match="interaction_required"):
        requests.get(resource_server.url, auth=BearerAuth(app, USER_SCOPES), timeout=10)
