"""The WS-Trust RequestSecurityToken (RST) a username and password are sent in.

A SOAP 1.2 envelope whose header carries WS-Addressing (action, message id, reply-to,
to) and WS-Security (a timestamp and the username token), and whose body asks for a
bearer token that applies to Entra ID (``urn:federation:MicrosoftOnline`` unless user
realm discovery named another audience).
"""

from __future__ import annotations

import time
from xml.sax.saxutils import escape

from identitylib._log import hide
from identitylib._protocol._messages import HttpRequest

from .mex import WsTrustEndpoint
from .names import SOAP12, WSA, WSA_ANONYMOUS, WSP, WSSE, WSU

#: How long the request's timestamp says it is valid, in seconds (MSAL's ten minutes).
REQUEST_LIFETIME = 600

CONTENT_TYPE = "application/soap+xml; charset=utf-8"


def _text(value: str) -> str:
    """``value`` escaped for element content and attribute values alike."""
    return escape(value, {'"': "&quot;", "'": "&apos;"})


def _instant(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def envelope(
    endpoint: WsTrustEndpoint,
    *,
    username: str,
    password: str,
    applies_to: str,
    now: float,
    message_id: str,
) -> str:
    """The RST envelope, as text (it holds the password: never log it)."""
    version = endpoint.version
    return (
        f'<s:Envelope xmlns:s="{SOAP12}" xmlns:wsa="{WSA}" xmlns:wsu="{WSU}">'
        "<s:Header>"
        f'<wsa:Action s:mustUnderstand="1">{_text(version.action)}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{_text(message_id)}</wsa:MessageID>"
        f"<wsa:ReplyTo><wsa:Address>{WSA_ANONYMOUS}</wsa:Address></wsa:ReplyTo>"
        f'<wsa:To s:mustUnderstand="1">{_text(endpoint.address)}</wsa:To>'
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{WSSE}">'
        '<wsu:Timestamp wsu:Id="_0">'
        f"<wsu:Created>{_instant(now)}</wsu:Created>"
        f"<wsu:Expires>{_instant(now + REQUEST_LIFETIME)}</wsu:Expires>"
        "</wsu:Timestamp>"
        '<wsse:UsernameToken wsu:Id="UsernameToken-1">'
        f"<wsse:Username>{_text(username)}</wsse:Username>"
        f"<wsse:Password>{_text(password)}</wsse:Password>"
        "</wsse:UsernameToken>"
        "</wsse:Security>"
        "</s:Header>"
        "<s:Body>"
        f'<wst:RequestSecurityToken xmlns:wst="{version.namespace}">'
        f'<wsp:AppliesTo xmlns:wsp="{WSP}">'
        f"<wsa:EndpointReference><wsa:Address>{_text(applies_to)}</wsa:Address>"
        "</wsa:EndpointReference>"
        "</wsp:AppliesTo>"
        f"<wst:KeyType>{version.key_type}</wst:KeyType>"
        f"<wst:RequestType>{version.request_type}</wst:RequestType>"
        "</wst:RequestSecurityToken>"
        "</s:Body>"
        "</s:Envelope>"
    )


def rst_request(
    endpoint: WsTrustEndpoint,
    *,
    username: str,
    password: str,
    applies_to: str,
    now: float,
    message_id: str,
) -> HttpRequest:
    """The POST of the RST to ``endpoint``.

    Its body is hidden in reprs. It is ``one_time``: AD FS answers a wrong password with
    HTTP 500, and a retry would count a second failed sign-in towards the account's lockout.
    """
    body = hide(
        envelope(
            endpoint,
            username=username,
            password=password,
            applies_to=applies_to,
            now=now,
            message_id=message_id,
        )
    )
    return HttpRequest(
        "POST",
        endpoint.address,
        headers={"Content-Type": CONTENT_TYPE, "SOAPAction": endpoint.version.action},
        content=hide(body.encode("utf-8")),
        one_time=True,
    )
