"""Every flow, with DEBUG logging captured everywhere: no secret reaches a log record.

Secrets are collected from what was actually sent (form fields and headers of every request
``requests`` sent) and received (every token in results and caches), so new fields are
covered without listing them here. Records emitted by the in-process emulator (the server,
not the library) and by the test's scripted user (the "browser") are not the library's.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

import identitylib
from identitylib import _demo
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_DAEMON_SECRET,
    DEMO_WEB_SECRET,
    Emulator,
    EmulatorConfig,
)

SECRET_FORM_FIELDS = {
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "code",
    "code_verifier",
    "refresh_token",
    "device_code",
    "access_token",
    "id_token",
}
TOKEN_FIELDS = ("access_token", "refresh_token", "id_token", "secret")

_quiet = threading.local()
#: Which secret form fields the last test sent (to show it proved something).
SENT_KINDS: set[str] = set()


class Capture(logging.Handler):
    """Every record of the library's threads, formatted with its arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_quiet, "on", False) or record.name.startswith("identitylib.emulator"):
            return
        self.texts.append(self.format(record))


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("urllib3", "requests", "identitylib"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _as_user(function: Any) -> Any:
    """The scripted user's own HTTP traffic is not the library's: keep it out of the logs."""

    def quietly(*args: Any, **kwargs: Any) -> Any:
        _quiet.on = True
        try:
            return function(*args, **kwargs)
        finally:
            _quiet.on = False

    return quietly


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Secret values of every request sent through requests (forms and Authorization)."""
    values: list[str] = []
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        soap_password = re.search(r"<wsse:Password>([^<]*)</wsse:Password>", str(body))
        if soap_password:  # the WS-Trust request of a federated user
            values.append(html.unescape(soap_password.group(1)))
            SENT_KINDS.add("wstrust_password")
        elif isinstance(body, str) and "=" in body:
            for key, value in parse_qsl(body):
                if key in SECRET_FORM_FIELDS:
                    values.extend(_with_pieces(value))
                    SENT_KINDS.add(key)
                if key == "assertion" and value.startswith("PH"):  # base64url of "<": SAML
                    values.extend(_with_pieces(_b64url_text(value)))
                    SENT_KINDS.add("saml_assertion")
        for name in ("Authorization", "X-IDENTITY-HEADER", "Secret"):
            if name in request.headers:
                values.append(str(request.headers[name]).split(" ")[-1])
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    SENT_KINDS.clear()
    return values


def _with_pieces(value: str) -> list[str]:
    """``value`` and, for a long one, a piece of its middle (a log cut short shows that)."""
    if len(value) < 120:
        return [value]
    middle = len(value) // 2
    return [value, value[middle - 20 : middle + 20]]


def _b64url_text(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8", "replace")


def _without_user_realm_requests(texts: list[str]) -> str:
    """The log without urllib3's request lines of user realm discovery, whose URL path
    names the user (in msal as well): the only records allowed to show a username."""
    return "\n".join(
        text
        for text in texts
        if not (text.startswith("urllib3.connectionpool") and "/common/userrealm/" in text)
    )


def _tokens_of(value: Any, found: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TOKEN_FIELDS and isinstance(item, str):
                found.append(item)
            else:
                _tokens_of(item, found)
    elif isinstance(value, list):
        for item in value:
            _tokens_of(item, found)


def _assert_clean(texts: list[str], secrets: set[str]) -> None:
    secrets = {s for s in secrets if s and len(s) >= 6}
    assert secrets, "the test collected no secrets: it would prove nothing"
    log = "\n".join(texts)
    assert log, "nothing was logged at DEBUG: the test would prove nothing"
    leaked = sorted(s[:12] + "..." for s in secrets if s in log)
    assert not leaked, f"secrets in the logs: {leaked}"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig.default()
    config.device_code_interval = 1
    config.device_code_lifetime = 60
    with Emulator(config) as emulator:
        yield emulator


def test_every_flow_logs_no_secret_and_no_username(
    emu: Emulator, capture: Capture, sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_demo, "sign_in", _as_user(_demo.sign_in))
    monkeypatch.setattr(_demo, "approve_device_code", _as_user(_demo.approve_device_code))
    demo = _demo._Demo(emu, True)
    received: list[str] = []
    code_verifiers: list[str] = []
    original_initiate = identitylib.ClientApplication.initiate_auth_code_flow

    def initiate(self: Any, *args: Any, **kwargs: Any) -> Any:
        flow = original_initiate(self, *args, **kwargs)
        code_verifiers.append(flow["code_verifier"])
        return flow

    monkeypatch.setattr(identitylib.ClientApplication, "initiate_auth_code_flow", initiate)
    for name, first, second in demo.flows():
        for call in (first, second):
            result = call()
            assert result, name
            assert "access_token" in result, (name, result)
            _tokens_of(result, received)

    # On-behalf-of, with the access token of the signed-in user as the assertion.
    api = identitylib.ConfidentialClientApplication(
        DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority()
    )
    accounts = list(demo.public_cache.search("AccessToken"))
    user_tokens = [a["secret"] for a in accounts if a.get("client_id") == _demo.DEMO_CLI_ID]
    assert user_tokens
    for assertion in user_tokens[:1]:
        for _ in range(2):
            obo = api.acquire_token_on_behalf_of(assertion, ["User.Read"])
            assert "access_token" in obo, obo
            _tokens_of(obo, received)

    # Managed identity over App Service (a secret header) and IMDS.
    for source in ("app_service", "imds"):
        with monkeypatch.context() as env:
            for key, value in emu.managed_identity_environment(source).items():
                env.setenv(key, value)
            client = identitylib.ManagedIdentityClient(
                identitylib.SystemAssignedManagedIdentity(), http_client=requests.Session()
            )
            for _ in range(2):
                mi = client.acquire_token_for_client(resource="https://management.azure.com")
                assert "access_token" in mi, mi
                _tokens_of(mi, received)

    # Silent refresh failing (a revoked refresh token) logs the failure, not the token.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cache_blob = json.loads(demo.public_cache.serialize())
    _tokens_of(cache_blob, received)
    for section in cache_blob.values():
        if isinstance(section, dict):
            for entry in section.values():
                if isinstance(entry, dict) and isinstance(entry.get("secret"), str):
                    received.append(entry["secret"])

    secrets = {
        *sent,
        *received,
        *code_verifiers,
        DEMO_DAEMON_SECRET,
        DEMO_WEB_SECRET,
        DEMO_API_SECRET,
        _demo.PASSWORD,
        _demo.FEDERATED_PASSWORD,
    }
    _assert_clean(capture.texts, secrets)
    log = "\n".join(capture.texts)
    assert "urllib3" in log  # the HTTP stack's own DEBUG records were captured too
    assert "/common/userrealm/" in log  # the exception below is not an empty one
    form_kinds = {
        "client_secret",
        "client_assertion",
        "code",
        "code_verifier",
        "password",
        "refresh_token",
        "device_code",
        "assertion",
        "wstrust_password",
        "saml_assertion",
    }
    assert form_kinds <= SENT_KINDS, f"a flow did not run: {form_kinds - SENT_KINDS}"
    log = _without_user_realm_requests(capture.texts)
    for user in (_demo.USER, _demo.FEDERATED_USER):
        assert user not in log, "a username was logged without enable_pii_log=True"
        assert user.split("@")[0] + "@" not in log


def test_failures_log_no_secret(emu: Emulator, capture: Capture, sent: list[str]) -> None:
    app = identitylib.ConfidentialClientApplication(
        _demo.DEMO_WEB_ID, "wrong-" + DEMO_WEB_SECRET, authority=emu.authority()
    )
    assert app.acquire_token_for_client(_demo.APP_SCOPES)["error"]
    public = identitylib.PublicClientApplication(_demo.DEMO_CLI_ID, authority=emu.authority())
    assert public.acquire_token_by_refresh_token("revoked-rt-value-123", ["User.Read"])["error"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        bad = public.acquire_token_by_username_password(
            _demo.USER, "wrong-password-1", ["User.Read"]
        )
        federated = public.acquire_token_by_username_password(
            _demo.FEDERATED_USER, "wrong-password-2", ["User.Read"]
        )
    assert bad["error"]
    assert federated["error"] == "invalid_grant"
    assert "wstrust_password" in SENT_KINDS
    emu.faults.inject(500, path_contains="/token", count=2, text="<html>oops</html>")
    assert app.acquire_token_for_client(_demo.APP_SCOPES)["error"]
    _assert_clean(
        capture.texts, {*sent, "wrong-password-1", "wrong-password-2", "revoked-rt-value-123"}
    )
    log = _without_user_realm_requests(capture.texts)
    assert _demo.USER not in log
    assert _demo.FEDERATED_USER not in log


def test_pii_is_logged_only_when_enabled(emu: Emulator, capture: Capture, sent: list[str]) -> None:
    public = identitylib.PublicClientApplication(
        _demo.DEMO_CLI_ID, authority=emu.authority(), enable_pii_log=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = public.acquire_token_by_username_password(
            _demo.USER, _demo.PASSWORD, _demo.USER_SCOPES
        )
    assert "access_token" in result, result
    received: list[str] = []
    _tokens_of(result, received)
    _assert_clean(capture.texts, {*sent, *received, _demo.PASSWORD})
