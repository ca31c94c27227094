"""identitylib: OAuth 2.0 and OpenID Connect tokens, drop-in compatible with MSAL Python.

``import identitylib as msal`` works for an app written for MSAL Python: the names below
are those of ``msal``'s public API, plus identitylib's own additions.
"""

from typing import TYPE_CHECKING

from ._protocol._lazy import lazy_attributes
from ._version import __version__
from .exceptions import IdTokenError, MsalError, MsalServiceError, TokenCacheError

if TYPE_CHECKING:
    from ._application import (
        ClientApplication,
        ConfidentialClientApplication,
        PublicClientApplication,
    )
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
    from .auth_scheme import PopAuthScheme

#: Every public name but the exceptions is imported from its module on first use (PEP 562):
#: ``import identitylib`` alone costs a few milliseconds (a command-line tool's ``--help``
#: pays nothing for token machinery it does not use), and ``from identitylib import X``
#: works for all. The applications load the flows they need when built; managed identity,
#: persistence and Redis load on first use.
_LAZY = {
    "ClientApplication": "._application",
    "ConfidentialClientApplication": "._application",
    "PublicClientApplication": "._application",
    "CacheAccess": "._cache",
    "SerializableTokenCache": "._cache",
    "TokenCache": "._cache",
    "AutoRefresher": "._credential",
    "BrowserInteractionTimeoutError": "._interactive",
    "claims_challenge_header": "._protocol._challenge",
    "parse_claims_challenge": "._protocol._challenge",
    "Prompt": "._protocol._prompt",
    "PopAuthScheme": ".auth_scheme",
    "ArcPlatformNotSupportedError": "._managed_identity",
    "ManagedIdentityClient": "._managed_identity",
    "ManagedIdentityError": "._managed_identity",
    "SystemAssignedManagedIdentity": "._managed_identity",
    "UserAssignedManagedIdentity": "._managed_identity",
    "PersistedTokenCache": "._persistence",
    "PersistenceUnavailableError": "._persistence",
    "build_persistence": "._persistence",
    "RedisTokenCache": "._redis",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    """The public names only: not the helpers this module imports for itself."""
    return sorted(__all__)


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
    "PopAuthScheme",
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
