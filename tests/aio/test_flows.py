"""Every flow of identitylib.aio end to end against the emulator, over real HTTP."""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any

import jwt
import pytest

import identitylib
from identitylib import aio
from identitylib._cache import assertion_hash
from identitylib._demo import _assertion_signer
from identitylib._interactive import _browser
from identitylib.emulator import (
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    Emulator,
    approve_device_code,
    sign_in,
)
from identitylib.emulator._mi_sources import managed_identity_environment

from ._support import ALICE, APP_SCOPES, USER_SCOPES, run, token_posts, user_assertion

GRAPH = ["User.Read"]


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def daemon(
    emu: Emulator, credential: Any = DEMO_DAEMON_SECRET, **kwargs: Any
) -> aio.ConfidentialClientApplication:
    return aio.ConfidentialClientApplication(
        DEMO_DAEMON_ID, credential, authority=emu.authority(), **kwargs
    )


def public(emu: Emulator, **kwargs: Any) -> aio.PublicClientApplication:
    return aio.PublicClientApplication(DEMO_CLI_ID, authority=emu.authority(), **kwargs)


# ---------------------------------------------------------------- client credentials


@pytest.mark.parametrize("form", ["secret", "thumbprint", "sha256", "assertion"])
def test_client_credentials_then_cache(emu: Emulator, form: str) -> None:
    cert = emu.demo_certificate
    credential: Any = {
        "secret": DEMO_DAEMON_SECRET,
        "thumbprint": {"private_key": cert["private_key"], "thumbprint": cert["thumbprint"]},
        "sha256": {
            "private_key": cert["private_key"],
            "public_certificate": cert["public_certificate"],
        },
        "assertion": {"client_assertion": _assertion_signer(cert)},
    }[form]

    async def main() -> None:
        async with daemon(emu, credential) as app:
            first = await app.acquire_token_for_client(APP_SCOPES)
            assert first["token_source"] == "identity_provider", first
            assert claims_of(first["access_token"])["aud"] == DEMO_API_ID
            second = await app.acquire_token_for_client(APP_SCOPES)
            assert second["token_source"] == "cache"
            assert second["access_token"] == first["access_token"]

    run(main())
    assert token_posts(emu) == 1


def test_client_credentials_error_and_bad_arguments(emu: Emulator) -> None:
    async def main() -> None:
        app = daemon(emu, "wrong-secret")
        result = await app.acquire_token_for_client(APP_SCOPES)
        assert result["error"] == "invalid_client", result
        with pytest.raises(ValueError):  # the sync class's validation, before any I/O
            await app.acquire_token_for_client([])
        await app.aclose()

    run(main())


def test_cache_is_shared_with_the_sync_api(emu: Emulator) -> None:
    cache = identitylib.TokenCache()
    sync_app = identitylib.ConfidentialClientApplication(
        DEMO_DAEMON_ID, DEMO_DAEMON_SECRET, authority=emu.authority(), token_cache=cache
    )
    token = sync_app.acquire_token_for_client(APP_SCOPES)["access_token"]

    async def main() -> dict[str, Any]:
        async with daemon(emu, token_cache=cache) as app:
            return await app.acquire_token_for_client(APP_SCOPES)

    result = run(main())
    assert result["token_source"] == "cache"
    assert result["access_token"] == token


def test_a_blocking_http_client_is_used_in_a_thread(emu: Emulator) -> None:
    import requests

    session = requests.Session()
    session.trust_env = False

    async def main() -> dict[str, Any]:
        app = daemon(emu, http_client=session)
        assert app.http_client is session
        return await app.acquire_token_for_client(APP_SCOPES)

    assert run(main())["token_source"] == "identity_provider"


def test_an_httpx_async_client_is_used_as_given(emu: Emulator) -> None:
    import httpx

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient(trust_env=False) as client:
            app = daemon(emu, http_client=client)
            assert app.http_client is client
            result = await app.acquire_token_for_client(APP_SCOPES)
            await app.aclose()
            assert not client.is_closed  # never closes a client it was given
            return result

    assert run(main())["token_source"] == "identity_provider"


# ---------------------------------------------------------------- user flows


def test_auth_code_flow_with_the_scripted_user(emu: Emulator) -> None:
    async def main() -> None:
        app = aio.ConfidentialClientApplication(
            DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.authority()
        )
        flow = await app.initiate_auth_code_flow(
            GRAPH, redirect_uri="http://localhost:5000/getAToken", response_mode="form_post"
        )
        assert flow["auth_uri"].startswith(emu.authority())
        fields = await asyncio.to_thread(sign_in, flow["auth_uri"], *ALICE)
        result = await app.acquire_token_by_auth_code_flow(flow, fields)
        assert "access_token" in result, result
        assert result["id_token_claims"]["preferred_username"] == ALICE[0]
        with pytest.raises(ValueError, match="state mismatch"):
            await app.acquire_token_by_auth_code_flow(flow, {**fields, "state": "forged"})
        [account] = await app.get_accounts()
        silent = await app.acquire_token_silent(GRAPH, account)
        assert silent is not None
        assert silent["token_source"] == "cache"

    run(main())


def test_interactive_with_a_scripted_browser(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    threads: list[threading.Thread] = []

    def browser(url: str) -> bool:  # the user signs in, and the page posts to the listener
        opened.append(url)
        thread = threading.Thread(
            target=sign_in, args=(url, *ALICE), kwargs={"deliver": True}, daemon=True
        )
        thread.start()
        threads.append(thread)
        return True

    monkeypatch.setattr(_browser, "open_browser", browser)

    async def main() -> dict[str, Any]:
        app = public(emu)
        ticks = 0

        async def ticker() -> None:  # the loop keeps running while the user signs in
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(ticker())
        result = await app.acquire_token_interactive(USER_SCOPES, timeout=30)
        beat.cancel()
        assert ticks > 0
        return result

    result = run(main())
    for thread in threads:
        thread.join(15)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE[0]
    assert len(opened) == 1


def test_device_code_with_approval(emu: Emulator) -> None:
    async def main() -> dict[str, Any]:
        app = public(emu)
        flow = await app.initiate_device_flow(USER_SCOPES)
        assert "user_code" in flow, flow
        polling = asyncio.create_task(app.acquire_token_by_device_flow(flow))
        await asyncio.sleep(0.2)
        approved = await asyncio.to_thread(
            approve_device_code, flow["verification_uri"], flow["user_code"], *ALICE
        )
        assert approved
        return await asyncio.wait_for(polling, 30)

    result = run(main())
    assert "access_token" in result, result
    assert claims_of(result["access_token"])["aud"] == DEMO_API_ID


def test_device_code_polling_is_cancellable(emu: Emulator) -> None:
    async def main() -> None:
        app = public(emu)
        flow = await app.initiate_device_flow(USER_SCOPES)
        polling = asyncio.create_task(app.acquire_token_by_device_flow(flow))
        await asyncio.sleep(1.5)
        polling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await polling

    run(main())


def test_password_then_silent_then_refresh(emu: Emulator) -> None:
    async def main() -> None:
        app = public(emu)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            result = await app.acquire_token_by_username_password(*ALICE, USER_SCOPES)
        assert result["token_source"] == "identity_provider", result
        [account] = await app.get_accounts()
        assert account["username"] == ALICE[0]
        cached = await app.acquire_token_silent(USER_SCOPES, account)
        assert cached is not None
        assert cached["token_source"] == "cache"
        refreshed = await app.acquire_token_silent_with_error(
            USER_SCOPES, account, force_refresh=True
        )
        assert refreshed is not None
        assert refreshed["token_source"] == "identity_provider"
        other = await app.acquire_token_silent(GRAPH, account)  # another resource, by RT
        assert other is not None
        assert claims_of(other["access_token"])["aud"] != DEMO_API_ID
        assert await app.acquire_token_silent(USER_SCOPES, None) is None
        await app.remove_account(account)
        assert await app.get_accounts() == []

    run(main())


def test_refresh_token_migration(emu: Emulator) -> None:
    sync_app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emu.authority())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first = sync_app.acquire_token_by_username_password(*ALICE, USER_SCOPES)

    async def main() -> dict[str, Any]:
        app = public(emu)
        return await app.acquire_token_by_refresh_token(first["refresh_token"], USER_SCOPES)

    result = run(main())
    assert result["token_source"] == "identity_provider", result


def test_one_call_sign_in_with_device_code(emu: Emulator) -> None:
    async def main() -> dict[str, Any]:
        app = public(emu)
        loop = asyncio.get_running_loop()

        def show(flow: dict[str, Any]) -> None:  # called in the worker thread
            threading.Thread(
                target=approve_device_code,
                args=(flow["verification_uri"], flow["user_code"], *ALICE),
                daemon=True,
            ).start()
            assert loop.is_running()

        return await app.acquire_token(USER_SCOPES, use_device_code=True, device_code_callback=show)

    result = run(main())
    assert "access_token" in result, result


# ---------------------------------------------------------------- server side


def test_on_behalf_of_then_cache(emu: Emulator) -> None:
    assertion = user_assertion(emu)

    async def main() -> None:
        app = aio.ConfidentialClientApplication(
            DEMO_API_ID, DEMO_API_SECRET, authority=emu.authority()
        )
        first = await app.acquire_token_on_behalf_of(assertion, GRAPH)
        assert first["token_source"] == "identity_provider", first
        assert claims_of(first["access_token"])["tid"] == DEMO_TENANT_ID
        second = await app.acquire_token_on_behalf_of(assertion, GRAPH)
        assert second["token_source"] == "cache"

    emu.reset_requests()
    run(main())
    assert token_posts(emu) == 1


def test_on_behalf_of_serves_the_aging_token_when_the_exchange_fails(emu: Emulator) -> None:
    assertion = user_assertion(emu)
    cache = identitylib.TokenCache()

    async def main() -> None:
        app = aio.ConfidentialClientApplication(
            DEMO_API_ID,
            DEMO_API_SECRET,
            authority=emu.authority(),
            token_cache=cache,
            background_refresh=False,  # the refresh in the call itself
        )
        first = await app.acquire_token_on_behalf_of(assertion, GRAPH)
        bound = {"user_assertion_hash": assertion_hash(assertion)}
        for rt in list(cache.search("RefreshToken", query=bound)):  # the assertion is exchanged
            cache.remove_rt(rt)
        (at,) = cache.search("AccessToken", query=bound)
        cache.modify("AccessToken", at, {"refresh_on": "1"})  # due for refresh
        emu.faults.inject(400, path_contains="/token", body={"error": "temporarily_unavailable"})
        second = await app.acquire_token_on_behalf_of(assertion, GRAPH)
        assert second["token_source"] == "cache", second
        assert second["access_token"] == first["access_token"]
        assert emu.faults.take_failure("/token") is None  # the exchange was tried, and failed

    run(main())


def test_remove_tokens_for_client(emu: Emulator) -> None:
    async def main() -> None:
        app = daemon(emu)
        await app.acquire_token_for_client(APP_SCOPES)
        await app.remove_tokens_for_client()
        again = await app.acquire_token_for_client(APP_SCOPES)
        assert again["token_source"] == "identity_provider"

    run(main())


# ---------------------------------------------------------------- managed identity


@pytest.mark.parametrize("source", ["imds", "app_service"])
def test_managed_identity(emu: Emulator, mi_env: pytest.MonkeyPatch, source: str) -> None:
    for name, value in managed_identity_environment(emu, source).items():
        mi_env.setenv(name, value)
    resource = "https://management.azure.com/"

    async def main() -> None:
        async with aio.ManagedIdentityClient(identitylib.SystemAssignedManagedIdentity()) as client:
            first = await client.acquire_token_for_client(resource=resource)
            assert first["token_source"] == "identity_provider", first
            second = await client.acquire_token_for_client(resource=resource)
            assert second["token_source"] == "cache"
            assert second["access_token"] == first["access_token"]
            results = await asyncio.gather(
                *(
                    client.acquire_token_for_client(resource="https://vault.azure.net")
                    for _ in range(50)
                )
            )
            assert {r["access_token"] for r in results} == {results[0]["access_token"]}
            with pytest.raises(ValueError):
                await client.acquire_token_for_client(resource="")

    run(main())


@pytest.mark.parametrize(("token_type", "accepted"), [("N_A", False), ("bearer", True)])
def test_managed_identity_token_type_other_than_bearer_is_an_error(
    emu: Emulator, mi_env: pytest.MonkeyPatch, token_type: str, accepted: bool
) -> None:
    for name, value in managed_identity_environment(emu, "imds").items():
        mi_env.setenv(name, value)
    body = {"access_token": "mi-at", "expires_in": "3600", "token_type": token_type}
    emu.faults.inject(200, body=body, path_contains="/metadata/identity")
    cache = identitylib.TokenCache()

    async def main() -> dict[str, Any]:
        async with aio.ManagedIdentityClient(
            identitylib.SystemAssignedManagedIdentity(), token_cache=cache
        ) as client:
            return await client.acquire_token_for_client(resource="https://management.azure.com/")

    result = run(main())
    if accepted:
        assert result["access_token"] == "mi-at", result
        assert len(list(cache.search("AccessToken"))) == 1
    else:
        assert result["error"] == "invalid_response", result
        assert "'N_A'" in result["error_description"]
        assert list(cache.search("AccessToken")) == []


def test_deprecated_authorization_url_and_code_redemption(emu: Emulator) -> None:
    async def main() -> dict[str, Any]:
        app = aio.ConfidentialClientApplication(
            DEMO_WEB_ID, DEMO_WEB_SECRET, authority=emu.authority()
        )
        redirect_uri = "http://localhost:5000/getAToken"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            url = await app.get_authorization_request_url(
                GRAPH, redirect_uri=redirect_uri, state="s1"
            )
            fields = await asyncio.to_thread(sign_in, url, *ALICE)
            assert fields.get("state") == "s1", fields
            return await app.acquire_token_by_authorization_code(
                fields["code"], GRAPH, redirect_uri=redirect_uri
            )

    result = run(main())
    assert "access_token" in result, result
