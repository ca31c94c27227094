"""Authority helpers with the names of ``msal.authority``."""

from __future__ import annotations

from ._authority._hosts import (
    AZURE_CHINA,
    AZURE_GOV_DE,
    AZURE_GOV_FR,
    AZURE_GOV_SG,
    AZURE_PUBLIC,
    AZURE_US_GOVERNMENT,
    B2C_HOST_SUFFIXES,
    CIAM_HOST_SUFFIX,
    DEPRECATED_AZURE_CHINA,
    WORLD_WIDE,
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
    "WELL_KNOWN_B2C_HOSTS",
    "WORLD_WIDE",
    "AuthorityBuilder",
]

#: The domains of B2C and CIAM hosts (``<tenant>.b2clogin.com``, ...), as msal lists them.
WELL_KNOWN_B2C_HOSTS = [suffix.lstrip(".") for suffix in (*B2C_HOST_SUFFIXES, CIAM_HOST_SUFFIX)]


class AuthorityBuilder:
    """Builds an authority URL from a cloud host and a tenant: ``https://{instance}/{tenant}``."""

    def __init__(self, instance: str, tenant: str) -> None:
        self._instance = instance.rstrip("/")
        self._tenant = tenant.strip("/")

    def __str__(self) -> str:
        return f"https://{self._instance}/{self._tenant}"

    def __repr__(self) -> str:
        return f"AuthorityBuilder({self._instance!r}, {self._tenant!r})"
