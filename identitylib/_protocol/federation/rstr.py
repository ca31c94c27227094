"""The federation server's answer to an RST: a SAML assertion, or a SOAP fault.

A WS-Trust 1.3 answer wraps its RequestSecurityTokenResponse (RSTR) in a collection, a
WS-Trust 2005 answer puts it in the SOAP body; either way the RSTR names the token's type
(``TokenType``) and holds the token itself in ``RequestedSecurityToken``. The assertion is
taken out byte for byte (its signature covers it). A wrong password comes back as a SOAP
fault (AD FS: HTTP 500, subcode ``FailedAuthentication``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union
from xml.etree.ElementTree import Element

from identitylib._log import hide
from identitylib._protocol._xml import inner_xml, parse_xml

from .names import SOAP12, VERSIONS, tag

#: Longest part of a fault shown in an error description, in characters.
MAX_SHOWN = 300


@dataclass(frozen=True)
class SamlAssertion:
    """A SAML assertion (UTF-8 bytes, hidden in reprs) and the token type the RSTR named."""

    assertion: bytes = field(repr=False)
    token_type: str


@dataclass(frozen=True)
class WsTrustFault:
    """A SOAP fault: its code, subcode and reason (text the server wrote, no secret)."""

    code: str | None
    subcode: str | None
    reason: str | None

    @property
    def failed_authentication(self) -> bool:
        """Whether the server refused the username and password."""
        return (self.subcode or "").rpartition(":")[2] == "FailedAuthentication"

    def describe(self) -> str:
        """``reason (code/subcode)`` for an error description."""
        codes = "/".join(c[:MAX_SHOWN] for c in (self.code, self.subcode) if c)
        reason = (self.reason or "no reason given")[:MAX_SHOWN]
        return f"{reason} ({codes})" if codes else reason


def parse_rstr(text: str) -> Union[SamlAssertion, WsTrustFault]:
    """The assertion or the fault of a WS-Trust answer.

    Raises :class:`~identitylib._protocol._xml.XmlError` for unsafe or malformed XML and
    ValueError for an answer that is neither.
    """
    root = parse_xml(text, "WS-Trust answer")
    fault = root.find(f"{tag(SOAP12, 'Body')}/{tag(SOAP12, 'Fault')}")
    if fault is not None:
        return _fault(fault)
    for version in VERSIONS:
        holder = tag(version.namespace, "RequestedSecurityToken")
        holders = list(root.iter(holder))
        for response in root.iter(tag(version.namespace, "RequestSecurityTokenResponse")):
            token_type = (response.findtext(tag(version.namespace, "TokenType")) or "").strip()
            requested = response.find(holder)
            if not token_type or requested is None or len(requested) != 1:
                continue
            raw = inner_xml(text, holder)[holders.index(requested)].strip()
            if raw:
                return SamlAssertion(hide(raw), token_type)
    raise ValueError(
        "the WS-Trust answer has no RequestSecurityTokenResponse with a token type and "
        "one security token"
    )


def _fault(fault: Element) -> WsTrustFault:
    code = tag(SOAP12, "Code")
    value = tag(SOAP12, "Value")

    def text(path: str) -> str | None:
        found = fault.findtext(path)
        return found.strip() if found and found.strip() else None

    return WsTrustFault(
        code=text(f"{code}/{value}"),
        subcode=text(f"{code}/{tag(SOAP12, 'Subcode')}/{value}"),
        reason=text(f"{tag(SOAP12, 'Reason')}/{tag(SOAP12, 'Text')}"),
    )
