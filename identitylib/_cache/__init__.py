"""The token cache: MSAL-compatible schema and API, indexed lookups, access hooks."""

from __future__ import annotations

from ._access import (
    AccessHook,
    CacheAccess,
    app_partition_key,
    assertion_hash,
    obo_partition_key,
    user_partition_key,
)
from ._event import USED_REFRESH_TOKEN
from ._keys import AuthorityType, CredentialType, compute_ext_cache_key
from ._serializable import SerializableTokenCache
from ._token_cache import TokenCache

__all__ = [
    "USED_REFRESH_TOKEN",
    "AccessHook",
    "AuthorityType",
    "CacheAccess",
    "CredentialType",
    "SerializableTokenCache",
    "TokenCache",
    "app_partition_key",
    "assertion_hash",
    "compute_ext_cache_key",
    "obo_partition_key",
    "user_partition_key",
]
