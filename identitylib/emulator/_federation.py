"""The emulated federation server (an AD FS) of the federated domains: MEX and WS-Trust.

* ``GET {base}/adfs/services/trust/mex``: the metadata exchange document. It offers
  username/password ("usernamemixed") endpoints for WS-Trust 2005 and 1.3, and an
  integrated Windows authentication one (which a username/password client must skip).
* ``POST {base}/adfs/services/trust/13/usernamemixed`` and ``.../2005/usernamemixed``: a
  SOAP 1.2 RequestSecurityToken with a WS-Security username token. A federated user with
  the right password gets a SAML assertion for ``urn:federation:MicrosoftOnline``
  (``_saml.py``); anything else gets a SOAP fault with HTTP 500, as AD FS answers, e.g.
  ``a:FailedAuthentication`` for a wrong password or an unknown user.

Request bodies are parsed with ``defusedxml`` (no DTD, no entities).
"""

from __future__ import annotations

import calendar
import hmac
import time
from xml.etree.ElementTree import Element

from identitylib._protocol._xml import XmlError, parse_xml
from identitylib._protocol.federation.names import (
    MICROSOFT_ONLINE,
    SOAP12,
    SOAP_OVER_HTTP,
    SP,
    SP2005,
    WSA,
    WSDL,
    WSDL_SOAP12,
    WSP,
    WSSE,
    WSTRUST_13,
    WSTRUST_2005,
    WSU,
    WsTrustVersion,
    tag,
)

from ._context import ProviderState
from ._reply import Reply
from ._saml import mint

PATH = "/adfs/services/trust"
SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"
_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"
_RSTR_ACTION = {
    WSTRUST_13.name: f"{WSTRUST_13.namespace}/RSTRC/IssueFinal",
    WSTRUST_2005.name: f"{WSTRUST_2005.namespace}/RSTR/Issue",
}
#: Versions by the path segment of their endpoint.
VERSIONS_BY_SEGMENT = {"13": WSTRUST_13, "2005": WSTRUST_2005}


def metadata_url(base_url: str) -> str:
    """Where the MEX document is (user realm discovery names it)."""
    return f"{base_url}{PATH}/mex"


def endpoint_url(base_url: str, version: WsTrustVersion) -> str:
    """The username/password endpoint of ``version``."""
    return f"{base_url}/adfs/services{version.path}"


def _instant(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _epoch(text: str | None) -> float | None:
    """A WS-Security instant (with or without fractions of a second) in epoch seconds."""
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return float(calendar.timegm(time.strptime((text or "").strip(), layout)))
        except ValueError:
            continue
    return None


# --- MEX -------------------------------------------------------------------------------


def _transport_binding(sp: str) -> str:
    return (
        f"<{sp}:TransportBinding><wsp:Policy><{sp}:TransportToken><wsp:Policy>"
        f'<{sp}:HttpsToken RequireClientCertificate="false"/></wsp:Policy></{sp}:TransportToken>'
        f"<{sp}:AlgorithmSuite><wsp:Policy><{sp}:Basic256/></wsp:Policy></{sp}:AlgorithmSuite>"
        f"<{sp}:Layout><wsp:Policy><{sp}:Strict/></wsp:Policy></{sp}:Layout>"
        f"<{sp}:IncludeTimestamp/></wsp:Policy></{sp}:TransportBinding>"
    )


def _username_policy(policy_id: str, sp: str, supporting: str) -> str:
    return (
        f'<wsp:Policy wsu:Id="{policy_id}"><wsp:ExactlyOne><wsp:All>'
        f"{_transport_binding(sp)}"
        f"<{sp}:{supporting}><wsp:Policy><{sp}:UsernameToken><wsp:Policy>"
        f"<{sp}:WssUsernameToken10/></wsp:Policy></{sp}:UsernameToken></wsp:Policy>"
        f"</{sp}:{supporting}>"
        "</wsp:All></wsp:ExactlyOne></wsp:Policy>"
    )


def _binding(name: str, action: str) -> str:
    return (
        f'<wsdl:binding name="{name}" type="tns:IWSTrust">'
        f'<wsp:PolicyReference URI="#{name}_policy"/>'
        f'<soap12:binding transport="{SOAP_OVER_HTTP}"/>'
        f'<wsdl:operation name="Issue"><soap12:operation soapAction="{action}" '
        'style="document"/></wsdl:operation>'
        "</wsdl:binding>"
    )


def _port(name: str, address: str) -> str:
    return (
        f'<wsdl:port name="{name}" binding="tns:{name}">'
        f'<soap12:address location="{address}"/>'
        f"<wsa10:EndpointReference><wsa10:Address>{address}</wsa10:Address>"
        "</wsa10:EndpointReference></wsdl:port>"
    )


def mex_document(base_url: str) -> str:
    """The MEX document (WS-Trust 2005 listed first: a client must still prefer 1.3)."""
    feb2005 = "UserNameWSTrustBinding_IWSTrustFeb2005Async"
    trust13 = "UserNameWSTrustBinding_IWSTrust13Async"
    windows = "WindowsTransportBinding_IWSTrust13Async"
    windows_policy = (
        f'<wsp:Policy wsu:Id="{windows}_policy"><wsp:ExactlyOne><wsp:All>'
        "<http:NegotiateAuthentication/>"
        f"{_transport_binding('sp2005')}"
        "</wsp:All></wsp:ExactlyOne></wsp:Policy>"
    )
    return (
        '<wsdl:definitions name="SecurityTokenService" targetNamespace="http://tempuri.org/" '
        f'xmlns:wsdl="{WSDL}" xmlns:soap12="{WSDL_SOAP12}" xmlns:wsp="{WSP}" '
        f'xmlns:wsu="{WSU}" xmlns:sp="{SP}" xmlns:sp2005="{SP2005}" xmlns:wsa10="{WSA}" '
        'xmlns:http="http://schemas.microsoft.com/ws/06/2004/policy/http" '
        'xmlns:tns="http://tempuri.org/">'
        f"{_username_policy(f'{feb2005}_policy', 'sp2005', 'SignedSupportingTokens')}"
        f"{windows_policy}"
        f"{_username_policy(f'{trust13}_policy', 'sp', 'SignedEncryptedSupportingTokens')}"
        f"{_binding(feb2005, WSTRUST_2005.action)}"
        f"{_binding(windows, WSTRUST_13.action)}"
        f"{_binding(trust13, WSTRUST_13.action)}"
        '<wsdl:service name="SecurityTokenService">'
        f"{_port(feb2005, endpoint_url(base_url, WSTRUST_2005))}"
        f"{_port(windows, f'{base_url}{PATH}/13/windowstransport')}"
        f"{_port(trust13, endpoint_url(base_url, WSTRUST_13))}"
        "</wsdl:service>"
        "</wsdl:definitions>"
    )


def mex(base_url: str) -> Reply:
    """``GET /adfs/services/trust/mex``."""
    return Reply(200, text=mex_document(base_url), headers={"Content-Type": SOAP_CONTENT_TYPE})


# --- WS-Trust --------------------------------------------------------------------------


class SoapFault(Exception):
    """A SOAP fault answer: ``Sender`` (the request) or ``Receiver``, a subcode, a reason."""

    def __init__(self, subcode: str, reason: str, *, sender: bool = True) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.sender = sender


def _header(now: float, relates_to: str | None, action: str) -> str:
    relates = f"<a:RelatesTo>{_text(relates_to)}</a:RelatesTo>" if relates_to else ""
    return (
        f'<s:Header><a:Action s:mustUnderstand="1">{action}</a:Action>{relates}'
        f'<o:Security s:mustUnderstand="1" xmlns:o="{WSSE}"><u:Timestamp u:Id="_0">'
        f"<u:Created>{_instant(now)}</u:Created><u:Expires>{_instant(now + 300)}</u:Expires>"
        "</u:Timestamp></o:Security></s:Header>"
    )


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _envelope(header: str, body: str) -> str:
    return (
        f'<s:Envelope xmlns:s="{SOAP12}" xmlns:a="{WSA}" xmlns:u="{WSU}">'
        f"{header}<s:Body>{body}</s:Body></s:Envelope>"
    )


def fault_reply(fault: SoapFault, now: float, relates_to: str | None = None) -> Reply:
    """HTTP 500 with the SOAP fault (AD FS answers client errors with 500 as well)."""
    code = "s:Sender" if fault.sender else "s:Receiver"
    body = (
        f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode>"
        f'<s:Value xmlns:a="{WSSE}">a:{fault.subcode}</s:Value></s:Subcode></s:Code>'
        f'<s:Reason><s:Text xml:lang="en-US">{_text(fault.reason)}</s:Text></s:Reason>'
        "</s:Fault>"
    )
    text = _envelope(_header(now, relates_to, _FAULT_ACTION), body)
    return Reply(500, text=text, headers={"Content-Type": SOAP_CONTENT_TYPE})


def _rstr(version: WsTrustVersion, assertion: str, token_type: str, now: float) -> str:
    prefix = "trust" if version is WSTRUST_13 else "t"
    response = (
        f'<{prefix}:RequestSecurityTokenResponse xmlns:{prefix}="{version.namespace}">'
        f"<{prefix}:Lifetime>"
        f'<wsu:Created xmlns:wsu="{WSU}">{_instant(now)}</wsu:Created>'
        f'<wsu:Expires xmlns:wsu="{WSU}">{_instant(now + 3600)}</wsu:Expires>'
        f"</{prefix}:Lifetime>"
        f'<wsp:AppliesTo xmlns:wsp="{WSP}"><wsa:EndpointReference xmlns:wsa="{WSA}">'
        f"<wsa:Address>{MICROSOFT_ONLINE}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>"
        f"<{prefix}:RequestedSecurityToken>{assertion}</{prefix}:RequestedSecurityToken>"
        f"<{prefix}:TokenType>{token_type}</{prefix}:TokenType>"
        f"<{prefix}:RequestType>{version.request_type}</{prefix}:RequestType>"
        f"<{prefix}:KeyType>{version.key_type}</{prefix}:KeyType>"
        f"</{prefix}:RequestSecurityTokenResponse>"
    )
    if version is WSTRUST_13:
        return (
            f'<trust:RequestSecurityTokenResponseCollection xmlns:trust="{version.namespace}">'
            f"{response}</trust:RequestSecurityTokenResponseCollection>"
        )
    return response


def _find_text(root: Element, path: list[str]) -> str | None:
    found = root.findtext("/".join(path))
    return found.strip() if found is not None and found.strip() else None


def wstrust(state: ProviderState, base_url: str, segment: str, body: str) -> Reply:
    """``POST /adfs/services/trust/{13|2005}/usernamemixed``: an assertion or a fault."""
    now = state.clock()
    version = VERSIONS_BY_SEGMENT[segment]
    try:
        root = parse_xml(body, "request")
    except XmlError:
        fault = SoapFault("InvalidRequest", "ID3035: The request was not valid or is malformed.")
        return fault_reply(fault, now)
    header = [tag(SOAP12, "Header")]
    message_id = _find_text(root, [*header, tag(WSA, "MessageID")])
    try:
        username, password = _check_request(root, version, now)
        user = state.directory.user(username)
        if (
            user is None
            or not state.directory.is_federated(user)
            or not hmac.compare_digest(user.password.encode(), password.encode())
        ):
            raise SoapFault(
                "FailedAuthentication",
                "ID3242: The security token could not be authenticated or authorized.",
            )
    except SoapFault as fault:
        return fault_reply(fault, now, message_id)
    minted = mint(state, base_url, user, now=now)
    text = _envelope(
        _header(now, message_id, _RSTR_ACTION[version.name]),
        _rstr(version, minted.xml, minted.token_type, now),
    )
    return Reply(200, text=text, headers={"Content-Type": SOAP_CONTENT_TYPE})


def _check_request(root: Element, version: WsTrustVersion, now: float) -> tuple[str, str]:
    """The username and password of a valid RST of ``version``; SoapFault otherwise."""
    header = [tag(SOAP12, "Header")]
    security = [*header, tag(WSSE, "Security")]
    action = _find_text(root, [*header, tag(WSA, "Action")])
    if root.tag != tag(SOAP12, "Envelope") or action != version.action:
        raise SoapFault(
            "ActionNotSupported",
            f"The message with Action '{action or ''}' cannot be processed at the receiver.",
        )
    expires = _epoch(_find_text(root, [*security, tag(WSU, "Timestamp"), tag(WSU, "Expires")]))
    if expires is None or expires <= now:
        raise SoapFault("InvalidSecurity", "ID4024: The security timestamp is missing or expired.")
    token = [*security, tag(WSSE, "UsernameToken")]
    username = _find_text(root, [*token, tag(WSSE, "Username")])
    password = root.findtext("/".join([*token, tag(WSSE, "Password")]))
    if not username or not password:
        raise SoapFault("InvalidSecurity", "ID4025: The request has no username token.")
    request = [tag(SOAP12, "Body"), tag(version.namespace, "RequestSecurityToken")]
    request_type = _find_text(root, [*request, tag(version.namespace, "RequestType")])
    applies_to = _find_text(
        root,
        [*request, tag(WSP, "AppliesTo"), tag(WSA, "EndpointReference"), tag(WSA, "Address")],
    )
    if request_type != version.request_type:
        raise SoapFault("InvalidRequest", "ID3035: The request was not valid or is malformed.")
    if applies_to != MICROSOFT_ONLINE:
        raise SoapFault("InvalidScope", "ID3082: The request scope is not valid or is unsupported.")
    return username, password
