"""Namespaces, SOAP actions and token types of WS-Trust 1.3 and WS-Trust 2005 (February)."""

from __future__ import annotations

from dataclasses import dataclass

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSP = "http://schemas.xmlsoap.org/ws/2004/09/policy"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
SOAP_OVER_HTTP = "http://schemas.xmlsoap.org/soap/http"
#: WS-SecurityPolicy 1.2 (used with WS-Trust 1.3) and its 2005 draft (with WS-Trust 2005).
SP = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"
SP2005 = "http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"
WST13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
WST2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust"

#: The relying party Entra ID is known as at federation servers (``AppliesTo``).
MICROSOFT_ONLINE = "urn:federation:MicrosoftOnline"

#: Token types a WS-Trust answer names for its SAML assertion.
SAML_1 = "urn:oasis:names:tc:SAML:1.0:assertion"
SAML_2 = "urn:oasis:names:tc:SAML:2.0:assertion"
WSS_SAML_1_1 = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1"
WSS_SAML_2 = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"


@dataclass(frozen=True)
class WsTrustVersion:
    """What differs between WS-Trust 1.3 and WS-Trust 2005 in a username/password request."""

    name: str
    namespace: str  #: of RequestSecurityToken and its answer
    action: str  #: the SOAP action (``wsa:Action`` and the ``SOAPAction`` header)
    key_type: str
    request_type: str
    path: str  #: how AD FS names the endpoint's path


WSTRUST_13 = WsTrustVersion(
    name="WS-Trust 1.3",
    namespace=WST13,
    action=f"{WST13}/RST/Issue",
    key_type=f"{WST13}/Bearer",
    request_type=f"{WST13}/Issue",
    path="/trust/13/usernamemixed",
)
WSTRUST_2005 = WsTrustVersion(
    name="WS-Trust 2005",
    namespace=WST2005,
    action=f"{WST2005}/RST/Issue",
    key_type="http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
    request_type=f"{WST2005}/Issue",
    path="/trust/2005/usernamemixed",
)
#: In order of preference (MSAL prefers 1.3 when the MEX document offers both).
VERSIONS = (WSTRUST_13, WSTRUST_2005)


def version_of_action(action: str | None) -> WsTrustVersion | None:
    """The version whose SOAP action is ``action``; None for any other action."""
    return next((v for v in VERSIONS if v.action == action), None)


def version_of_address(address: str) -> WsTrustVersion | None:
    """The version an AD FS endpoint address names by its path (``.../trust/13/usernamemixed``
    or ``.../trust/2005/usernamemixed``); None for another address."""
    lowered = address.lower()
    return next((v for v in VERSIONS if v.path in lowered), None)


def tag(namespace: str, name: str) -> str:
    """ElementTree's ``{namespace}name``."""
    return f"{{{namespace}}}{name}"
