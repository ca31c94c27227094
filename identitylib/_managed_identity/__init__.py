"""Managed identities: tokens from Azure's local token services, msal-compatible.

``ManagedIdentityClient(managed_identity, http_client=None, ...)`` detects the source
(Service Fabric, App Service, Azure Machine Learning, Azure Arc, Cloud Shell, or the VM's
IMDS) from the environment at each call, like msal, and caches tokens in msal's format.
"""

from ._client import ManagedIdentityClient
from ._errors import ArcPlatformNotSupportedError, ManagedIdentityError
from ._identities import (
    ManagedIdentity,
    SystemAssignedManagedIdentity,
    UserAssignedManagedIdentity,
)
from ._sources import (
    APP_SERVICE,
    AZURE_ARC,
    CLOUD_SHELL,
    DEFAULT_TO_VM,
    MACHINE_LEARNING,
    SERVICE_FABRIC,
    get_managed_identity_source,
)

__all__ = [
    "APP_SERVICE",
    "AZURE_ARC",
    "CLOUD_SHELL",
    "DEFAULT_TO_VM",
    "MACHINE_LEARNING",
    "SERVICE_FABRIC",
    "ArcPlatformNotSupportedError",
    "ManagedIdentity",
    "ManagedIdentityClient",
    "ManagedIdentityError",
    "SystemAssignedManagedIdentity",
    "UserAssignedManagedIdentity",
    "get_managed_identity_source",
]
