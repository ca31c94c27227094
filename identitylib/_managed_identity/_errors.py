"""Exceptions of the managed-identity client (names and bases as in ``msal``)."""

from __future__ import annotations

from identitylib.exceptions import MsalError


class ManagedIdentityError(MsalError, ValueError):
    """A managed identity is misconfigured, or its token source cannot be used safely.

    Raised for an invalid identity description, a Service Fabric endpoint that is not
    HTTPS or a malformed server thumbprint, and an Azure Arc challenge that cannot be
    answered (unrecognisable ``WWW-Authenticate``, a key file outside the agent's token
    directory or larger than 4 KB, an agent that ignored a user-assigned identity).
    An identity source that answers with an error produces an error dict instead.
    """


class ArcPlatformNotSupportedError(ManagedIdentityError):
    """Azure Arc asked for a key file on a platform where its location is not defined."""
