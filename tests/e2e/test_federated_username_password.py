"""Username/password for a federated user, msal 1.39 and identitylib side by side: the same
public call against the emulator's federated domain (user realm, MEX, WS-Trust, SAML
bearer grant over real HTTPS), the same results, or the difference that
``docs/migrating.md`` documents.

msal builds the user realm URL from the authority's host name alone
(``https://{host}/common/userrealm/...``), dropping the port: against an emulator on
another port than 443 it would fail before reaching it. msal gets a session that puts the
emulator's port back on such URLs (:class:`PortRestoringSession`);
``test_msal_drops_the_port`` shows why.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree.ElementTree import ParseError

import pytest
import requests

import identitylib
from identitylib import aio
from identitylib.emulator import DEMO_CLI_ID, DEMO_FEDERATED_DOMAIN, Emulator
from identitylib.emulator._federation import mex_document
from tests._servers import require_module

msal = require_module("msal")
pytestmark = pytest.mark.msal

CAROL, CAROL_PASSWORD = f"carol@{DEMO_FEDERATED_DOMAIN}", "carol-password"
SCOPES = ["User.Read"]
WSTRUST_13 = "/adfs/services/trust/13/usernamemixed"
MEX = "/adfs/services/trust/mex"


class PortRestoringSession(requests.Session):
    """A session for msal: a URL to ``host`` without a port gets ``port`` (the emulator's)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(str(url))
        if parts.hostname == self.host and parts.port is None:
            url = urlunsplit(parts._replace(netloc=f"{self.host}:{self.port}"))
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def emu(identitylib_emulator_tls: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    # msal remembers (per process) hosts whose user realm endpoint answered 404.
    known = set(msal.authority.Authority._domains_without_user_realm_discovery) - {"localhost"}
    monkeypatch.setattr(msal.authority.Authority, "_domains_without_user_realm_discovery", known)
    identitylib_emulator_tls.faults.reset()
    identitylib_emulator_tls.reset_requests()
    yield identitylib_emulator_tls
    identitylib_emulator_tls.faults.reset()


@pytest.fixture(autouse=True)
def _no_ropc_warning() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def msal_app(emu: Emulator, **kwargs: Any) -> Any:
    parts = urlsplit(emu.base_url)
    session = PortRestoringSession(str(parts.hostname), int(parts.port or 443))
    session.trust_env = False  # REQUESTS_CA_BUNDLE must not win over verify
    session.verify = emu.ca_path
    return msal.PublicClientApplication(
        DEMO_CLI_ID,
        authority=emu.authority(),
        http_client=session,
        instance_discovery=False,
        **kwargs,
    )


def identitylib_app(emu: Emulator, **kwargs: Any) -> Any:
    return identitylib.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path, **kwargs
    )


def sign_in(library: str, emu: Emulator, password: str = CAROL_PASSWORD, app: Any = None) -> Any:
    """The same public call on msal, identitylib, or identitylib.aio."""
    if library == "identitylib.aio":

        async def run() -> Any:
            async_app = aio.PublicClientApplication(
                DEMO_CLI_ID, authority=emu.authority(), verify=emu.ca_path
            )
            try:
                return await async_app.acquire_token_by_username_password(CAROL, password, SCOPES)
            finally:
                await async_app.aclose()

        return asyncio.run(run())
    if app is None:
        app = msal_app(emu) if library == "msal" else identitylib_app(emu)
    return app.acquire_token_by_username_password(CAROL, password, SCOPES)


def federation_requests(emu: Emulator) -> list[tuple[str, str]]:
    return [
        (method, "/common/userrealm/" if "/userrealm/" in path else path)
        for method, path in emu.requests
        if "openid-configuration" not in path
    ]


LIBRARIES = ["msal", "identitylib", "identitylib.aio"]


@pytest.mark.parametrize("saml2", [False, True], ids=["saml1.1", "saml2"])
def test_the_same_sign_in_on_both_libraries(emu: Emulator, saml2: bool) -> None:
    emu.faults.federation_saml2 = saml2
    results: dict[str, Any] = {}
    for library in LIBRARIES:
        emu.reset_requests()
        results[library] = sign_in(library, emu)
        assert "access_token" in results[library], (library, results[library])
        assert federation_requests(emu) == [
            ("GET", "/common/userrealm/"),
            ("GET", MEX),
            ("POST", WSTRUST_13),  # both prefer WS-Trust 1.3 (the MEX lists 2005 first)
            ("POST", f"/{emu.authority().rsplit('/', 1)[1]}/oauth2/v2.0/token"),
        ], library
    reference = results["msal"]
    for library in LIBRARIES[1:]:
        result = results[library]
        assert set(result) == set(reference), library
        for claim in ("preferred_username", "oid", "tid", "name", "aud", "iss"):
            assert result["id_token_claims"][claim] == reference["id_token_claims"][claim]
        assert result["scope"] == reference["scope"]
        assert result["token_source"] == reference["token_source"] == "identity_provider"


def test_the_accounts_and_caches_are_the_same(emu: Emulator) -> None:
    ours = identitylib_app(emu, token_cache=identitylib.SerializableTokenCache())
    theirs = msal_app(emu, token_cache=msal.SerializableTokenCache())
    assert "access_token" in sign_in("identitylib", emu, app=ours)
    assert "access_token" in sign_in("msal", emu, app=theirs)
    (account,) = ours.get_accounts()
    (reference,) = theirs.get_accounts()
    assert account == reference  # username, home account, realm, no account_source
    assert account["username"] == CAROL
    # msal's cache serves identitylib silently (and the other way round).
    cache = identitylib.SerializableTokenCache()
    cache.deserialize(theirs.token_cache.serialize())
    reader = identitylib_app(emu, token_cache=cache)
    (read,) = reader.get_accounts(username=CAROL)
    assert reader.acquire_token_silent(SCOPES, read)["token_source"] == "cache"
    back = msal.SerializableTokenCache()
    back.deserialize(ours.token_cache.serialize())
    msal_reader = msal_app(emu, token_cache=back)
    (read,) = msal_reader.get_accounts(username=CAROL)
    assert msal_reader.acquire_token_silent(SCOPES, read)["token_source"] == "cache"


# ------------------------------------------------------------ documented differences


def test_wrong_password(emu: Emulator) -> None:
    """msal raises RuntimeError; identitylib returns invalid_grant (docs/migrating.md)."""
    with pytest.raises(RuntimeError, match="WsTrust server returned error in RSTR") as raised:
        sign_in("msal", emu, "wrong")
    assert "FailedAuthentication" in str(raised.value)
    for library in LIBRARIES[1:]:
        result = sign_in(library, emu, "wrong")
        assert result["error"] == "invalid_grant", result
        assert "a:FailedAuthentication" in result["error_description"]
        assert "ID3242" in result["error_description"]
    assert emu.requests.count(("POST", WSTRUST_13)) == 3  # once per call, never retried
    assert not [p for m, p in emu.requests if m == "POST" and p.endswith("/token")]


def test_a_wrong_password_then_the_right_one(emu: Emulator) -> None:
    """msal answers the same app's next call with the failure it remembered (60 s, for any
    user); identitylib sends the next try."""
    theirs, ours = msal_app(emu), identitylib_app(emu)
    with pytest.raises(RuntimeError):
        sign_in("msal", emu, "wrong", app=theirs)
    assert sign_in("identitylib", emu, "wrong", app=ours)["error"] == "invalid_grant"
    emu.reset_requests()
    with pytest.raises(RuntimeError, match="FailedAuthentication"):
        sign_in("msal", emu, app=theirs)
    assert ("POST", WSTRUST_13) not in emu.requests  # replayed without a request
    assert "access_token" in sign_in("identitylib", emu, app=ours)
    assert ("POST", WSTRUST_13) in emu.requests


@pytest.mark.parametrize(
    ("text", "raised", "description"),
    [
        ("<wsdl:definitions", ParseError, "not well-formed"),
        (mex_document("https://sts.example").replace("WssUsernameToken10", "Other"),
         ValueError, "names no https username/password WS-Trust endpoint"),
    ],
    ids=["malformed", "no-usernamemixed-endpoint"],
)  # fmt: skip
def test_an_unusable_mex_document(
    emu: Emulator, text: str, raised: type[Exception], description: str
) -> None:
    """msal raises; identitylib returns invalid_response (docs/migrating.md)."""
    emu.faults.inject(200, path_contains=MEX, text=text, count=len(LIBRARIES))
    with pytest.raises(raised):
        sign_in("msal", emu)
    for library in LIBRARIES[1:]:
        result = sign_in(library, emu)
        assert result["error"] == "invalid_response", result
        assert description in result["error_description"]
    assert ("POST", WSTRUST_13) not in emu.requests


def test_msal_drops_the_port(emu: Emulator) -> None:
    """Why msal gets a PortRestoringSession here (docs/emulator.md): its user realm URL has
    no port. identitylib's keeps the authority's."""
    asked: list[str] = []

    class Recording(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *a: Any, **kw: Any) -> Any:
            asked.append(str(url))
            if urlsplit(str(url)).port is None:
                raise requests.exceptions.ConnectionError(f"nothing listens at {url}")
            return super().request(method, url, *a, **kw)

    session = Recording()
    session.trust_env = False
    session.verify = emu.ca_path
    app = msal.PublicClientApplication(
        DEMO_CLI_ID, authority=emu.authority(), http_client=session, instance_discovery=False
    )
    with pytest.raises(requests.exceptions.ConnectionError):
        app.acquire_token_by_username_password(CAROL, CAROL_PASSWORD, SCOPES)
    host = urlsplit(emu.base_url).hostname
    assert asked[-1] == f"https://{host}/common/userrealm/{CAROL}?api-version=1.0"
    emu.reset_requests()
    assert "access_token" in sign_in("identitylib", emu)
    assert ("GET", f"/common/userrealm/{CAROL}") in emu.requests  # on the emulator's port
