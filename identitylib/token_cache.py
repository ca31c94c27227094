"""The token caches, with the names of ``msal.token_cache``.

``from msal.token_cache import SerializableTokenCache`` becomes
``from identitylib.token_cache import SerializableTokenCache``; the classes are those of
the top-level package.
"""

from __future__ import annotations

from ._cache import SerializableTokenCache, TokenCache

__all__ = ["SerializableTokenCache", "TokenCache"]
