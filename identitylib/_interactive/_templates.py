"""The pages the loopback listener shows in the user's browser.

Templates are :class:`string.Template` text, as in MSAL Python: ``success_template`` may
use the authorization response's fields (``$code``, ``$state``...), ``error_template``
``$error``, ``$error_description`` and ``$error_uri``, ``welcome_template`` ``$auth_uri``
and ``$abort_uri``. Missing fields become empty. A template that starts with ``<`` is
HTML and gets its values HTML-escaped; any other is sent as plain text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from string import Template
from typing import Any, Optional

_SECURITY_NOTE = (
    "For your security: do not share the contents of this page, the address bar, "
    "or screenshots of them."
)


def _html(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
        "padding:0 1rem}.note{color:#555;font-size:.9rem}</style></head>"
        f'<body><h1>{title}</h1>{body}<p class="note">{_SECURITY_NOTE}</p></body></html>\n'
    )


SUCCESS_TEMPLATE = _html(
    "Authentication complete",
    "<p>You can close this window and return to the application.</p>",
)

ERROR_TEMPLATE = _html(
    "Authentication failed",
    "<p><strong>$error</strong>: $error_description</p><p>$error_uri</p>"
    "<p>You can close this window and return to the application.</p>",
)

STATE_MISMATCH_PAGE = _html(
    "Unexpected sign-in response",
    "<p>This response does not belong to the sign-in the application is waiting for, "
    "so it was ignored. The application is still waiting; finish the sign-in in the "
    "window it opened, or close this one.</p>",
)

NOT_A_RESPONSE_PAGE = _html(
    "Nothing to see here",
    "<p>This address only receives the answer of a sign-in for an application on "
    "this computer.</p>",
)

NOT_FOUND_PAGE = "Not found\n"


def is_html(template: str) -> bool:
    """MSAL's rule: a template is HTML when it starts with ``<``."""
    return template.lstrip().startswith("<")


def render(template: str, values: Mapping[str, Any]) -> tuple[str, str]:
    """Fill ``template``; return the text and its content type."""
    html = is_html(template)
    filled: defaultdict[str, str] = defaultdict(str)
    for name, value in values.items():
        text = "" if value is None else str(value)
        filled[name] = escape(text) if html else text
    body = Template(template).safe_substitute(filled)
    return body, "text/html" if html else "text/plain"


@dataclass(frozen=True)
class Pages:
    """The templates of one interactive sign-in (the app's, else the defaults)."""

    success: str = SUCCESS_TEMPLATE
    error: str = ERROR_TEMPLATE
    welcome: Optional[str] = None

    @classmethod
    def from_options(
        cls,
        success_template: Optional[str] = None,
        error_template: Optional[str] = None,
        welcome_template: Optional[str] = None,
    ) -> Pages:
        """Pages from MSAL's keyword arguments; ValueError for a non-string template."""
        for name, value in (
            ("success_template", success_template),
            ("error_template", error_template),
            ("welcome_template", welcome_template),
        ):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string.Template text")
        return cls(
            success=success_template or SUCCESS_TEMPLATE,
            error=error_template or ERROR_TEMPLATE,
            welcome=welcome_template or None,
        )
