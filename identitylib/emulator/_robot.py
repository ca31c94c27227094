"""A scripted user for the emulator's pages: sign in (accepting or declining a consent
step), follow a B2C page's "Forgot your password?" link, and approve device codes, over
HTTP.

Useful wherever a test or a demo needs a user without a browser: it fills the same HTML
forms a person would, and can deliver the answer to the app's redirect URI.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any, Optional, Union
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

TIMEOUT = 10.0


class Form:
    """A parsed HTML form: where it is sent, how, and its named inputs (submit buttons
    left out: the caller picks the action)."""

    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: dict[str, str] = {}  # id -> href

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "a" and attributes.get("id") and attributes.get("href"):
            self.links.setdefault(attributes["id"], attributes["href"])
        elif tag == "form":
            self.forms.append(
                Form(attributes.get("action", ""), attributes.get("method", "get").lower())
            )
        elif (
            tag == "input"
            and self.forms
            and attributes.get("name")
            and attributes.get("type") not in ("submit", "button")
        ):
            self.forms[-1].fields.setdefault(attributes["name"], attributes.get("value", ""))


def _parse(html: str, page_url: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        form.action = urljoin(page_url, form.action) if form.action else page_url
    parser.links = {k: urljoin(page_url, v) for k, v in parser.links.items()}
    return parser


def forms_in(html: str, page_url: str) -> list[Form]:
    """Every form of a page, with actions made absolute."""
    return _parse(html, page_url).forms


def _consent_form(response: requests.Response) -> Optional[Form]:
    """The consent page's form (a ``txn`` and no password), if ``response`` is that page."""
    if response.status_code != 200:
        return None
    forms = forms_in(response.text, response.url)
    return next((f for f in forms if "txn" in f.fields and "password" not in f.fields), None)


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
    consent: bool = True,
) -> dict[str, str]:
    """Sign ``username`` in on the emulator's page behind ``auth_uri``.

    Returns the authorization response fields (``code``, ``state``, ... or ``error``).
    When the emulator asks for consent, the user accepts it (``consent=False``: cancels,
    and the app gets ``access_denied``). With ``deliver=True`` the fields are also sent to
    the redirect URI as the browser would (a form POST for ``form_post``, a GET for
    ``query``), e.g. to a loopback listener.
    """
    with _session(verify) as session:
        page = session.get(auth_uri, timeout=TIMEOUT, allow_redirects=False)
        forms = [f for f in forms_in(page.text, page.url) if "password" in f.fields]
        if page.status_code != 200 or not forms:
            return _answer_of(page)
        form = forms[0]
        form.fields.update(username=username, password=password, action="signin")
        answer = session.post(form.action, data=form.fields, timeout=TIMEOUT, allow_redirects=False)
        consent_form = _consent_form(answer)
        if consent_form is not None:
            consent_form.fields["action"] = "accept" if consent else "decline"
            answer = session.post(
                consent_form.action,
                data=consent_form.fields,
                timeout=TIMEOUT,
                allow_redirects=False,
            )
        fields = _answer_of(answer)
        if deliver:
            _deliver(answer, fields)
        return fields


def _answer_of(response: requests.Response) -> dict[str, str]:
    if response.status_code in (301, 302, 303):
        location = response.headers.get("location", "")
        parts = urlsplit(location)
        return dict(parse_qsl(parts.fragment or parts.query))
    forms = forms_in(response.text, response.url)
    if forms and "password" not in forms[0].fields:
        return dict(forms[0].fields)
    return {"error": "sign_in_failed", "error_description": f"HTTP {response.status_code}"}


def _deliver(answer: requests.Response, fields: dict[str, str]) -> None:
    with requests.Session() as plain:
        plain.trust_env = False
        if answer.status_code in (301, 302, 303):
            plain.get(answer.headers["location"], timeout=TIMEOUT)
        else:
            forms = forms_in(answer.text, answer.url)
            if forms:
                plain.post(forms[0].action, data=fields, timeout=TIMEOUT)


def forgot_password(
    auth_uri: str, *, verify: Union[bool, str] = True, deliver: bool = False
) -> dict[str, str]:
    """Open the B2C sign-up/sign-in page behind ``auth_uri`` and follow its "Forgot your
    password?" link; returns the authorization response (``error=access_denied`` with
    AADB2C90118 in ``error_description``, and ``state``). ``deliver`` as for
    :func:`sign_in`. A page without that link gives ``error=sign_in_failed``."""
    with _session(verify) as session:
        page = session.get(auth_uri, timeout=TIMEOUT, allow_redirects=False)
        link = _parse(page.text, page.url).links.get("forgotPassword")
        if page.status_code != 200 or link is None:
            return {"error": "sign_in_failed", "error_description": "no Forgot your password link"}
        answer = session.get(link, timeout=TIMEOUT, allow_redirects=False)
        fields = _answer_of(answer)
        if deliver:
            _deliver(answer, fields)
        return fields


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
        forms = [f for f in forms_in(page.text, page.url) if "user_code" in f.fields]
        if not forms:
            return False
        form = forms[0]
        form.fields.update(user_code=user_code, username=username, password=password)
        form.fields["action"] = "approve"
        answer: Any = session.post(form.action, data=form.fields, timeout=TIMEOUT)
        return bool(answer.status_code == 200)
