"""Web apps and web APIs on identitylib: sign-in, sign-out, tokens for the signed-in user,
protected APIs and on-behalf-of, for any framework.

This package is the framework-neutral core; the adapters are ``identitylib.web.flask``,
``identitylib.web.django`` and ``identitylib.web.starlette`` (FastAPI and Starlette), each
an optional extra. Importing ``identitylib`` (or this package) imports no web framework.

* :class:`WebAppAuth` / :class:`AsyncWebAppAuth`: a web app that signs users in and calls
  APIs for them (``docs/web/index.md``).
* :class:`ProtectedApi` / :class:`AsyncProtectedApi`: a web API that validates bearer
  tokens, checks scopes and roles, and calls other APIs on behalf of its caller.
"""

from ._api import AsyncProtectedApi, Caller, ClaimsChallenge, ProtectedApi
from ._errors import SignInFailed, SignInRequired, TokenAcquisitionError, WebAuthError
from ._operations import SignedIn
from ._session import User, safe_return_url
from ._store import MemorySignInStore, RedisSignInStore, SignInStore
from ._webapp import AsyncWebAppAuth, WebAppAuth

__all__ = [
    "AsyncProtectedApi",
    "AsyncWebAppAuth",
    "Caller",
    "ClaimsChallenge",
    "MemorySignInStore",
    "ProtectedApi",
    "RedisSignInStore",
    "SignInFailed",
    "SignInRequired",
    "SignInStore",
    "SignedIn",
    "TokenAcquisitionError",
    "User",
    "WebAppAuth",
    "WebAuthError",
    "safe_return_url",
]
