"""The emulator's HTML: sign-in, device login, form_post auto-submit, messages, errors.

Plain, small pages with no external assets; every interpolated value is escaped.
Field names are part of the contract with the server and the browser-driving tests:

* sign-in: ``POST {base}/{tenant}/oauth2/v2.0/authorize`` with ``username``, ``password``,
  hidden ``txn`` and a submit button ``action`` = ``signin`` (or ``decline``); a B2C
  sign-up/sign-in page also has the link ``<a id="forgotPassword">``;
* consent: the same URL with hidden ``txn`` and a submit button ``action`` = ``accept``
  (or ``decline``);
* device login: ``POST {base}/devicelogin`` with ``user_code``, ``username``, ``password``
  and a submit button ``action`` = ``approve`` (or ``decline``);
* form_post: ``<form method="post" action="{redirect_uri}">`` of hidden inputs, submitted
  by script on load, with a ``<noscript>`` submit button.
"""

from __future__ import annotations

from html import escape
from typing import Optional

_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0}"
    "main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;"
    "box-shadow:0 2px 6px rgba(0,0,0,.2)}"
    "label{display:block;margin-top:1rem}input{width:100%;box-sizing:border-box;padding:.4rem}"
    "button{margin-top:1.2rem;margin-right:.5rem;padding:.4rem 1.2rem}"
    ".error{color:#a80000}.note{color:#555;font-size:.85rem}"
)


def page(title: str, body: str) -> str:
    """A complete HTML document around already-escaped ``body``."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    )


def _error_line(error: Optional[str]) -> str:
    return f'<p class="error" role="alert">{escape(error)}</p>' if error else ""


def _input(name: str, label: str, value: str = "", kind: str = "text") -> str:
    return (
        f'<label for="{name}">{escape(label)}</label>'
        f'<input id="{name}" name="{name}" type="{kind}" value="{escape(value)}">'
    )


def sign_in_page(
    action: str,
    txn: str,
    app_name: str,
    *,
    username: str = "",
    error: Optional[str] = None,
    title: str = "Sign in",
    forgot_password_url: Optional[str] = None,
) -> str:
    """The sign-in form posting back to the authorize URL (``title`` and the "Forgot
    your password?" link vary with the B2C user flow)."""
    forgot = (
        f'<p><a id="forgotPassword" href="{escape(forgot_password_url)}">'
        "Forgot your password?</a></p>"
        if forgot_password_url
        else ""
    )
    return page(
        title,
        f"<p>to continue to <strong>{escape(app_name)}</strong></p>"
        + _error_line(error)
        + f'<form method="post" action="{escape(action)}">'
        + f'<input type="hidden" name="txn" value="{escape(txn)}">'
        + _input("username", "Email or username", username, "email")
        + _input("password", "Password", "", "password")
        + '<button type="submit" name="action" value="signin">Sign in</button>'
        + '<button type="submit" name="action" value="decline">Cancel</button>'
        + "</form>"
        + forgot
        + '<p class="note">identitylib emulator &mdash; not a real identity provider.</p>',
    )


def consent_page(
    action: str, txn: str, app_name: str, username: str, permissions: list[str]
) -> str:
    """The consent step: the app asks the signed-in user for these permissions."""
    items = "".join(f"<li>{escape(p)}</li>" for p in permissions) or "<li>Sign you in</li>"
    return page(
        "Permissions requested",
        f"<p><strong>{escape(app_name)}</strong> asks {escape(username)} for permission "
        f"to:</p><ul>{items}</ul>"
        + f'<form method="post" action="{escape(action)}">'
        + f'<input type="hidden" name="txn" value="{escape(txn)}">'
        + '<button type="submit" name="action" value="accept">Accept</button>'
        + '<button type="submit" name="action" value="decline">Cancel</button>'
        + "</form>",
    )


def device_login_page(
    action: str, *, user_code: str = "", username: str = "", error: Optional[str] = None
) -> str:
    """The page where the user enters the device's code and signs in."""
    return page(
        "Enter code",
        "<p>Enter the code displayed on your app or device, then sign in.</p>"
        + _error_line(error)
        + f'<form method="post" action="{escape(action)}">'
        + _input("user_code", "Code", user_code)
        + _input("username", "Email or username", username, "email")
        + _input("password", "Password", "", "password")
        + '<button type="submit" name="action" value="approve">Sign in</button>'
        + '<button type="submit" name="action" value="decline">Decline</button>'
        + "</form>",
    )


def message_page(title: str, message: str) -> str:
    """A page that only says something (device signed in, request declined...)."""
    return page(title, f"<p>{escape(message)}</p>")


def error_page(message: str, code: Optional[int] = None) -> str:
    """The page shown instead of redirecting when the redirect target cannot be trusted."""
    prefix = f"AADSTS{code}: " if code is not None else ""
    return page(
        "Sorry, but we're having trouble signing you in.",
        f'<p class="error" role="alert">{escape(prefix + message)}</p>',
    )


def form_post_page(redirect_uri: str, fields: dict[str, str]) -> str:
    """``response_mode=form_post``: auto-submitting form of hidden inputs."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Working...</title></head>"
        '<body onload="document.forms[0].submit()">'
        f'<form method="post" action="{escape(redirect_uri)}">{inputs}'
        "<noscript><p>Script is disabled. Click Submit to continue.</p>"
        '<button type="submit">Submit</button></noscript></form></body></html>\n'
    )
