"""The authority layer shared by every application class: parsing, discovery, caching."""

from ._authority import Authority
from ._parse import AuthorityKind, ParsedAuthority, parse_authority
from ._trust import DEFAULT_TRUST, TrustKey

__all__ = [
    "DEFAULT_TRUST",
    "Authority",
    "AuthorityKind",
    "ParsedAuthority",
    "TrustKey",
    "parse_authority",
]
