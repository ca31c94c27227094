"""The cache lane of both managed identity clients' ``acquire_token_for_client``.

As the token applications' lanes (``identitylib/_application/_lanes.py``), attached with
``identitylib/_telemetry/_measured.cache_lane``: a plain call (no claims challenge) is
answered from the client's :class:`~identitylib._flows._hit_memo.HitMemo` (``client._hits``,
made by :func:`cache_hits`), without a flow, a single-flight key or, in the asyncio client,
a task. Any other call, or one the memo cannot answer (no such token, expiring, due for
refresh, a cache with hooks or another library's cache), runs the method.
"""

from __future__ import annotations

from typing import Any, Optional

from identitylib._flows._hit_memo import HitMemo

from ._acquisition import ENVIRONMENT, REALM, ManagedIdentityState


def cache_hits(state: ManagedIdentityState) -> HitMemo:
    """The cache-hit path of a client with ``state``: its identity's tokens in its cache,
    read with its clock."""
    hits = HitMemo.fixed(ENVIRONMENT, state.identity.cache_client_id, REALM)
    hits.use(state.token_cache, state)
    return hits


def managed_identity_lane(
    client: Any, *, resource: Any, claims_challenge: Any = None, **kwargs: Any
) -> Optional[dict[str, Any]]:
    """``acquire_token_for_client``'s lane (both clients). A resource with surrounding
    whitespace goes the full way (its lookup does not strip it; the request key would)."""
    if claims_challenge or kwargs or type(resource) is not str or resource != resource.strip():
        return None
    hit: Optional[dict[str, Any]] = client._hits.app_token([resource])
    return hit
