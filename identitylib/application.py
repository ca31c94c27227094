"""The application classes, with the names of ``msal.application``.

``from msal.application import ConfidentialClientApplication`` becomes
``from identitylib.application import ConfidentialClientApplication``; the classes are
those of the top-level package.
"""

from __future__ import annotations

import string

from ._application import ClientApplication, ConfidentialClientApplication, PublicClientApplication

__all__ = [
    "ClientApplication",
    "ConfidentialClientApplication",
    "PublicClientApplication",
    "extract_certs",
]

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"
#: ASCII upper case only, so that positions in the text and in its copy agree.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def extract_certs(public_cert_content: str) -> list[str]:
    """The base64 bodies of the PEM certificates in ``public_cert_content`` (e.g. for an
    ``x5c`` header), as ``msal.application.extract_certs`` returns them.

    Text without certificate markers is returned whole (stripped), unless it holds a
    private key: ``ValueError`` then, as a private key is never meant to be sent.
    """
    bodies: list[str] = []
    upper = public_cert_content.translate(_ASCII_UPPER)  # markers in any case
    position = upper.find(_BEGIN)
    while position >= 0:
        start = position + len(_BEGIN)
        end = upper.find(_END, start)
        if end < 0:
            break
        body = public_cert_content[start:end]
        if body and "-" not in body:
            bodies.append(body.strip())
            position = upper.find(_BEGIN, end + len(_END))
        else:  # not one certificate's body: look for the next marker inside it
            position = upper.find(_BEGIN, start)
    if bodies:
        return bodies
    if "PRIVATE KEY" in public_cert_content:
        raise ValueError("Expected a public certificate, found a private key")
    return [public_cert_content.strip()]
