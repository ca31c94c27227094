"""Nothing that holds a secret shows it: not in a repr, not in an exception's text, not in
the locals a crash reporter prints for a failed call (Sentry, ``pytest -l`` and
``traceback.TracebackException(capture_locals=True)`` print the ``repr()`` of every
local of every frame of the traceback).

Each failed call is a real one: the tokens and secrets come from the emulator, which is
then stopped, so the next request fails with a connection error after its body was built.
"""

from __future__ import annotations

import asyncio
import traceback
import warnings
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Union

import pytest
import requests
from cryptography.hazmat.primitives import serialization

import identitylib
from identitylib import aio
from identitylib._flows import _federation as federation_flow
from identitylib._managed_identity._sources import detect
from identitylib._protocol._messages import HttpRequest, HttpResponse
from identitylib._protocol._request import form_fields, token_request
from identitylib._protocol.federation.rstr import SamlAssertion, parse_rstr
from identitylib._protocol.grants.saml_bearer import encode_assertion
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
)
from identitylib.integrations import TokenProvider
from identitylib.validation import AccessTokenValidator, TokenValidationError
from identitylib.validation._discovery import clear_failures
from identitylib.validation._jwks_cache import JWKS_CACHE
from tests._servers import require_module
from tests.certs import key_pem

USER, PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
USER_SCOPES = [f"{DEMO_API_URI}/access_as_user"]
APP_SCOPES = [f"{DEMO_API_URI}/.default"]
GRAPH = ["User.Read"]
GRAPH_APP = ["https://graph.microsoft.com/.default"]
AUTHORITY = "https://login.microsoftonline.com/organizations"  # a constructor makes no request
PASSPHRASE = "pass-phrase-of-the-key-8841"
CODE = "authorization-code-value-5512"


def _shown(value: str) -> bool:
    return len(value) >= 6


def leaks(text: str, secrets: list[str]) -> list[str]:
    """The secrets (shortened) that ``text`` shows."""
    return [s[:10] + "..." for s in secrets if _shown(s) and s in text]


def crash_report(error: BaseException, *, skip: tuple[str, ...] = ()) -> str:
    """What a crash reporter prints: every exception of the chain (suppressed context
    included) with its text and the repr of every local of every frame, but those of
    this module (the caller's own frames, which hold the secrets it passed) and those
    whose file name contains one of ``skip``."""
    skip = (*skip, __file__)
    parts: list[str] = []
    seen: set[int] = set()
    report: Any = traceback.TracebackException.from_exception(error, capture_locals=True)
    while report is not None and id(report) not in seen:
        seen.add(id(report))
        parts.extend(report.format_exception_only())
        for frame in report.stack:
            if any(part in frame.filename for part in skip):
                continue
            parts.append(f"{frame.filename}:{frame.lineno} {frame.name}")
            parts.extend(f"{name} = {value}" for name, value in (frame.locals or {}).items())
        report = report.__cause__ or report.__context__
    return "\n".join(parts)


# ----------------------------------------------------------------------------- reprs


def _client_certificate(emu: Emulator) -> dict[str, str]:
    """The demo daemon's certificate credential, its key encrypted with PASSPHRASE."""
    demo = emu.demo_certificate
    key = serialization.load_pem_private_key(demo["private_key"].encode(), None)
    return {
        "private_key": key_pem(key, PASSPHRASE.encode()),  # type: ignore[arg-type]
        "passphrase": PASSPHRASE,
        "public_certificate": demo["public_certificate"],
    }


def _key_material(pem: str) -> list[str]:
    """Lines of base64 of a PEM private key."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_reprs_of_what_holds_a_secret_hide_it(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity_header = "identity-header-secret-77"
    ml_secret = "ml-secret-value-78"
    fabric_secret = "fabric-secret-value-79"
    certificate = _client_certificate(emulator)
    secrets = [
        DEMO_DAEMON_SECRET,
        identity_header,
        ml_secret,
        fabric_secret,
        PASSPHRASE,
        CODE,
        PASSWORD,
        "refresh-token-value-80",
        "access-token-value-81",
        "assertion-value-82",
        "code-verifier-value-83",
        *_key_material(certificate["private_key"]),
    ]
    body = {
        "client_secret": DEMO_DAEMON_SECRET,
        "client_assertion": "assertion-value-82",
        "code": CODE,
        "code_verifier": "code-verifier-value-83",
        "password": PASSWORD,
        "refresh_token": "refresh-token-value-80",
        "assertion": "access-token-value-81",
    }
    request = token_request("https://idp.example/token", form_fields(body), {"X-Any": "1"})
    objects: list[Any] = [
        request,
        form_fields(body),
        HttpRequest("GET", "https://mi/token", headers={"X-IDENTITY-HEADER": identity_header}),
        HttpRequest("GET", "https://mi/token", headers={"secret": ml_secret}),
        HttpRequest("GET", "https://arc/token", headers={"Authorization": "Basic " + CODE}),
        HttpResponse(200, '{"access_token": "access-token-value-81"}'),
        detect({"IDENTITY_ENDPOINT": "https://mi.local", "IDENTITY_HEADER": identity_header}),
        detect({"MSI_ENDPOINT": "https://ml.local", "MSI_SECRET": ml_secret}),
        detect(
            {
                "IDENTITY_ENDPOINT": "https://fabric.local",
                "IDENTITY_HEADER": fabric_secret,
                "IDENTITY_SERVER_THUMBPRINT": "AB" * 20,
            }
        ),
    ]
    daemon = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority()
    )
    with_certificate = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, certificate, authority=emulator.authority()
    )
    async_daemon = aio.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority()
    )
    objects += [
        daemon,
        with_certificate,
        async_daemon,
        daemon._state.credential,
        with_certificate._state.credential,
        TokenProvider(daemon, user_assertion="access-token-value-81"),
        AccessTokenValidator(emulator.authority(), audience=DEMO_API_ID),
        TokenValidationError("invalid_token", "The token has expired"),
    ]
    monkeypatch.setenv("IDENTITY_ENDPOINT", emulator.app_service_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", identity_header)
    objects += [
        identitylib.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity()),
        aio.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity()),
    ]
    azure_core = require_module("identitylib.integrations.azure_core")
    objects += [
        azure_core.IdentitylibCredential(daemon),
        azure_core.AsyncIdentitylibCredential(async_daemon),
    ]
    for thing in objects:
        for text in (repr(thing), str(thing), f"{thing!r}"):
            assert not leaks(text, secrets), (type(thing).__name__, text)
    assert "'***'" in repr(request)  # redacted, not dropped
    assert repr(request).count("'***'") == len(body)
    assert "X-IDENTITY-HEADER': '***'" in repr(objects[2])


def test_secret_values_are_still_sent_as_they_are() -> None:
    fields = form_fields({"client_secret": "s-e-c-r-e-t", "scope": "a b"})
    assert fields == {"client_secret": "s-e-c-r-e-t", "scope": "a b"}
    assert str(fields["client_secret"]) == "s-e-c-r-e-t"
    assert f"{fields['client_secret']}" == "s-e-c-r-e-t"
    assert requests.Request("POST", "https://x", data=fields).prepare().body == (
        "client_secret=s-e-c-r-e-t&scope=a+b"
    )


@pytest.mark.parametrize("api", [identitylib, aio], ids=["blocking", "asyncio"])
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@pytest.mark.parametrize("fault", ["wrong passphrase", "another certificate"])
def test_a_credential_that_fails_to_load_shows_no_key(
    emulator: Emulator, api: Any, as_bytes: bool, fault: str
) -> None:
    good = _client_certificate(emulator)
    credential: dict[str, Any] = dict(good)
    if fault == "wrong passphrase":
        credential["passphrase"] = "not-the-passphrase"
    else:
        credential["public_certificate"] = emulator.add_certificate(DEMO_WEB_ID)[
            "public_certificate"
        ]
    if as_bytes:
        credential["private_key"] = credential["private_key"].encode()
        credential["passphrase"] = credential["passphrase"].encode()
    with pytest.raises(ValueError, match=r"passphrase|matches") as failed:
        api.ConfidentialClientApplication(DEMO_DAEMON_ID, credential, authority=AUTHORITY)
    secrets = [PASSPHRASE, "not-the-passphrase", *_key_material(good["private_key"])]
    report = crash_report(failed.value)
    assert "/identitylib/_credential/" in report
    assert not leaks(report, secrets), report


def test_the_credential_given_is_kept_as_it_is(emulator: Emulator) -> None:
    credential = _client_certificate(emulator)
    for api in (identitylib, aio):
        app = api.ConfidentialClientApplication(
            DEMO_DAEMON_ID, credential, authority=emulator.authority()
        )
        assert app.client_credential is credential
        secret = api.ConfidentialClientApplication(
            DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority()
        )
        assert type(secret.client_credential) is str


# ---------------------------------------------------------------- failed calls


Call = Callable[[], Union[Any, Awaitable[Any]]]


@dataclass
class Scenario:
    """A call that will fail once the emulator stops, and the secrets it holds."""

    call: Call
    secrets: list[str] = field(default_factory=list)


def _run(call: Call) -> Any:
    outcome = call()
    if asyncio.iscoroutine(outcome):
        return asyncio.run(asyncio.wait_for(outcome, 60))
    return outcome


def _in(result: Any) -> dict[str, Any]:
    assert isinstance(result, dict), result
    assert "access_token" in result, result
    return result


def _rt_secrets(app: Any) -> list[str]:
    return [e["secret"] for e in app.token_cache.search("RefreshToken")]


def client_secret(emu: Emulator, api: Any) -> Scenario:
    app = api.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority()
    )
    _in(_run(lambda: app.acquire_token_for_client(APP_SCOPES)))
    return Scenario(lambda: app.acquire_token_for_client(GRAPH_APP), [DEMO_DAEMON_SECRET])


def certificate(emu: Emulator, api: Any) -> Scenario:
    credential = _client_certificate(emu)
    app = api.ConfidentialClientApplication(DEMO_DAEMON_ID, credential, authority=emu.authority())
    _in(_run(lambda: app.acquire_token_for_client(APP_SCOPES)))
    # The signed assertion is reused for a while: the one the failing request carries.
    # Both APIs' apps hold the same kind of core, whose state holds the credential.
    fields = app._core.state.credential.auth_fields(
        client_id=DEMO_DAEMON_ID, token_endpoint=f"{emu.authority()}/oauth2/v2.0/token"
    )
    secrets = [fields["client_assertion"], PASSPHRASE, *_key_material(credential["private_key"])]
    return Scenario(lambda: app.acquire_token_for_client(GRAPH_APP), secrets)


def _signed_in(emu: Emulator, api: Any) -> tuple[Any, dict[str, Any]]:
    app = api.PublicClientApplication(DEMO_CLI_ID, authority=emu.authority())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = _in(
            _run(lambda: app.acquire_token_by_username_password(USER, PASSWORD, USER_SCOPES))
        )
    return app, result


def password(emu: Emulator, api: Any) -> Scenario:
    app, _ = _signed_in(emu, api)

    def call() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return app.acquire_token_by_username_password(USER, PASSWORD, GRAPH)

    return Scenario(call, [PASSWORD])


def refresh_token(emu: Emulator, api: Any) -> Scenario:
    app, result = _signed_in(emu, api)
    rt = result["refresh_token"]
    return Scenario(lambda: app.acquire_token_by_refresh_token(rt, GRAPH), [rt])


def silent(emu: Emulator, api: Any) -> Scenario:
    app, result = _signed_in(emu, api)
    (account,) = _run(app.get_accounts)
    return Scenario(
        lambda: app.acquire_token_silent(GRAPH, account, force_refresh=True),
        [result["refresh_token"], *_rt_secrets(app)],
    )


def on_behalf_of(emu: Emulator, api: Any) -> Scenario:
    _, result = _signed_in(emu, api)
    assertion = result["access_token"]
    app = api.ConfidentialClientApplication(DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority())
    _in(_run(lambda: app.acquire_token_on_behalf_of(assertion, GRAPH)))
    # Another scope: the refresh token cached with the assertion is redeemed.
    return Scenario(
        lambda: app.acquire_token_on_behalf_of(assertion, ["Mail.Read"]),
        [assertion, DEMO_API_SECRET, *_rt_secrets(app)],
    )


def adapter_on_behalf_of(emu: Emulator, api: Any) -> Scenario:
    """The integrations' TokenProvider (requests / httpx auth, azure-core) with an assertion."""
    _, result = _signed_in(emu, api)
    assertion = result["access_token"]
    app = api.ConfidentialClientApplication(DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority())
    _in(_run(lambda: app.acquire_token_for_client(GRAPH_APP)))  # discovery done
    provider = TokenProvider(app, user_assertion=assertion)
    acquire = provider.acquire if api is identitylib else provider.acquire_async
    return Scenario(lambda: acquire(GRAPH), [assertion, DEMO_API_SECRET])


def authorization_code(emu: Emulator, api: Any) -> Scenario:
    app = api.ConfidentialClientApplication(DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.authority())
    _in(_run(lambda: app.acquire_token_for_client(GRAPH_APP)))  # discovery done

    def call() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return app.acquire_token_by_authorization_code(
                CODE, GRAPH, redirect_uri="http://localhost/callback"
            )

    return Scenario(call, [CODE, DEMO_WEB_SECRET])


def auth_code_flow(emu: Emulator, api: Any) -> Scenario:
    app = api.ConfidentialClientApplication(DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.authority())
    flow = _run(lambda: app.initiate_auth_code_flow(GRAPH, "http://localhost/callback"))
    _in(_run(lambda: app.acquire_token_for_client(GRAPH_APP)))  # discovery done
    response = {"code": CODE, "state": flow["state"]}
    return Scenario(
        lambda: app.acquire_token_by_auth_code_flow(flow, response),
        [CODE, flow["code_verifier"], DEMO_WEB_SECRET],
    )


def app_service(emu: Emulator, api: Any) -> Scenario:
    environment = emu.managed_identity_environment("app_service")
    kwargs = {"http_client": requests.Session()} if api is identitylib else {}
    client = api.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity(), **kwargs)
    return Scenario(
        lambda: client.acquire_token_for_client(resource="https://management.azure.com"),
        [environment["IDENTITY_HEADER"]],
    )


SCENARIOS = [
    client_secret,
    certificate,
    password,
    refresh_token,
    silent,
    on_behalf_of,
    adapter_on_behalf_of,
    authorization_code,
    auth_code_flow,
    app_service,
]


@pytest.fixture
def stopping_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator of this test only, which the test stops; its managed-identity
    environment (App Service) is set."""
    emu = Emulator()
    emu.start()
    try:
        for name, value in emu.managed_identity_environment("app_service").items():
            monkeypatch.setenv(name, value)
        yield emu
    finally:
        emu.stop()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ROPC and the auth code method
@pytest.mark.parametrize("api", [identitylib, aio], ids=["blocking", "asyncio"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_a_failed_call_shows_no_secret(
    stopping_emulator: Emulator, api: Any, scenario: Callable[[Emulator, Any], Scenario]
) -> None:
    prepared = scenario(stopping_emulator, api)
    secrets = [s for s in prepared.secrets if _shown(s)]
    assert secrets, "no secret to look for: the test would prove nothing"
    stopping_emulator.stop()
    with pytest.raises(Exception) as failed:  # whatever the transport raises
        _run(prepared.call)
    report = crash_report(failed.value)
    # The library's frames and their locals were seen (the flow's, with the request).
    assert "/identitylib/" in report
    assert "request = HttpRequest(" in report
    assert not leaks(report, secrets), report
    assert not leaks(
        "".join(
            traceback.format_exception(type(failed.value), failed.value, failed.value.__traceback__)
        ),
        secrets,
    )


FEDERATED_USER, FEDERATED_PASSWORD = "carol@fabrikam.example", "carol-password"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("api", [identitylib, aio], ids=["blocking", "asyncio"])
@pytest.mark.parametrize("step", ["/usernamemixed", "/oauth2/v2.0/token"], ids=["ws-trust", "saml"])
def test_a_failed_federated_call_shows_no_password_and_no_assertion(
    emulator: Emulator, api: Any, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops after the WS-Trust request (the password in a SOAP body) or
    after the SAML bearer request (the assertion): neither shows in the crash report."""
    assertions: list[SamlAssertion] = []

    def recording(text: str) -> Any:
        answer = parse_rstr(text)
        if isinstance(answer, SamlAssertion):
            assertions.append(answer)
        return answer

    monkeypatch.setattr(federation_flow, "parse_rstr", recording)
    app = api.PublicClientApplication(DEMO_CLI_ID, authority=emulator.authority())
    emulator.faults.drop(path_contains=step, count=2)  # a retry, if any, is dropped too
    with pytest.raises(Exception) as failed:
        _run(
            lambda: app.acquire_token_by_username_password(
                FEDERATED_USER, FEDERATED_PASSWORD, GRAPH
            )
        )
    report = crash_report(failed.value)
    assert "request = HttpRequest(" in report
    secrets = [FEDERATED_PASSWORD]
    for answer in assertions:
        text, encoded = answer.assertion.decode(), encode_assertion(answer.assertion)
        secrets += [text, encoded, text[len(text) // 2 :][:40], encoded[len(encoded) // 2 :][:40]]
    assert len(secrets) == (5 if step == "/oauth2/v2.0/token" else 1)
    assert not leaks(report, secrets), report
    assert not leaks(
        "".join(
            traceback.format_exception(type(failed.value), failed.value, failed.value.__traceback__)
        ),
        secrets,
    )


# ------------------------------------------------------------------- validation


@pytest.fixture
def fresh_keys() -> Iterator[None]:
    JWKS_CACHE.clear()
    clear_failures()
    yield
    JWKS_CACHE.clear()
    clear_failures()


@pytest.mark.usefixtures("fresh_keys")
def test_a_rejected_token_is_not_in_the_crash_report(emulator: Emulator) -> None:
    app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emulator.authority()
    )
    token = _in(app.acquire_token_for_client(APP_SCOPES))["access_token"]
    validator = AccessTokenValidator(emulator.authority(), audience=DEMO_API_ID)
    signature = token.rsplit(".", 1)[1]
    for reject in (
        lambda: validator.validate(token, required_roles=["Not.Granted"]),
        lambda: validator.validate_bearer_header(f"Bearer {token}", required_scopes=["nope"]),
        lambda: validator.validate(token[:-4] + "AAAA"),  # bad signature
    ):
        with pytest.raises(TokenValidationError) as rejected:
            reject()
        report = crash_report(rejected.value)
        assert "validate" in report
        assert not leaks(report, [token, signature, token[:-4]]), report
