"""Authority helpers with the names of ``msal.authority``."""

from __future__ import annotations

from ._authority._hosts import (
    AZURE_CHINA,
    AZURE_GOV_DE,
    AZURE_GOV_FR,
    AZURE_GOV_SG,
    AZURE_PUBLIC,
    AZURE_US_GOVERNMENT,
    DEPRECATED_AZURE_CHINA,
)
from ._authority._hosts import (
    WELL_KNOWN_HOSTS as WELL_KNOWN_AUTHORITY_HOSTS,
)

__all__ = [
    "AZURE_CHINA",
    "AZURE_GOV_DE",
    "AZURE_GOV_FR",
    "AZURE_GOV_SG",
    "AZURE_PUBLIC",
    "AZURE_US_GOVERNMENT",
    "DEPRECATED_AZURE_CHINA",
    "WELL_KNOWN_AUTHORITY_HOSTS",
    "AuthorityBuilder",
]


class AuthorityBuilder:
    """Builds an authority URL from a cloud host and a tenant: ``https://{instance}/{tenant}``."""

    def __init__(self, instance: str, tenant: str) -> None:
        self._instance = instance.rstrip("/")
        self._tenant = tenant.strip("/")

    def __str__(self) -> str:
        return f"https://{self._instance}/{self._tenant}"

    def __repr__(self) -> str:
        return f"AuthorityBuilder({self._instance!r}, {self._tenant!r})"
