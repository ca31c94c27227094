"""Parsing XML that comes from the network (a federation server's MEX and WS-Trust answers).

:func:`parse_xml` parses with ``defusedxml``, which refuses what makes parsing untrusted XML
dangerous: here any document type declaration at all (SOAP and WSDL documents have none),
so no entity can be declared, none expanded (no "billion laughs") and none read from a file
or a URL (no XXE). Documents larger than :data:`MAX_XML` characters are refused before
parsing. Error messages describe the problem and never quote the document.

:func:`inner_xml` returns the exact bytes inside elements of a document that
:func:`parse_xml` accepted: a SAML assertion must reach the token endpoint byte for byte, as
its signature covers it, and an ElementTree would re-serialize it (its namespace prefixes
renamed).
"""

from __future__ import annotations

import xml.parsers.expat
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree

from ._token_response import MAX_BODY

#: Largest XML document parsed, in characters.
MAX_XML = MAX_BODY


class XmlError(ValueError):
    """A document that is too large, not well-formed, or uses DTDs or entities."""


def parse_xml(text: str, what: str) -> Element:
    """The root element of ``text``; :class:`XmlError` naming ``what`` when it is unsafe or
    not well-formed XML."""
    if len(text) > MAX_XML:
        raise XmlError(f"the {what} is larger than {MAX_XML} characters")
    try:
        root: Element = defusedxml.ElementTree.fromstring(text, forbid_dtd=True)
    except defusedxml.DefusedXmlException:
        raise XmlError(
            f"the {what} has a document type declaration or entities, which are refused"
        ) from None
    except ParseError as exc:
        raise XmlError(f"the {what} is not well-formed XML ({exc})") from None
    return root


def inner_xml(text: str, tag: str) -> list[bytes]:
    """The UTF-8 bytes between the start and end tags of every ``tag`` element of ``text``
    (``tag`` in ElementTree's ``{namespace}name`` form), in document order, as they are in
    the document.

    Only for a document :func:`parse_xml` accepted: it has no DTD, so this second pass
    with expat itself declares and expands no entity.
    """
    data = text.encode("utf-8")
    parser = xml.parsers.expat.ParserCreate(encoding="utf-8", namespace_separator="}")
    found: list[bytes] = []
    open_at: list[int] = []  # content start of each open ``tag`` element

    def start(name: str, _attributes: object) -> None:
        if "{" + name == tag or name == tag:
            open_at.append(_end_of_start_tag(data, parser.CurrentByteIndex))

    def end(name: str) -> None:
        if ("{" + name == tag or name == tag) and open_at:
            begin = open_at.pop()
            end_at = parser.CurrentByteIndex
            found.append(data[begin:end_at] if end_at > begin else b"")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise XmlError(f"the document is not well-formed XML ({exc})") from None
    return found


def _end_of_start_tag(data: bytes, at: int) -> int:
    """The offset just past the start tag that begins at ``at`` (quoted ``>`` skipped)."""
    quote = 0
    for index in range(at, len(data)):
        byte = data[index]
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):  # " or '
            quote = byte
        elif byte == 0x3E:  # >
            return index + 1
    return len(data)
