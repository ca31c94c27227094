"""The cache lanes of the public acquire methods, for both APIs.

A lane (see ``identitylib/_telemetry/_measured.cache_lane``) takes the public method's
arguments and answers a plain call (no claims, no extra options) from the cache without a
plan or a flow: the app's ``HitMemo`` (``app._hits``, its core's ``hits``, which the
builders use as well). Any other call, or a call it cannot answer, gets None and runs the
method; a lane that missed notes the call's scopes in the ``HitMemo`` (``missed``), so
the method's builder does not ask the same question again. The managed identity clients'
lane is ``identitylib/_managed_identity/_lane.py``.
"""

from __future__ import annotations

from typing import Any, Optional

Hit = Optional[dict[str, Any]]


def client_lane(
    app: Any,
    scopes: Any,
    claims_challenge: Any = None,
    fmi_path: Any = None,
    forwarded_client_claims: Any = None,
    **kwargs: Any,
) -> Hit:
    """``acquire_token_for_client``'s lane."""
    if claims_challenge or fmi_path or forwarded_client_claims or kwargs:
        return None
    hits = app._hits
    hit: Hit = hits.app_token(scopes)
    if hit is None:
        hits.missed = scopes  # (the builder, next, skips this lookup)
    return hit


def silent_lane(
    app: Any,
    scopes: Any,
    account: Any,
    authority: Any = None,
    force_refresh: Any = False,
    claims_challenge: Any = None,
    forwarded_client_claims: Any = None,
    auth_scheme: Any = None,
    **kwargs: Any,
) -> Hit:
    """``acquire_token_silent``'s and ``acquire_token_silent_with_error``'s lane."""
    if (
        authority is not None
        or auth_scheme is not None
        or force_refresh
        or claims_challenge
        or forwarded_client_claims
        or kwargs
    ):
        return None
    hits = app._hits
    hit: Hit = hits.account_token(scopes, account)
    if hit is None:
        hits.missed = scopes
    return hit


def obo_lane(
    app: Any,
    user_assertion: Any,
    scopes: Any,
    claims_challenge: Any = None,
    forwarded_client_claims: Any = None,
    **kwargs: Any,
) -> Hit:
    """``acquire_token_on_behalf_of``'s lane."""
    if claims_challenge or forwarded_client_claims or kwargs:
        return None
    hits = app._hits
    hit: Hit = hits.assertion_token(user_assertion, scopes)
    if hit is None:
        hits.missed = scopes
    return hit
