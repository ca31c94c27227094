"""A tiny HTTP 'browser' that fills in the emulator's HTML forms, as a user would."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Optional
from urllib.parse import urljoin

import requests


class Form:
    """A parsed HTML form: where it posts and its named inputs."""

    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                Form(attributes.get("action", ""), attributes.get("method", "get").lower())
            )
        elif tag in ("input", "button") and self.forms and attributes.get("name"):
            if attributes.get("type") in ("submit", "button") and tag == "button":
                return
            self.forms[-1].fields.setdefault(attributes["name"], attributes.get("value", ""))


def forms_in(html: str, base_url: str) -> list[Form]:
    """Every form of a page, with actions made absolute."""
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        form.action = urljoin(base_url, form.action) if form.action else base_url
    return parser.forms


def sign_in(
    session: requests.Session, auth_uri: str, username: str, password: str
) -> requests.Response:
    """Open the sign-in page, fill in the credentials, submit; return the answer (no redirects)."""
    page = session.get(auth_uri, timeout=10, allow_redirects=False)
    page.raise_for_status()
    form = next(f for f in forms_in(page.text, page.url) if "password" in f.fields)
    form.fields.update(username=username, password=password)
    return session.post(form.action, data=form.fields, timeout=10, allow_redirects=False)


def form_post_fields(response: requests.Response) -> dict[str, str]:
    """The hidden fields of a ``response_mode=form_post`` auto-submitting page."""
    forms = forms_in(response.text, response.url)
    assert forms, f"no form in the answer: HTTP {response.status_code}"
    return forms[0].fields


def approve_device_code(
    session: requests.Session, verification_uri: str, user_code: str, username: str, password: str
) -> requests.Response:
    """Enter a device code on the device-login page and sign in."""
    page = session.get(verification_uri, timeout=10)
    page.raise_for_status()
    form = next(f for f in forms_in(page.text, page.url) if "user_code" in f.fields)
    form.fields.update(user_code=user_code, username=username, password=password)
    return session.post(form.action, data=form.fields, timeout=10)
