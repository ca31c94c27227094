"""A scripted user for the emulator's pages: sign in and approve device codes over HTTP.

Useful wherever a test or a demo needs a user without a browser: it fills the same HTML
forms a person would, and can deliver the answer to the app's redirect URI.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any, Optional, Union
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

TIMEOUT = 10.0


class _Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(attributes.get("action", ""), attributes.get("method", "get")))
        elif (
            tag == "input"
            and self.forms
            and attributes.get("name")
            and attributes.get("type") not in ("submit", "button")
        ):
            self.forms[-1].fields.setdefault(attributes["name"], attributes.get("value", ""))


def _forms(html: str, page_url: str) -> list[_Form]:
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        form.action = urljoin(page_url, form.action) if form.action else page_url
    return parser.forms


def _session(verify: Union[bool, str]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the emulator's CA
    session.verify = verify
    return session


def sign_in(
    auth_uri: str,
    username: str,
    password: str,
    *,
    verify: Union[bool, str] = True,
    deliver: bool = False,
) -> dict[str, str]:
    """Sign ``username`` in on the emulator's page behind ``auth_uri``.

    Returns the authorization response fields (``code``, ``state``, ... or ``error``).
    With ``deliver=True`` they are also sent to the redirect URI as the browser would
    (a form POST for ``form_post``, a GET for ``query``), e.g. to a loopback listener.
    """
    with _session(verify) as session:
        page = session.get(auth_uri, timeout=TIMEOUT, allow_redirects=False)
        forms = [f for f in _forms(page.text, page.url) if "password" in f.fields]
        if page.status_code != 200 or not forms:
            return _answer_of(page)
        form = forms[0]
        form.fields.update(username=username, password=password, action="signin")
        answer = session.post(form.action, data=form.fields, timeout=TIMEOUT, allow_redirects=False)
        fields = _answer_of(answer)
        if deliver:
            _deliver(answer, fields)
        return fields


def _answer_of(response: requests.Response) -> dict[str, str]:
    if response.status_code in (301, 302, 303):
        location = response.headers.get("location", "")
        parts = urlsplit(location)
        return dict(parse_qsl(parts.fragment or parts.query))
    forms = _forms(response.text, response.url)
    if forms and "password" not in forms[0].fields:
        return dict(forms[0].fields)
    return {"error": "sign_in_failed", "error_description": f"HTTP {response.status_code}"}


def _deliver(answer: requests.Response, fields: dict[str, str]) -> None:
    with requests.Session() as plain:
        plain.trust_env = False
        if answer.status_code in (301, 302, 303):
            plain.get(answer.headers["location"], timeout=TIMEOUT)
        else:
            forms = _forms(answer.text, answer.url)
            if forms:
                plain.post(forms[0].action, data=fields, timeout=TIMEOUT)


def approve_device_code(
    verification_uri: str,
    user_code: str,
    username: str,
    password: str,
    *,
    verify: Union[bool, str] = True,
) -> bool:
    """Enter ``user_code`` on the device-login page and sign in; True when accepted."""
    with _session(verify) as session:
        page = session.get(verification_uri, timeout=TIMEOUT)
        forms = [f for f in _forms(page.text, page.url) if "user_code" in f.fields]
        if not forms:
            return False
        form = forms[0]
        form.fields.update(user_code=user_code, username=username, password=password)
        form.fields["action"] = "approve"
        answer: Any = session.post(form.action, data=form.fields, timeout=TIMEOUT)
        return bool(answer.status_code == 200)
