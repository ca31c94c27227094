"""Adapters that let other libraries authenticate with an identitylib application.

Each adapter has its own module, importable only when its library is installed:

* ``identitylib.integrations.requests_auth``: ``BearerAuth``, a ``requests`` ``AuthBase``.
* ``identitylib.integrations.httpx_auth``: ``HttpxBearerAuth``, an ``httpx.Auth`` for sync
  and async clients (``pip install "identitylib[httpx]"``).
* ``identitylib.integrations.azure_core``: ``IdentitylibCredential`` and
  ``AsyncIdentitylibCredential``, azure-core credentials for any Azure SDK client
  (``pip install "identitylib[azure]"``).

All of them share :class:`TokenProvider`: which acquisition method to call for which kind
of application, silent (from the cache) first.
"""

from ._common import TokenAcquisitionError, TokenProvider

__all__ = ["TokenAcquisitionError", "TokenProvider"]
