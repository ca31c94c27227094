"""The federation server's metadata exchange (MEX) document: where to send a username and
password.

A MEX document is a WSDL. Its policies say how an endpoint authenticates; its bindings tie
a policy and a SOAP action (the WS-Trust version) to a binding name; its service ports give
each binding an address. A username/password ("usernamemixed") endpoint is a port whose
binding is SOAP 1.2 over HTTP with a policy that has a transport binding (TLS) and a
signed, or signed and encrypted, ``WssUsernameToken10`` supporting token. These are the
rules MSAL applies; like MSAL, identitylib prefers WS-Trust 1.3 to WS-Trust 2005.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from identitylib._protocol._xml import parse_xml

from .names import (
    SOAP_OVER_HTTP,
    SP,
    SP2005,
    WSA,
    WSDL,
    WSDL_SOAP12,
    WSP,
    WSTRUST_13,
    WSU,
    WsTrustVersion,
    tag,
    version_of_action,
)

_NAMESPACES = {
    "wsp": WSP,
    "sp": SP,
    "sp2005": SP2005,
    "wsdl": WSDL,
    "soap12": WSDL_SOAP12,
    "wsa": WSA,
}

#: Under a policy: the username token of each WS-SecurityPolicy version, and the transport
#: binding that must come with it.
_USERNAME_TOKEN_PATHS = (
    (
        "wsp:ExactlyOne/wsp:All/sp:SignedEncryptedSupportingTokens/wsp:Policy/"
        "sp:UsernameToken/wsp:Policy/sp:WssUsernameToken10",
        ".//sp:TransportBinding",
    ),
    (
        "wsp:ExactlyOne/wsp:All/sp2005:SignedSupportingTokens/wsp:Policy/"
        "sp2005:UsernameToken/wsp:Policy/sp2005:WssUsernameToken10",
        ".//sp2005:TransportBinding",
    ),
)


@dataclass(frozen=True)
class WsTrustEndpoint:
    """A username/password WS-Trust endpoint: its address and its WS-Trust version."""

    address: str
    version: WsTrustVersion


def usernamemixed_endpoints(document: str) -> list[WsTrustEndpoint]:
    """Every username/password WS-Trust endpoint of a MEX document, in document order.

    Raises :class:`~identitylib._protocol._xml.XmlError` when the document is unsafe or
    not well-formed XML.
    """
    root = parse_xml(document, "MEX document")
    policies = _username_password_policies(root)
    actions = _actions_by_binding(root, policies)
    endpoints: list[WsTrustEndpoint] = []
    for port in root.findall("wsdl:service/wsdl:port", _NAMESPACES):
        binding = (port.get("binding") or "").rpartition(":")[2]
        version = actions.get(binding)
        address = port.findtext("wsa:EndpointReference/wsa:Address", None, _NAMESPACES)
        if version is not None and address and address.strip():
            endpoints.append(WsTrustEndpoint(address.strip(), version))
    return endpoints


def choose_endpoint(
    endpoints: Sequence[WsTrustEndpoint], acceptable: Callable[[str], bool]
) -> WsTrustEndpoint | None:
    """The first WS-Trust 1.3 endpoint whose address is ``acceptable``, else the first
    acceptable one of another version; None when there is none."""
    usable = [e for e in endpoints if acceptable(e.address)]
    preferred = [e for e in usable if e.version is WSTRUST_13]
    return next(iter(preferred or usable), None)


def _username_password_policies(root: Element) -> set[str]:
    """``#Id`` of every policy that authenticates with a username and password over TLS."""
    found: set[str] = set()
    for policy in root.iter(tag(WSP, "Policy")):
        policy_id = policy.get(tag(WSU, "Id"))
        if not policy_id:
            continue
        for token_path, binding_path in _USERNAME_TOKEN_PATHS:
            if (
                policy.find(token_path, _NAMESPACES) is not None
                and policy.find(binding_path, _NAMESPACES) is not None
            ):
                found.add(f"#{policy_id}")
    return found


def _actions_by_binding(root: Element, policies: set[str]) -> dict[str, WsTrustVersion]:
    """The WS-Trust version of every SOAP 1.2 over HTTP binding with one of ``policies``."""
    versions: dict[str, WsTrustVersion] = {}
    for binding in root.findall("wsdl:binding", _NAMESPACES):
        name = binding.get("name")
        soap = binding.find("soap12:binding", _NAMESPACES)
        operation = binding.find("wsdl:operation/soap12:operation", _NAMESPACES)
        if not name or soap is None or soap.get("transport") != SOAP_OVER_HTTP:
            continue
        version = version_of_action(operation.get("soapAction") if operation is not None else None)
        references = binding.findall("wsp:PolicyReference", _NAMESPACES)
        if version is not None and any(r.get("URI") in policies for r in references):
            versions[name] = version
    return versions
