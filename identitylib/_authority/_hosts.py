"""Facts about Microsoft's sign-in hosts: well-known hosts, aliases, B2C and CIAM suffixes."""

from __future__ import annotations

AZURE_PUBLIC = "login.microsoftonline.com"
AZURE_US_GOVERNMENT = "login.microsoftonline.us"
AZURE_CHINA = "login.chinacloudapi.cn"
DEPRECATED_AZURE_CHINA = AZURE_CHINA
AZURE_GOV_FR = "login.sovcloud-identity.fr"
AZURE_GOV_DE = "login.sovcloud-identity.de"
AZURE_GOV_SG = "login.sovcloud-identity.sg"

#: Hosts trusted without instance discovery (MSAL Python 1.39's list).
WELL_KNOWN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login-us.microsoftonline.com",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login.microsoftonline.de",
        AZURE_GOV_FR,
        AZURE_GOV_DE,
        AZURE_GOV_SG,
    }
)

#: Alias groups: tokens cached under one host are valid for the others of its group.
ALIAS_GROUPS: tuple[frozenset[str], ...] = (
    frozenset(
        {"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}
    ),
    frozenset({"login.partner.microsoftonline.cn", "login.chinacloudapi.cn"}),
    frozenset({"login.microsoftonline.de"}),
    frozenset({"login.microsoftonline.us", "login.usgovcloudapi.net"}),
    frozenset({"login-us.microsoftonline.com"}),
)

B2C_HOST_SUFFIXES = (".b2clogin.com", ".b2clogin.cn", ".b2clogin.us", ".b2clogin.de")
CIAM_HOST_SUFFIX = ".ciamlogin.com"

#: Where instance discovery is asked when the host itself is not well known.
WORLD_WIDE = AZURE_PUBLIC


def aliases_of(host: str) -> frozenset[str]:
    """Every host equivalent to ``host`` for cache purposes, ``host`` included."""
    for group in ALIAS_GROUPS:
        if host in group:
            return group
    return frozenset({host})
