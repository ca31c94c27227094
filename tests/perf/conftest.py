"""Fixtures of the perf tests: work counted where the library does it."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def assertion_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One ``"hash"`` per hash of an on-behalf-of assertion, wherever the library computes
    one (the flow, the cache's access hooks, the application's calls, the hit path)."""
    from identitylib._application import _client_calls
    from identitylib._cache import _access
    from identitylib._flows import _hit_memo
    from identitylib._flows import on_behalf_of as obo_flow

    hashed: list[str] = []
    real = _access.assertion_hash

    def counted(assertion: Any) -> str:
        hashed.append("hash")
        return real(assertion)

    for module in (obo_flow, _access, _hit_memo):
        monkeypatch.setattr(module, "assertion_hash", counted)
    monkeypatch.setattr(_client_calls, "assertion_hash", counted, raising=False)
    return hashed
