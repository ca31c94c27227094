"""The sans-I/O pieces of federated username/password sign-in: user realm, MEX, RST,
RSTR, the SAML bearer grant, and safe XML parsing (no DTD, no entities, bounded size)."""

from __future__ import annotations

import base64
from pathlib import Path
from xml.etree.ElementTree import fromstring

import pytest

from identitylib._authority import parse_authority
from identitylib._authority._user_realm import parse_user_realm, user_realm_request
from identitylib._flows._federation import acceptable_address
from identitylib._log import safe_url
from identitylib._protocol._errors import FlowError
from identitylib._protocol._messages import HttpResponse
from identitylib._protocol._xml import MAX_XML, XmlError, inner_xml, parse_xml
from identitylib._protocol.federation.mex import (
    WsTrustEndpoint,
    choose_endpoint,
    usernamemixed_endpoints,
)
from identitylib._protocol.federation.names import (
    SAML_1,
    SAML_2,
    WSS_SAML_1_1,
    WSS_SAML_2,
    WSTRUST_13,
    WSTRUST_2005,
    WsTrustVersion,
    version_of_address,
)
from identitylib._protocol.federation.rst import rst_request
from identitylib._protocol.federation.rstr import SamlAssertion, WsTrustFault, parse_rstr
from identitylib._protocol.grants import saml_bearer

STS = "https://sts.fabrikam.example/adfs/services/trust"
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z

# --------------------------------------------------------------------- MEX documents

MEX_NAMESPACES = (
    'xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
    'xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" '
    'xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" '
    'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/'
    'oasis-200401-wss-wssecurity-utility-1.0.xsd" '
    'xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702" '
    'xmlns:sp2005="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy" '
    'xmlns:wsa10="http://www.w3.org/2005/08/addressing" '
    'xmlns:http="http://schemas.microsoft.com/ws/06/2004/policy/http" '
    'xmlns:tns="http://tempuri.org/"'
)
ACTION_13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
ACTION_2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue"


def policy(name: str, body: str) -> str:
    return (
        f'<wsp:Policy wsu:Id="{name}"><wsp:ExactlyOne><wsp:All>{body}</wsp:All>'
        "</wsp:ExactlyOne></wsp:Policy>"
    )


def username_13(transport: bool = True) -> str:
    binding = "<sp:TransportBinding><wsp:Policy/></sp:TransportBinding>" if transport else ""
    return binding + (
        "<sp:SignedEncryptedSupportingTokens><wsp:Policy><sp:UsernameToken><wsp:Policy>"
        "<sp:WssUsernameToken10/></wsp:Policy></sp:UsernameToken></wsp:Policy>"
        "</sp:SignedEncryptedSupportingTokens>"
    )


def username_2005() -> str:
    return (
        "<sp2005:TransportBinding><wsp:Policy/></sp2005:TransportBinding>"
        "<sp2005:SignedSupportingTokens><wsp:Policy><sp2005:UsernameToken><wsp:Policy>"
        "<sp2005:WssUsernameToken10/></wsp:Policy></sp2005:UsernameToken></wsp:Policy>"
        "</sp2005:SignedSupportingTokens>"
    )


def windows() -> str:
    return "<http:NegotiateAuthentication/><sp2005:TransportBinding/>"


def binding(name: str, action: str, transport: str = "http://schemas.xmlsoap.org/soap/http") -> str:
    return (
        f'<wsdl:binding name="{name}" type="tns:IWSTrust">'
        f'<wsp:PolicyReference URI="#{name}_policy"/>'
        f'<soap12:binding transport="{transport}"/>'
        f'<wsdl:operation name="Issue"><soap12:operation soapAction="{action}"/></wsdl:operation>'
        "</wsdl:binding>"
    )


def port(name: str, address: str) -> str:
    return (
        f'<wsdl:port name="{name}" binding="tns:{name}"><wsa10:EndpointReference>'
        f"<wsa10:Address>{address}</wsa10:Address></wsa10:EndpointReference></wsdl:port>"
    )


def mex(*parts: tuple[str, str, str, str]) -> str:
    """A MEX document of (binding name, policy body, action, address) endpoints."""
    policies = "".join(policy(f"{name}_policy", body) for name, body, _, _ in parts)
    bindings = "".join(binding(name, action) for name, _, action, _ in parts)
    ports = "".join(port(name, address) for name, _, _, address in parts)
    return (
        f"<wsdl:definitions {MEX_NAMESPACES}>{policies}{bindings}"
        f'<wsdl:service name="SecurityTokenService">{ports}</wsdl:service></wsdl:definitions>'
    )


ADFS_MEX = mex(
    # a username token without a transport binding: not a usernamemixed endpoint
    ("NoTransport13", username_13(transport=False), ACTION_13, f"{STS}/13/notransport"),
    ("UserNameFeb2005", username_2005(), ACTION_2005, f"{STS}/2005/usernamemixed"),
    ("WindowsTransport13", windows(), ACTION_13, f"{STS}/13/windowstransport"),
    ("UserName13", username_13(), ACTION_13, f"{STS}/13/usernamemixed"),
)


def https_only(address: str) -> bool:
    return address.startswith("https://")


def test_mex_lists_the_username_password_endpoints_and_prefers_ws_trust_13() -> None:
    endpoints = usernamemixed_endpoints(ADFS_MEX)
    assert endpoints == [
        WsTrustEndpoint(f"{STS}/2005/usernamemixed", WSTRUST_2005),
        WsTrustEndpoint(f"{STS}/13/usernamemixed", WSTRUST_13),
    ]  # no Windows-integrated endpoint, no policy without a transport binding
    assert choose_endpoint(endpoints, https_only) == endpoints[1]


def test_mex_falls_back_to_ws_trust_2005_and_skips_unacceptable_addresses() -> None:
    only_2005 = mex(("UserNameFeb2005", username_2005(), ACTION_2005, f"{STS}/2005/usernamemixed"))
    (endpoint,) = usernamemixed_endpoints(only_2005)
    assert choose_endpoint([endpoint], https_only) == endpoint
    plain = mex(
        ("UserName13", username_13(), ACTION_13, "http://sts.fabrikam.example/13/usernamemixed"),
        ("UserNameFeb2005", username_2005(), ACTION_2005, f"{STS}/2005/usernamemixed"),
    )
    chosen = choose_endpoint(usernamemixed_endpoints(plain), https_only)
    assert chosen == WsTrustEndpoint(f"{STS}/2005/usernamemixed", WSTRUST_2005)


def test_mex_without_a_username_password_endpoint() -> None:
    no_username = mex(("WindowsTransport13", windows(), ACTION_13, f"{STS}/13/windowstransport"))
    assert usernamemixed_endpoints(no_username) == []
    assert choose_endpoint([], https_only) is None
    other_action = mex(("UserName13", username_13(), "urn:other:Issue", f"{STS}/13/usernamemixed"))
    assert usernamemixed_endpoints(other_action) == []
    soap11 = ADFS_MEX.replace("http://schemas.xmlsoap.org/soap/http", "urn:other-transport")
    assert usernamemixed_endpoints(soap11) == []


def test_version_of_a_usernamemixed_address() -> None:
    assert version_of_address(f"{STS}/13/usernamemixed") is WSTRUST_13
    assert version_of_address(f"{STS.upper()}/2005/USERNAMEMIXED") is WSTRUST_2005
    assert version_of_address(f"{STS}/13/windowstransport") is None


def test_acceptable_addresses_keep_the_password_on_tls() -> None:
    https = parse_authority("https://login.microsoftonline.com/organizations")
    loopback = parse_authority("http://127.0.0.1:8400/organizations")
    assert acceptable_address(https, f"{STS}/13/usernamemixed")
    assert not acceptable_address(https, "http://127.0.0.1:8400/adfs/services/trust/mex")
    assert not acceptable_address(https, "ftp://sts.fabrikam.example/mex")
    assert not acceptable_address(https, "not a url")
    assert acceptable_address(loopback, "http://127.0.0.1:8400/adfs/services/trust/mex")
    assert acceptable_address(loopback, f"{STS}/13/usernamemixed")
    assert not acceptable_address(loopback, "http://sts.fabrikam.example/13/usernamemixed")


# ---------------------------------------------------------------------------- RST


@pytest.mark.parametrize("version", [WSTRUST_13, WSTRUST_2005], ids=["1.3", "2005"])
def test_rst_envelope(version: WsTrustVersion) -> None:
    endpoint = WsTrustEndpoint(f"{STS}/x/usernamemixed", version)
    request = rst_request(
        endpoint,
        username="carol@fabrikam.example",
        password="p<&>'\"w",
        applies_to="urn:federation:MicrosoftOnline",
        now=NOW,
        message_id="11111111-2222-3333-4444-555555555555",
    )
    assert request.method == "POST"
    assert request.url == endpoint.address
    assert request.one_time  # a wrong password is never sent twice (AD FS lockout)
    assert request.data is None
    assert request.headers == {
        "Content-Type": "application/soap+xml; charset=utf-8",
        "SOAPAction": version.action,
    }
    assert request.content is not None
    root = fromstring(request.content)
    s = "{http://www.w3.org/2003/05/soap-envelope}"
    a = "{http://www.w3.org/2005/08/addressing}"
    u = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}"
    e = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"
    t = "{" + version.namespace + "}"
    header = root.find(f"{s}Header")
    assert header is not None
    assert header.findtext(f"{a}Action") == version.action
    assert header.findtext(f"{a}MessageID") == "urn:uuid:11111111-2222-3333-4444-555555555555"
    assert header.findtext(f"{a}To") == endpoint.address
    assert header.findtext(f"{e}Security/{u}Timestamp/{u}Created") == "2023-11-14T22:13:20Z"
    assert header.findtext(f"{e}Security/{u}Timestamp/{u}Expires") == "2023-11-14T22:23:20Z"
    token = f"{e}Security/{e}UsernameToken"
    assert header.findtext(f"{token}/{e}Username") == "carol@fabrikam.example"
    assert header.findtext(f"{token}/{e}Password") == "p<&>'\"w"  # escaped, not injected
    body = root.find(f"{s}Body/{t}RequestSecurityToken")
    assert body is not None
    applies = "{http://schemas.xmlsoap.org/ws/2004/09/policy}AppliesTo"
    assert body.findtext(f"{applies}/{a}EndpointReference/{a}Address") == (
        "urn:federation:MicrosoftOnline"
    )
    assert body.findtext(f"{t}KeyType") == version.key_type
    assert body.findtext(f"{t}RequestType") == version.request_type


def test_rst_request_hides_the_password_in_its_repr() -> None:
    endpoint = WsTrustEndpoint(f"{STS}/13/usernamemixed", WSTRUST_13)
    request = rst_request(
        endpoint, username="u@x", password="pw-77-secret", applies_to="urn:a", now=NOW,
        message_id="m",
    )  # fmt: skip
    assert request.content is not None
    assert b"pw-77-secret" in request.content
    assert "pw-77-secret" not in repr(request)
    assert f"content=<{len(request.content)} bytes>" in repr(request)
    assert "pw-77-secret" not in repr(request.content)


# --------------------------------------------------------------------------- RSTR

SAML1_ASSERTION = (
    '<saml:Assertion MajorVersion="1" MinorVersion="1" AssertionID="_a1" '
    'xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion">'
    '<saml:Conditions NotOnOrAfter="2030-01-01T00:00:00Z"/>'
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
    "<ds:SignatureValue>c2ln</ds:SignatureValue></ds:Signature>"
    "</saml:Assertion>"
)


def rstr_13(token: str, token_type: str = SAML_1) -> str:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        "<trust:RequestSecurityTokenResponseCollection "
        'xmlns:trust="http://docs.oasis-open.org/ws-sx/ws-trust/200512">'
        "<trust:RequestSecurityTokenResponse>"
        f"<trust:RequestedSecurityToken>\n  {token}\n</trust:RequestedSecurityToken>"
        f"<trust:TokenType>{token_type}</trust:TokenType>"
        "</trust:RequestSecurityTokenResponse>"
        "</trust:RequestSecurityTokenResponseCollection></s:Body></s:Envelope>"
    )


def rstr_2005(token: str, token_type: str = SAML_1) -> str:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        '<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust">'
        f"<t:TokenType>{token_type}</t:TokenType>"
        f"<t:RequestedSecurityToken>{token}</t:RequestedSecurityToken>"
        "</t:RequestSecurityTokenResponse></s:Body></s:Envelope>"
    )


@pytest.mark.parametrize("make", [rstr_13, rstr_2005], ids=["1.3", "2005"])
def test_rstr_gives_the_assertion_byte_for_byte(make: object) -> None:
    answer = parse_rstr(make(SAML1_ASSERTION))  # type: ignore[operator]
    assert answer == SamlAssertion(SAML1_ASSERTION.encode(), SAML_1)
    assert isinstance(answer, SamlAssertion)
    assert "c2ln" not in repr(answer)  # the assertion is not in the repr


def test_rstr_keeps_non_ascii_and_quoted_angle_brackets() -> None:
    token = (
        '<saml:Assertion Note="a > b" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">'
        "<saml:AttributeValue>Zoë &amp; Ünal</saml:AttributeValue></saml:Assertion>"
    )
    answer = parse_rstr(rstr_13(token, SAML_2))
    assert answer == SamlAssertion(token.encode("utf-8"), SAML_2)


def test_rstr_fault() -> None:
    fault = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault>'
        "<s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value "
        'xmlns:a="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
        "a:FailedAuthentication</s:Value></s:Subcode></s:Code>"
        '<s:Reason><s:Text xml:lang="en-US">ID3242: The security token could not be '
        "authenticated or authorized.</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"
    )
    answer = parse_rstr(fault)
    assert answer == WsTrustFault(
        "s:Sender",
        "a:FailedAuthentication",
        "ID3242: The security token could not be authenticated or authorized.",
    )
    assert isinstance(answer, WsTrustFault)
    assert answer.failed_authentication
    assert answer.describe().endswith("(s:Sender/a:FailedAuthentication)")
    assert not WsTrustFault("s:Receiver", "a:RequestFailed", None).failed_authentication


@pytest.mark.parametrize(
    "text",
    [
        rstr_13(SAML1_ASSERTION, token_type=""),  # no token type
        rstr_13(""),  # no token
        rstr_13(SAML1_ASSERTION + SAML1_ASSERTION),  # two tokens
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
    ],
    ids=["no-type", "no-token", "two-tokens", "empty-body"],
)
def test_rstr_without_an_assertion_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="no RequestSecurityTokenResponse"):
        parse_rstr(text)


# --------------------------------------------------------------------- safe XML

XXE_MARKER = "marker-of-a-local-file-6612"


def xxe_document(path: Path) -> str:
    return f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{path}">]><x>&xxe;</x>'


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    )
    + "]><lolz>&lol9;</lolz>"
)


@pytest.fixture
def local_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(XXE_MARKER)
    return path


def test_external_entities_are_refused(local_file: Path) -> None:
    with pytest.raises(XmlError, match="document type declaration") as refused:
        parse_xml(xxe_document(local_file), "answer")
    assert XXE_MARKER not in str(refused.value)


def test_entity_expansion_bombs_are_refused_before_any_expansion() -> None:
    with pytest.raises(XmlError, match="document type declaration"):
        parse_xml(BILLION_LAUGHS, "answer")  # 3e9 characters once expanded


def test_even_a_harmless_dtd_is_refused_and_size_is_bounded() -> None:
    with pytest.raises(XmlError, match="document type declaration"):
        parse_xml('<!DOCTYPE x [<!ENTITY a "b">]><x/>', "answer")
    with pytest.raises(XmlError, match="document type declaration"):
        parse_xml("<!DOCTYPE x><x/>", "answer")
    with pytest.raises(XmlError, match="larger than"):
        parse_xml("<x>" + " " * MAX_XML + "</x>", "answer")
    with pytest.raises(XmlError, match="not well-formed"):
        parse_xml("<x>", "answer")


@pytest.mark.parametrize(
    "parse",
    [usernamemixed_endpoints, parse_rstr],
    ids=["mex", "rstr"],
)
def test_the_mex_and_rstr_parsers_refuse_dtds(parse: object, local_file: Path) -> None:
    for document in (xxe_document(local_file), BILLION_LAUGHS):
        with pytest.raises(XmlError) as refused:
            parse(document)  # type: ignore[operator]
        assert XXE_MARKER not in str(refused.value)


def test_inner_xml_gives_the_bytes_as_written() -> None:
    text = '<a xmlns:n="urn:n"><n:b x=">">  <c/>é </n:b><n:b/><n:b></n:b></a>'
    assert inner_xml(text, "{urn:n}b") == ["  <c/>é ".encode(), b"", b""]


# ------------------------------------------------------------------- user realm


def test_user_realm_request_names_the_user_and_keeps_the_port() -> None:
    authority = parse_authority("http://127.0.0.1:8400/organizations")
    request = user_realm_request(authority, "carol@fabrikam.example", "corr-1")
    assert request.method == "GET"
    assert request.url == "http://127.0.0.1:8400/common/userrealm/carol@fabrikam.example"
    assert request.params == {"api-version": "1.0"}
    assert request.headers == {"Accept": "application/json", "client-request-id": "corr-1"}
    odd = user_realm_request(authority, "a/b?c#d@x.example", "c")
    assert odd.url.endswith("/common/userrealm/a%2Fb%3Fc%23d@x.example")
    assert safe_url(request.url) == "http://127.0.0.1:8400/common/userrealm/***"


def test_user_realm_answers() -> None:
    federated = parse_user_realm(
        HttpResponse(
            200,
            '{"account_type": "Federated", "federation_protocol": "WSTrust", '
            '"federation_metadata_url": "https://sts/mex", '
            '"federation_active_auth_url": "https://sts/2005/usernamemixed"}',
        ),
        "c",
    )
    assert federated is not None
    assert federated.is_federated
    assert federated.federation_metadata_url == "https://sts/mex"
    assert federated.federation_active_auth_url == "https://sts/2005/usernamemixed"
    assert federated.cloud_audience_urn == "urn:federation:MicrosoftOnline"
    managed = parse_user_realm(HttpResponse(200, '{"account_type": "Managed"}'), "c")
    assert managed is not None
    assert not managed.is_federated
    assert parse_user_realm(HttpResponse(404, "not found"), "c") is None
    for broken in (HttpResponse(500, '{"error": "x"}'), HttpResponse(200, "<html/>")):
        with pytest.raises(FlowError) as failed:
            parse_user_realm(broken, "corr-2")
        assert failed.value.result["error"] == "invalid_response"
        assert failed.value.result["correlation_id"] == "corr-2"


# ------------------------------------------------------------------- SAML bearer


def test_saml_bearer_grant_fields() -> None:
    assert saml_bearer.grant_type_for(SAML_1) == saml_bearer.SAML1_1
    assert saml_bearer.grant_type_for(WSS_SAML_1_1) == saml_bearer.SAML1_1
    assert saml_bearer.grant_type_for(SAML_2) == saml_bearer.SAML2
    assert saml_bearer.grant_type_for(WSS_SAML_2) == saml_bearer.SAML2
    assert saml_bearer.grant_type_for("urn:ietf:params:oauth:token-type:jwt") is None
    assertion = b"<saml:Assertion>\xc3\xa9?></saml:Assertion>"
    fields = saml_bearer.request_fields(
        client_id="cid",
        grant_type=saml_bearer.SAML1_1,
        assertion=assertion,
        scopes=["User.Read", "openid"],
        client_auth={"client_secret": "s"},
        claims='{"a":1}',
        extra={"grant_type": "ignored", "extra": "1"},
    )
    encoded = fields["assertion"]
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)) == assertion
    assert repr(fields["assertion"]) == "'***'"
    assert {k: v for k, v in fields.items() if k != "assertion"} == {
        "grant_type": saml_bearer.SAML1_1,
        "client_id": "cid",
        "scope": "User.Read openid",
        "client_info": "1",
        "claims": '{"a":1}',
        "client_secret": "s",
        "extra": "1",
    }
