"""``identitylib demo``: every implemented flow, run against an in-process emulator.

Each flow runs twice: the first call goes to the identity provider, the second is the
silent call an app makes next, served from the token cache. One row per call shows the
flow, where the token came from, how many HTTP requests reached the emulator, and how long
it took. The user at the sign-in pages is the emulator's scripted user.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import jwt

import identitylib
from identitylib._interactive import _browser
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_DESKTOP_ID,
    DEMO_FEDERATED_DOMAIN,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    EmulatorConfig,
    approve_device_code,
    sign_in,
)

APP_SCOPES = [f"{DEMO_API_URI}/.default"]
#: What the demo API calls on behalf of its caller (the emulator issues any resource).
DOWNSTREAM_SCOPES = ["https://graph.microsoft.com/.default"]
MI_RESOURCE = "https://management.azure.com"
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
USER, PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
#: A user of the federated domain: username/password goes through WS-Trust.
FEDERATED_USER, FEDERATED_PASSWORD = f"carol@{DEMO_FEDERATED_DOMAIN}", "carol-password"

Acquire = Callable[[], Any]


@dataclass
class Row:
    """One call of one flow."""

    flow: str
    source: str
    requests: int
    millis: float
    ok: bool


def _assertion_signer(credential: dict[str, str]) -> Callable[[dict[str, str]], str]:
    """A client-assertion callable signing with the demo certificate's key."""

    def sign(context: dict[str, str]) -> str:
        now = int(time.time())
        claims = {
            "aud": context["token_endpoint"],
            "iss": context["client_id"],
            "sub": context["client_id"],
            "jti": str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        }
        x5t = jwt.utils.base64url_encode(bytes.fromhex(credential["thumbprint"])).decode()
        return jwt.encode(
            claims, credential["private_key"], algorithm="RS256", headers={"x5t": x5t}
        )

    return sign


@contextlib.contextmanager
def _scripted_browser(verify: Any) -> Iterator[None]:
    """Let the scripted user play the browser of ``acquire_token_interactive``."""

    def open_with_scripted_user(url: str) -> bool:
        threading.Thread(
            target=sign_in,
            args=(url, USER, PASSWORD),
            kwargs={"verify": verify, "deliver": True},
            daemon=True,
        ).start()
        return True

    original = _browser.open_browser
    _browser.open_browser = open_with_scripted_user
    try:
        yield
    finally:
        _browser.open_browser = original


class _Demo:
    """The apps of the demo, sharing what a real app would keep between calls."""

    def __init__(self, emu: Emulator, verify: Any) -> None:
        self.emu, self.verify = emu, verify
        self.public_cache = identitylib.SerializableTokenCache()  # shared by the FOCI family

    def confidential(
        self, client_id: str, credential: Any
    ) -> identitylib.ConfidentialClientApplication:
        return identitylib.ConfidentialClientApplication(
            client_id, credential, authority=self.emu.authority(), verify=self.verify
        )

    def public(self, client_id: str) -> identitylib.PublicClientApplication:
        return identitylib.PublicClientApplication(
            client_id,
            authority=self.emu.authority(),
            verify=self.verify,
            token_cache=self.public_cache,
        )

    def flows(self) -> list[tuple[str, Acquire, Acquire]]:
        """(name, first call, second call) for every flow identitylib implements."""
        certificate = self.emu.demo_certificate
        flows: list[tuple[str, Acquire, Acquire]] = []
        for name, credential in [
            ("client credentials (secret)", DEMO_DAEMON_SECRET),
            (
                "client credentials (certificate)",
                {
                    "private_key": certificate["private_key"],
                    "public_certificate": certificate["public_certificate"],
                },
            ),
            (
                "client credentials (assertion)",
                {"client_assertion": _assertion_signer(certificate)},
            ),
        ]:
            app = self.confidential(DEMO_DAEMON_ID, credential)
            call = functools.partial(app.acquire_token_for_client, APP_SCOPES)
            flows.append((name, call, call))
        web = self.confidential(DEMO_WEB_ID, DEMO_WEB_SECRET)
        flows.append(
            (
                "authorization code (web app)",
                lambda: self._web_sign_in(web),
                lambda: self._silent(web),
            )
        )
        desktop = self.public(DEMO_DESKTOP_ID)
        flows.append(
            (
                "interactive (browser)",
                lambda: self._interactive(desktop),
                lambda: self._silent(desktop),
            )
        )
        cli = self.public(DEMO_CLI_ID)
        flows.append(("device code", lambda: self._device_code(cli), lambda: self._silent(cli)))
        ropc = identitylib.PublicClientApplication(
            DEMO_CLI_ID, authority=self.emu.authority(), verify=self.verify
        )
        flows.append(
            ("username/password", lambda: self._password(ropc), lambda: self._silent(ropc))
        )
        federated = identitylib.PublicClientApplication(
            DEMO_CLI_ID, authority=self.emu.authority(), verify=self.verify
        )
        flows.append(
            (
                "username/password (federated: WS-Trust)",
                lambda: self._password(federated, FEDERATED_USER, FEDERATED_PASSWORD),
                lambda: self._silent(federated, username=FEDERATED_USER),
            )
        )
        flows.append(
            (
                "refresh token (force_refresh)",
                lambda: self._silent(cli, force_refresh=True),
                lambda: self._silent(cli),
            )
        )
        api = self.confidential(DEMO_API_ID, DEMO_API_SECRET)
        obo = functools.partial(self._on_behalf_of, api, ropc)
        flows.append(("on-behalf-of (web API)", obo, obo))
        managed = functools.partial(self._managed_identity, self._managed_identity_client())
        flows.append(("managed identity (App Service)", managed, managed))
        web_app = self._web_app()
        flows.append(("web app (identitylib.web)", web_app, web_app))
        return flows

    def _on_behalf_of(
        self, api: identitylib.ConfidentialClientApplication, user_app: Any
    ) -> Any:
        """The demo API, called by a signed-in user, calls Graph on the user's behalf."""
        incoming = self._silent(user_app)
        if not incoming or "access_token" not in incoming:
            return incoming
        return api.acquire_token_on_behalf_of(incoming["access_token"], DOWNSTREAM_SCOPES)

    def _managed_identity_client(self) -> identitylib.ManagedIdentityClient:
        import requests

        session = requests.Session()  # the emulator's CA, when it serves HTTPS
        session.verify = self.verify
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would replace session.verify
        return identitylib.ManagedIdentityClient(
            identitylib.SystemAssignedManagedIdentity(), http_client=session
        )

    def _managed_identity(self, client: identitylib.ManagedIdentityClient) -> Any:
        with _environment(self.emu.managed_identity_environment("app_service")):
            return client.acquire_token_for_client(resource=MI_RESOURCE)

    def _web_app(self) -> Acquire:
        """A web app on identitylib.web, opened twice by a browser: a sign-in, then the
        signed-in session served from the token cache."""
        import requests

        from identitylib._demo._web import DemoWebApp, browse_orders, served
        from identitylib.web import WebAppAuth

        auth = WebAppAuth(
            DEMO_WEB_ID,
            DEMO_WEB_SECRET,
            authority=self.emu.authority(),
            scopes=USER_SCOPES,
            verify=self.verify,
        )
        browser = requests.Session()
        browser.trust_env = False
        site = DemoWebApp(auth, USER_SCOPES)  # its sessions outlive each serving

        def open_orders() -> Any:
            with served(site) as base:
                return browse_orders(base, browser, USER, PASSWORD, self.verify)

        return open_orders

    def _web_sign_in(self, app: identitylib.ConfidentialClientApplication) -> Any:
        flow = app.initiate_auth_code_flow(
            USER_SCOPES, redirect_uri="http://localhost:5000/getAToken"
        )
        return app.acquire_token_by_auth_code_flow(
            flow, sign_in(flow["auth_uri"], USER, PASSWORD, verify=self.verify)
        )

    def _interactive(self, app: identitylib.PublicClientApplication) -> Any:
        with _scripted_browser(self.verify):
            return app.acquire_token_interactive(USER_SCOPES, login_hint=USER, timeout=30)

    def _device_code(self, app: identitylib.PublicClientApplication) -> Any:
        flow = app.initiate_device_flow(USER_SCOPES)
        threading.Timer(
            0.2,
            approve_device_code,
            (flow["verification_uri"], flow["user_code"], USER, PASSWORD),
            {"verify": self.verify},
        ).start()
        return app.acquire_token_by_device_flow(flow)

    def _password(
        self,
        app: identitylib.PublicClientApplication,
        username: str = USER,
        password: str = PASSWORD,
    ) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return app.acquire_token_by_username_password(username, password, USER_SCOPES)

    @staticmethod
    def _silent(app: identitylib.ClientApplication, username: str = USER, **kwargs: Any) -> Any:
        accounts = app.get_accounts(username=username)
        return (
            app.acquire_token_silent_with_error(USER_SCOPES, accounts[0], **kwargs)
            if accounts
            else None
        )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the duration (the managed identity demo)."""
    import os

    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _timed(emu: Emulator, flow: str, acquire: Acquire) -> Row:
    before = len(emu.requests)
    started = time.perf_counter()
    result = acquire() or {"error": "nothing cached"}
    millis = (time.perf_counter() - started) * 1000
    ok = "access_token" in result
    source = result.get("token_source", "?") if ok else f"error: {result.get('error')}"
    return Row(flow, source, len(emu.requests) - before, millis, ok)


def run_demo(*, tls: bool = False) -> list[Row]:
    """Start an emulator, run every flow twice, return the rows."""
    config = EmulatorConfig.default()
    config.device_code_interval = 1
    rows: list[Row] = []
    with Emulator(config, tls=tls) as emu:
        verify: Any = emu.ca_path if tls else True
        for name, first, second in _Demo(emu, verify).flows():
            rows.append(_timed(emu, name, first))
            rows.append(_timed(emu, f"{name}, again", second))
    return rows


def format_rows(rows: list[Row]) -> str:
    """A plain-text table of the rows."""
    headers = ("flow", "token source", "requests", "time ms")
    cells = [(r.flow, r.source, str(r.requests), f"{r.millis:.1f}") for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``identitylib demo``."""
    print(f"identitylib {identitylib.__version__} demo against a local emulator")
    rows = run_demo(tls=bool(args.tls))
    print(format_rows(rows))
    failed = [r.flow for r in rows if not r.ok]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print(f"all {len(rows)} calls succeeded; each second call was served from the cache")
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``demo`` on the top-level parser."""
    parser = subparsers.add_parser(
        "demo", help="run every implemented flow against an in-process emulator"
    )
    parser.add_argument("--tls", action="store_true", help="serve the emulator over HTTPS")
    parser.set_defaults(run=run)
