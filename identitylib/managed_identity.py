"""Managed identity, with the names of ``msal.managed_identity``.

``ManagedIdentityClient(SystemAssignedManagedIdentity(), http_client=...)`` gets tokens from
the local token service of the Azure host it runs on (Service Fabric, App Service, Azure
Machine Learning, Azure Arc, Cloud Shell, or a VM's IMDS), detected from the environment.
"""

from identitylib._managed_identity import (
    APP_SERVICE,
    AZURE_ARC,
    CLOUD_SHELL,
    DEFAULT_TO_VM,
    MACHINE_LEARNING,
    SERVICE_FABRIC,
    ArcPlatformNotSupportedError,
    ManagedIdentity,
    ManagedIdentityClient,
    ManagedIdentityError,
    SystemAssignedManagedIdentity,
    UserAssignedManagedIdentity,
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
