"""Access hooks for custom cache serializers (an identitylib extension).

An app that keeps one serialized cache per partition (per user, per app+tenant, per
on-behalf-of assertion) loads the partition in ``before_access`` and saves it in
``after_access`` when ``has_state_changed`` is True.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Union

from identitylib._protocol._jwt import b64url_encode

if TYPE_CHECKING:
    from ._token_cache import TokenCache


#: The TypeError of a blocking call on a cache whose hooks are coroutines.
NEEDS_AIO = (
    "This token cache's access hooks are coroutines: use it with the identitylib.aio "
    "applications (a blocking call cannot await them)"
)


@dataclass(frozen=True)
class CacheAccess:
    """What the library is about to do (or just did) with a cache."""

    cache: TokenCache
    partition_key: str | None
    client_id: str
    is_app_cache: bool
    has_state_changed: bool = False


#: A ``before_access``/``after_access`` callback; a coroutine function makes the cache's
#: hooks async (for ``identitylib.aio``).
AccessHook = Callable[[CacheAccess], Union[Awaitable[None], None]]


def app_partition_key(client_id: str, tenant: str) -> str:
    """Suggested partition of app-only (client credentials) tokens."""
    return f"{client_id}_{tenant}_AppTokenCache"


def user_partition_key(home_account_id: str) -> str:
    """Suggested partition of one user's tokens."""
    return home_account_id


def assertion_hash(assertion: Union[str, bytes]) -> str:
    """base64url(SHA-256(assertion)) without padding: the ``user_assertion_hash`` value."""
    raw = assertion.encode("utf-8") if isinstance(assertion, str) else assertion
    digest = hashlib.sha256(raw).digest()
    return b64url_encode(digest)


def obo_partition_key(user_assertion: Union[str, bytes]) -> str:
    """Suggested partition of on-behalf-of tokens: the hash of the incoming assertion."""
    return assertion_hash(user_assertion)
