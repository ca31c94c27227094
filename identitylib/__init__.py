"""identitylib: OAuth 2.0 and OpenID Connect tokens, drop-in compatible with MSAL Python.

``import identitylib as msal`` works for an app written for MSAL Python: the names below
are those of ``msal``'s public API, plus identitylib's own additions.
"""

from ._application import ClientApplication, ConfidentialClientApplication, PublicClientApplication
from ._cache import CacheAccess, SerializableTokenCache, TokenCache
from ._credential import AutoRefresher
from ._version import __version__
from .exceptions import MsalError, MsalServiceError, TokenCacheError

__all__ = [
    "AutoRefresher",
    "CacheAccess",
    "ClientApplication",
    "ConfidentialClientApplication",
    "MsalError",
    "MsalServiceError",
    "PublicClientApplication",
    "SerializableTokenCache",
    "TokenCache",
    "TokenCacheError",
    "__version__",
]
