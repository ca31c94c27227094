"""identitylib: OAuth 2.0 and OpenID Connect tokens, drop-in compatible with MSAL Python."""

from ._version import __version__
from .exceptions import MsalError, MsalServiceError, TokenCacheError

__all__ = [
    "MsalError",
    "MsalServiceError",
    "TokenCacheError",
    "__version__",
]
