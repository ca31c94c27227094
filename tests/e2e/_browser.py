"""A tiny HTTP 'browser' that fills in the emulator's HTML forms, as a user would."""

from __future__ import annotations

import requests

from identitylib.emulator._robot import Form, forms_in

__all__ = ["Form", "approve_device_code", "form_post_fields", "forms_in", "sign_in"]


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
