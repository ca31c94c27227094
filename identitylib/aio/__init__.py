"""identitylib's asyncio API: the sync API's classes, with coroutine methods.

``pip install 'identitylib[async]'`` (httpx). The classes share the sync API's protocol
flows, authority layer and token cache; see ``docs/async.md``.
"""

from ._application import ClientApplication, ConfidentialClientApplication, PublicClientApplication
from ._managed_identity import ManagedIdentityClient
from ._persisted_cache import PersistedTokenCache
from ._redis_cache import RedisTokenCache

__all__ = [
    "ClientApplication",
    "ConfidentialClientApplication",
    "ManagedIdentityClient",
    "PersistedTokenCache",
    "PublicClientApplication",
    "RedisTokenCache",
]
