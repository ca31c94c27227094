"""The authority layer shared by every application class: parsing, discovery, caching."""

from ._authority import Authority
from ._parse import AuthorityKind, ParsedAuthority, parse_authority

__all__ = ["Authority", "AuthorityKind", "ParsedAuthority", "parse_authority"]
