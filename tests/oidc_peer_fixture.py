"""A real OpenID Connect provider for the tests: oidc-provider (npm) run by Node.js.

:func:`start_peer` launches ``node tests/oidc_peer/server.mjs`` on a free loopback port and
returns an :class:`OidcPeer` describing it (issuer, clients, the API it protects) with an
HTTP "browser" that signs in on oidc-provider's own login and consent pages. The
``oidc_peer`` fixture (registered by ``tests/oidc/conftest.py``) starts one per session.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Optional
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests._servers import unavailable
from tests.certs import cert_pem, key_pem, make_cert

PEER_DIR = Path(__file__).resolve().parent / "oidc_peer"
SERVER = PEER_DIR / "server.mjs"
START_TIMEOUT = 20.0  #: seconds to wait for the ready line
STOP_TIMEOUT = 5.0  #: seconds to wait for the process after SIGTERM, then SIGKILL
HTTP_TIMEOUT = 10.0  #: seconds for each request the browser makes
MAX_STEPS = 25  #: pages a sign-in may go through before it is considered stuck
READY = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
MIN_NODE = (20, 19)  #: oidc-provider 9 needs Node.js 20.19 or later
TENANTS = ("contoso", "fabrikam")  #: extra issuers at {issuer}/realms/{name}
#: The redirect URI of identitylib.web's adapters under a framework's test client.
WEB_FRAMEWORK_REDIRECT_URI = "http://localhost/auth/redirect"
#: Seconds between device-code polls the peer asks for (oidc-provider alone sends no
#: ``interval``, so clients would wait RFC 8628's 5 s between polls).
DEVICE_INTERVAL = 1


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _public_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


# --- an HTTP "browser" ------------------------------------------------------------------------


class Form:
    """One HTML form: where it goes and its named fields (submit buttons excluded)."""

    def __init__(self, action: str, method: str, form_id: str) -> None:
        self.action = action
        self.method = method
        self.id = form_id
        self.fields: dict[str, str] = {}


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._open: Optional[Form] = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = Form(
                attributes.get("action", ""),
                attributes.get("method", "get").lower(),
                attributes.get("id", ""),
            )
            self.forms.append(self._open)
        elif (
            tag == "input"
            and self._open is not None
            and attributes.get("name")
            and attributes.get("type", "text") not in ("submit", "button", "image", "reset")
        ):
            self._open.fields.setdefault(attributes["name"], attributes.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def forms_in(html: str, base_url: str) -> list[Form]:
    """Every form of a page, actions made absolute."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        form.action = urljoin(base_url, form.action) if form.action else base_url
    return parser.forms


@dataclass
class Landing:
    """Where a browser session ended: the URL, and the parameters it carried there."""

    url: str
    method: str
    params: dict[str, str]
    page: str = ""  #: body of the last page fetched, when the session ended on a page


class PeerBrowser:
    """A user at a browser, scripted: signs in on oidc-provider's development pages.

    It follows redirects and submits forms itself (``allow_redirects=False`` throughout)
    so it can stop before a redirect URI that nothing listens on, and fails loudly on an
    error page instead of wandering.
    """

    def __init__(self, username: str = "alice", password: str = "any password") -> None:
        self.username = username
        self.password = password
        self.session = requests.Session()
        self.visited: list[str] = []

    def close(self) -> None:
        self.session.close()

    def open(
        self,
        url: str,
        *,
        stop_at: Optional[str] = None,
        user_code: Optional[str] = None,
        method: str = "GET",
        data: Optional[Mapping[str, str]] = None,
    ) -> Landing:
        """Browse from ``url`` until the redirect URI ``stop_at`` (not fetched) or a final page.

        Login forms get ``username``/``password``; a device-code form gets ``user_code``;
        consent and confirmation forms, and the auto-submitting ``form_post`` page, are
        submitted as they are. Without ``stop_at`` the last redirect is fetched too (the
        interactive flow's loopback listener answers it).
        """
        body: Optional[dict[str, str]] = dict(data) if data else None
        for _ in range(MAX_STEPS):
            if stop_at and _same_endpoint(url, stop_at):
                if method == "POST":
                    return Landing(url, method, dict(body or {}))
                return Landing(url, method, dict(parse_qsl(urlsplit(url).query)))
            self.visited.append(f"{method} {url}")
            response = self.session.request(
                method, url, data=body, allow_redirects=False, timeout=HTTP_TIMEOUT
            )
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                method, body = "GET", None
                continue
            forms = [f for f in forms_in(response.text, url) if not f.action.endswith("/abort")]
            # An error page, unless it is an error response on its way to the client
            # (oidc-provider answers e.g. prompt=none's login_required with HTTP 400 and
            # an auto-submitting form_post page).
            if not forms and (
                response.status_code >= 400 or "something went wrong" in response.text
            ):
                raise AssertionError(
                    f"the provider answered {method} {url} with HTTP {response.status_code}: "
                    f"{_text_of(response.text)[:600]}"
                )
            if not forms:
                return Landing(url, method, dict(parse_qsl(urlsplit(url).query)), response.text)
            form = forms[0]
            if "login" in form.fields and "password" in form.fields:
                form.fields.update(login=self.username, password=self.password)
            if "user_code" in form.fields and not form.fields["user_code"]:
                if user_code is None:
                    raise AssertionError("the provider asks for a user code and none was given")
                form.fields["user_code"] = user_code
            url, method = form.action, form.method.upper()
            body = form.fields
            if method == "GET":
                url = f"{url.split('?')[0]}?{urlencode(body)}"
                body = None
        raise AssertionError(f"sign-in did not finish in {MAX_STEPS} steps: {self.visited}")


def _same_endpoint(url: str, redirect_uri: str) -> bool:
    a, b = urlsplit(url), urlsplit(redirect_uri)
    return (a.scheme, a.netloc, a.path or "/") == (b.scheme, b.netloc, b.path or "/")


def _text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# --- the peer ------------------------------------------------------------------------------------


@dataclass
class OidcPeer:
    """A running oidc-provider and what the tests need to know about it."""

    issuer: str
    web_client_id: str
    web_client_secret: str
    web_redirect_uri: str
    public_client_id: str
    jwt_client_id: str
    jwt_client_credential: dict[str, str]  #: identitylib's certificate credential dict
    api_resource: str
    api_scopes: tuple[str, ...]
    tenants: tuple[str, ...]  #: names of the extra issuers at ``{issuer}/realms/{name}``
    device_interval: int  #: the ``interval`` of its device authorization responses
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)

    @property
    def port(self) -> int:
        return urlsplit(self.issuer).port or 80

    def tenant_issuer(self, name: str) -> str:
        """Issuer of one of the extra providers on the same host and port (Keycloak-like)."""
        assert name in self.tenants, f"the peer has no tenant {name!r}: {self.tenants}"
        return f"{self.issuer}/realms/{name}"

    def browser(self, username: str = "alice") -> PeerBrowser:
        """A fresh browser (no cookies, so no provider session yet)."""
        return PeerBrowser(username)

    def sign_in(self, auth_uri: str, redirect_uri: str, username: str = "alice") -> dict[str, str]:
        """Sign in through ``auth_uri``; return the authorization response the app receives.

        With ``response_mode=form_post`` these are the POSTed fields, otherwise the query
        of the final redirect (``code``, ``state``, ``iss`` or ``error``...).
        """
        browser = self.browser(username)
        try:
            return browser.open(auth_uri, stop_at=redirect_uri).params
        finally:
            browser.close()

    def approve_device(
        self, verification_uri: str, user_code: Optional[str], username: str = "alice"
    ) -> Landing:
        """Approve a device code as its user: enter the code, sign in, consent, confirm."""
        browser = self.browser(username)
        try:
            return browser.open(verification_uri, user_code=user_code)
        finally:
            browser.close()

    def log(self) -> str:
        """What the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server: close its stdin, SIGTERM, then SIGKILL if it lingers."""
        _stop(self.process)


def _node_version(node: str) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", out)[:2])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    stdin: Optional[IO[bytes]] = process.stdin
    try:
        if stdin is not None:
            stdin.close()
        process.terminate()
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def start_peer(log_dir: Optional[Path] = None) -> OidcPeer:
    """Start the peer and wait for it to listen; skip (or fail under CI) without Node.js."""
    node = shutil.which("node")
    if node is None:
        unavailable("oidc-provider (npm): Node.js (`node`)")
    if not (PEER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        unavailable("oidc-provider (npm) in tests/oidc_peer/node_modules")
    if _node_version(node) < MIN_NODE:
        unavailable(f"oidc-provider (npm): Node.js >= {MIN_NODE[0]}.{MIN_NODE[1]}")

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = make_cert(key, subject="identitylib oidc peer client")
    secret = base64.urlsafe_b64encode(os.urandom(24)).decode("ascii")
    web_redirect_uri = "http://localhost:5000/callback"
    env = {
        **os.environ,
        "OIDC_PEER_WEB_CLIENT_ID": "identitylib-web",
        "OIDC_PEER_WEB_CLIENT_SECRET": secret,
        # identitylib.web's redirect route, for web apps served by a test client
        "OIDC_PEER_WEB_REDIRECT_URIS": f"{web_redirect_uri} {WEB_FRAMEWORK_REDIRECT_URI}",
        "OIDC_PEER_PUBLIC_CLIENT_ID": "identitylib-native",
        "OIDC_PEER_JWT_CLIENT_ID": "identitylib-jwt",
        "OIDC_PEER_JWT_CLIENT_JWKS": json.dumps({"keys": [_public_jwk(key)]}),
        "OIDC_PEER_API_RESOURCE": "urn:identitylib:api",
        "OIDC_PEER_API_SCOPES": "api.read api.write",
        "OIDC_PEER_TENANTS": " ".join(TENANTS),
        "OIDC_PEER_DEVICE_INTERVAL": str(DEVICE_INTERVAL),
        "NODE_ENV": "test",
        "DEBUG": "oidc-provider:error",  # the reason of every error response, in the log
    }
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="oidc-peer-"))
    log_path = log_dir / "oidc-peer.log"
    with log_path.open("wb") as log:
        # Port 0: the server binds a free port itself and prints it, so there is no race
        # between choosing a port here and binding it there.
        process = subprocess.Popen(
            [node, str(SERVER), "0"],
            cwd=PEER_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT
    issuer = None
    while time.monotonic() < deadline:
        match = READY.search(log_path.read_text(errors="replace"))
        if match:
            issuer = match.group(1)
            break
        if process.poll() is not None:
            break
        time.sleep(0.05)
    if issuer is None:
        _stop(process)
        raise RuntimeError(
            f"oidc-provider did not start within {START_TIMEOUT:.0f}s "
            f"(exit code {process.returncode}):\n{log_path.read_text(errors='replace')}"
        )
    return OidcPeer(
        issuer=issuer,
        web_client_id="identitylib-web",
        web_client_secret=secret,
        web_redirect_uri=web_redirect_uri,
        public_client_id="identitylib-native",
        jwt_client_id="identitylib-jwt",
        jwt_client_credential={
            "private_key": key_pem(key),
            "public_certificate": cert_pem(certificate),
        },
        api_resource="urn:identitylib:api",
        api_scopes=("api.read", "api.write"),
        tenants=TENANTS,
        device_interval=DEVICE_INTERVAL,
        process=process,
        log_path=log_path,
    )


def peer_session(log_dir: Optional[Path] = None) -> Iterator[OidcPeer]:
    """Generator body of the session fixture: start, yield, always stop."""
    peer = start_peer(log_dir)
    try:
        yield peer
    finally:
        peer.stop()


__all__ = ["Form", "Landing", "OidcPeer", "PeerBrowser", "forms_in", "peer_session", "start_peer"]
