"""The ``oidc_peer`` fixture: one oidc-provider (npm) for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.oidc_peer_fixture import OidcPeer, peer_session


@pytest.fixture(scope="session")
def oidc_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcPeer]:
    """A running oidc-provider at ``oidc_peer.issuer`` (skips without Node.js locally)."""
    yield from peer_session(tmp_path_factory.mktemp("oidc-peer"))
