"""identitylib: OAuth 2.0 and OpenID Connect tokens, drop-in compatible with MSAL Python.

``import identitylib as msal`` works for an app written for MSAL Python: the names below
are those of ``msal``'s public API, plus identitylib's own additions.
"""

from ._application import ClientApplication, ConfidentialClientApplication, PublicClientApplication
from ._cache import CacheAccess, SerializableTokenCache, TokenCache
from ._credential import AutoRefresher
from ._interactive import BrowserInteractionTimeoutError
from ._managed_identity import (
    ArcPlatformNotSupportedError,
    ManagedIdentityClient,
    ManagedIdentityError,
    SystemAssignedManagedIdentity,
    UserAssignedManagedIdentity,
)
from ._persistence import PersistedTokenCache, PersistenceUnavailableError, build_persistence
from ._protocol._challenge import claims_challenge_header, parse_claims_challenge
from ._protocol._prompt import Prompt
from ._redis import RedisTokenCache
from ._version import __version__
from .exceptions import IdTokenError, MsalError, MsalServiceError, TokenCacheError

__all__ = [
    "ArcPlatformNotSupportedError",
    "AutoRefresher",
    "BrowserInteractionTimeoutError",
    "CacheAccess",
    "ClientApplication",
    "ConfidentialClientApplication",
    "IdTokenError",
    "ManagedIdentityClient",
    "ManagedIdentityError",
    "MsalError",
    "MsalServiceError",
    "PersistedTokenCache",
    "PersistenceUnavailableError",
    "Prompt",
    "PublicClientApplication",
    "RedisTokenCache",
    "SerializableTokenCache",
    "SystemAssignedManagedIdentity",
    "TokenCache",
    "TokenCacheError",
    "UserAssignedManagedIdentity",
    "__version__",
    "build_persistence",
    "claims_challenge_header",
    "parse_claims_challenge",
]
