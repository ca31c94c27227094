"""A distributed token cache on Redis (the optional ``redis`` extra).

Importing this package does not import ``redis``; constructing a ``RedisTokenCache``
does, and raises ImportError naming the extra when the package is missing.
"""

from __future__ import annotations

from ._cache import RedisTokenCache

__all__ = ["RedisTokenCache"]
