"""The SAML assertions of the emulated federation server, and how the token endpoint knows
them again.

An assertion says who signed in (UPN and immutable id), when, for which audience
(``urn:federation:MicrosoftOnline``) and until when, in SAML 1.1 (AD FS's answer to a
WS-Trust request for Entra ID) or SAML 2.0 (``Faults.federation_saml2``). The emulator
does not sign it with an XML signature; instead the token endpoint accepts only an
assertion this emulator issued, byte for byte, before it expires (see :func:`recognise`),
so a forged or altered assertion is refused all the same.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

from identitylib._protocol.federation.names import MICROSOFT_ONLINE, SAML_1, SAML_2

from ._config import User
from ._context import ProviderState
from ._records import IssuedAssertion

#: How long an assertion is valid, in seconds (AD FS's default token lifetime).
ASSERTION_LIFETIME = 3600

SAML1_VERSION = "1.1"
SAML2_VERSION = "2.0"


@dataclass(frozen=True)
class Minted:
    """A new assertion (XML text) and the token type its RSTR names."""

    xml: str
    token_type: str


def digest(assertion: bytes) -> str:
    """The key an assertion is remembered under (surrounding whitespace ignored)."""
    return hashlib.sha256(assertion.strip()).hexdigest()


def _attribute(value: str) -> str:
    """``value`` escaped for element text and double-quoted attribute values."""
    return escape(value, {'"': "&quot;"})


def _instant(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def issuer(base_url: str) -> str:
    """The federation server's identifier."""
    return f"{base_url}/adfs/services/trust"


def mint(state: ProviderState, base_url: str, user: User, *, now: float) -> Minted:
    """A new assertion for ``user``, remembered until it expires."""
    oid = state.directory.user_oid(user)
    immutable_id = base64.b64encode(uuid.UUID(oid).bytes).decode("ascii")
    saml2 = bool(state.faults.federation_saml2)
    values = {
        "id": f"_{uuid.uuid4()}",
        "issuer": _attribute(issuer(base_url)),
        "now": _instant(now),
        "until": _instant(now + ASSERTION_LIFETIME),
        "upn": _attribute(user.username),
        "immutable_id": _attribute(immutable_id),
    }
    xml = (_saml2 if saml2 else _saml1)(values)
    state.assertions.put(
        digest(xml.encode("utf-8")),
        IssuedAssertion(
            username=user.username,
            saml_version=SAML2_VERSION if saml2 else SAML1_VERSION,
            auth_time=int(now),
            expires_at=now + ASSERTION_LIFETIME,
        ),
    )
    return Minted(xml, SAML_2 if saml2 else SAML_1)


def recognise(state: ProviderState, assertion: bytes) -> IssuedAssertion | None:
    """The issued assertion these bytes are (expired or not), None for any other bytes."""
    return state.assertions.get(digest(assertion))


def _saml1(v: dict[str, str]) -> str:
    subject = (
        "<saml:Subject>"
        '<saml:NameIdentifier Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">'
        f"{v['immutable_id']}</saml:NameIdentifier>"
        "<saml:SubjectConfirmation><saml:ConfirmationMethod>"
        "urn:oasis:names:tc:SAML:1.0:cm:bearer</saml:ConfirmationMethod>"
        "</saml:SubjectConfirmation>"
        "</saml:Subject>"
    )
    return (
        f'<saml:Assertion MajorVersion="1" MinorVersion="1" AssertionID="{v["id"]}" '
        f'Issuer="{v["issuer"]}" IssueInstant="{v["now"]}" xmlns:saml="{SAML_1}">'
        f'<saml:Conditions NotBefore="{v["now"]}" NotOnOrAfter="{v["until"]}">'
        "<saml:AudienceRestrictionCondition>"
        f"<saml:Audience>{MICROSOFT_ONLINE}</saml:Audience>"
        "</saml:AudienceRestrictionCondition>"
        "</saml:Conditions>"
        f"<saml:AttributeStatement>{subject}"
        '<saml:Attribute AttributeName="UPN" AttributeNamespace="http://schemas.xmlsoap.org/claims">'
        f"<saml:AttributeValue>{v['upn']}</saml:AttributeValue></saml:Attribute>"
        '<saml:Attribute AttributeName="ImmutableID" '
        'AttributeNamespace="http://schemas.microsoft.com/LiveID/Federation/2008/05">'
        f"<saml:AttributeValue>{v['immutable_id']}</saml:AttributeValue></saml:Attribute>"
        "</saml:AttributeStatement>"
        "<saml:AuthenticationStatement "
        'AuthenticationMethod="urn:oasis:names:tc:SAML:1.0:am:password" '
        f'AuthenticationInstant="{v["now"]}">{subject}</saml:AuthenticationStatement>'
        "</saml:Assertion>"
    )


def _saml2(v: dict[str, str]) -> str:
    return (
        f'<saml:Assertion ID="{v["id"]}" IssueInstant="{v["now"]}" Version="2.0" '
        f'xmlns:saml="{SAML_2}">'
        f"<saml:Issuer>{v['issuer']}</saml:Issuer>"
        "<saml:Subject>"
        '<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">'
        f"{v['immutable_id']}</saml:NameID>"
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData NotOnOrAfter="{v["until"]}"/>'
        "</saml:SubjectConfirmation>"
        "</saml:Subject>"
        f'<saml:Conditions NotBefore="{v["now"]}" NotOnOrAfter="{v["until"]}">'
        f"<saml:AudienceRestriction><saml:Audience>{MICROSOFT_ONLINE}</saml:Audience>"
        "</saml:AudienceRestriction>"
        "</saml:Conditions>"
        "<saml:AttributeStatement>"
        f'<saml:Attribute Name="UPN"><saml:AttributeValue>{v["upn"]}</saml:AttributeValue>'
        "</saml:Attribute>"
        '<saml:Attribute Name="ImmutableID">'
        f"<saml:AttributeValue>{v['immutable_id']}</saml:AttributeValue></saml:Attribute>"
        "</saml:AttributeStatement>"
        f'<saml:AuthnStatement AuthnInstant="{v["now"]}"><saml:AuthnContext>'
        "<saml:AuthnContextClassRef>"
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
        "</saml:Assertion>"
    )
