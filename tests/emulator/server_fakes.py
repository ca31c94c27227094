"""A stand-in for the identity-provider model, so server tests do not depend on it.

Every method answers JSON naming itself and echoing its arguments (and records the call);
``overrides[method]`` replaces the answer with a given Reply or raises a given exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Optional, Union

from identitylib.emulator import Emulator, EmulatorConfig
from identitylib.emulator._reply import Reply

TIMEOUT = 10  # seconds, on every HTTP request the tests make


class FakeProvider:
    """Stands in for the emulator's model (``IdentityProvider``) behind its real HTTP server.

    Kept: the server tests check the HTTP layer alone (routing, parsing, headers, faults,
    lifecycle) and need a model that records the arguments it was called with and answers,
    or raises, whatever a test chooses: a model that crashes or answers a made-up reply is
    something no real identity provider does. The model itself is tested directly in
    tests/emulator/test_provider_*.py, and model and server together in
    test_server_integration.py and by every client test that uses the emulator.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.overrides: dict[str, Union[Reply, BaseException]] = {}
        self._lock = threading.Lock()

    def _answer(self, name: str, **args: Any) -> Reply:
        plain = {k: dict(v) if isinstance(v, Mapping) else v for k, v in args.items()}
        with self._lock:
            self.calls.append((name, plain))
        override = self.overrides.get(name)
        if isinstance(override, BaseException):
            raise override
        if override is not None:
            return override
        return Reply(json={"called": name, **plain})

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
        self.overrides.clear()

    def last(self, name: str) -> dict[str, Any]:
        with self._lock:
            return next(args for called, args in reversed(self.calls) if called == name)

    def openid_configuration(
        self, base_url: str, tenant: str, *, headers: Optional[Mapping[str, str]] = None
    ) -> Reply:
        return self._answer(
            "openid_configuration", base_url=base_url, tenant=tenant, headers=headers
        )

    def jwks(
        self,
        tenant: str,
        *,
        base_url: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Reply:
        return self._answer("jwks", tenant=tenant, base_url=base_url, headers=headers)

    def instance_discovery(
        self,
        base_url: str,
        params: Mapping[str, str],
        *,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Reply:
        return self._answer("instance_discovery", base_url=base_url, params=params, headers=headers)

    def user_realm(self, username: str, *, base_url: str) -> Reply:
        return self._answer("user_realm", username=username, base_url=base_url)

    def federation_metadata(self, base_url: str) -> Reply:
        return self._answer("federation_metadata", base_url=base_url)

    def wstrust(self, base_url: str, version: str, body: str) -> Reply:
        return self._answer("wstrust", base_url=base_url, version=version, body=body)

    def authorize(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply:
        return self._answer("authorize", base_url=base_url, tenant=tenant, params=params)

    def sign_in(self, base_url: str, tenant: str, form: Mapping[str, str]) -> Reply:
        return self._answer("sign_in", base_url=base_url, tenant=tenant, form=form)

    def forgot_password(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply:
        return self._answer("forgot_password", base_url=base_url, tenant=tenant, params=params)

    def end_session(self, base_url: str, tenant: str, params: Mapping[str, str]) -> Reply:
        return self._answer("end_session", base_url=base_url, tenant=tenant, params=params)

    def demo_api_me(self, base_url: str, headers: Mapping[str, str]) -> Reply:
        return self._answer("demo_api_me", base_url=base_url, headers=headers)

    def device_login_page(self, base_url: str, params: Mapping[str, str]) -> Reply:
        return self._answer("device_login_page", base_url=base_url, params=params)

    def device_login(self, base_url: str, form: Mapping[str, str]) -> Reply:
        return self._answer("device_login", base_url=base_url, form=form)

    def token(
        self, base_url: str, tenant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply:
        return self._answer("token", base_url=base_url, tenant=tenant, form=form, headers=headers)

    def devicecode(
        self, base_url: str, tenant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Reply:
        return self._answer(
            "devicecode", base_url=base_url, tenant=tenant, form=form, headers=headers
        )

    def managed_identity_token(
        self,
        resource: Optional[str],
        *,
        client_id: Optional[str] = None,
        object_id: Optional[str] = None,
        resource_id: Optional[str] = None,
    ) -> Reply:
        reply = self._answer(
            "managed_identity_token",
            resource=resource,
            client_id=client_id,
            object_id=object_id,
            resource_id=resource_id,
        )
        if "managed_identity_token" in self.overrides:
            return reply
        now = int(time.time())
        return Reply(
            json={
                "access_token": "fake-mi-token",
                "client_id": client_id or "fake-mi-client",
                "expires_in": "86399",
                "expires_on": str(now + 86399),
                "ext_expires_in": "86399",
                "not_before": str(now),
                "resource": resource,
                "token_type": "Bearer",
            }
        )


class FakeEmulator(Emulator):
    """An Emulator serving the fake model."""

    def _create_provider(self) -> Any:
        return FakeProvider()

    @property
    def fake(self) -> FakeProvider:
        provider: Any = self.provider
        assert isinstance(provider, FakeProvider)
        return provider


def small_config() -> EmulatorConfig:
    """The demo configuration without the daemon app, so start() makes no RSA key."""
    config = EmulatorConfig.default()
    config.apps = [app for app in config.apps if app.name != "demo-daemon"]
    return config


def running(emu: FakeEmulator) -> Iterator[FakeEmulator]:
    """Start ``emu``, yield it, stop it (for fixtures)."""
    with emu:
        yield emu
