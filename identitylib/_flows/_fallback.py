"""Serving a still-valid cached token when its proactive refresh fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from identitylib._log import get_logger
from identitylib._protocol._messages import Flow

from ._shaping import cache_hit_result

logger = get_logger(__name__)


def serve_cached_on_failure(
    cached: Optional[dict[str, Any]],
    now: float,
    attempt: Flow[dict[str, Any]],
    *,
    then: Optional[Callable[[dict[str, Any]], Flow[dict[str, Any]]]] = None,
) -> Flow[dict[str, Any]]:
    """Run ``attempt``; when it raises, answers an error or obtains nothing (``{}``) while
    ``cached`` (a token past its ``refresh_on``, still valid) is at hand, serve that token.

    Without ``cached`` the attempt's exception or result reaches the caller unchanged.
    ``then`` runs on a successful result, outside the fallback (its failures propagate).
    """
    try:
        result = yield from attempt
    except Exception:
        if cached is None:
            raise
        logger.warning("Proactive refresh failed; serving the cached token", exc_info=True)
        return cache_hit_result(cached, now)
    if cached is not None and (not result or "error" in result):
        if "error" in result:
            logger.warning(
                "Proactive refresh failed (%s); serving the cached token", result["error"]
            )
        return cache_hit_result(cached, now)
    if then is None or "error" in result:
        return result
    return (yield from then(result))
