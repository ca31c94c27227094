"""A local Microsoft Entra ID emulator for offline development and tests.

::

    from identitylib.emulator import Emulator

    with Emulator() as emu:                      # http://127.0.0.1:<free port>
        emu.authority()                          # f"{emu.base_url}/{DEMO_TENANT_ID}"
        emu.faults.inject(429, retry_after=1)    # the next request is throttled

``Emulator(config=None, *, host="127.0.0.1", port=0, tls=False, state_dir=None)`` serves
discovery, authorize/sign-in (with consent), token, device-code, end-session and the
managed-identity endpoints, B2C user flows and a protected demo API, of the world
described by an :class:`EmulatorConfig` (the demo world by default). From the
command line: ``identitylib emulator``; in pytest: the opt-in ``identitylib_emulator`` fixtures
(``identitylib.emulator.pytest_plugin``).
"""

from identitylib.emulator._config import (
    DEMO_AGENT_ID,
    DEMO_AGENT_SECRET,
    DEMO_API2_ID,
    DEMO_API2_URI,
    DEMO_API_ID,
    DEMO_API_SECRET,
    DEMO_API_URI,
    DEMO_B2C_EDIT_PROFILE,
    DEMO_B2C_RESET_PASSWORD,
    DEMO_B2C_SIGN_UP_SIGN_IN,
    DEMO_CLI_ID,
    DEMO_DAEMON_ID,
    DEMO_DAEMON_SECRET,
    DEMO_DESKTOP_ID,
    DEMO_FEDERATED_DOMAIN,
    DEMO_MI_CLIENT_ID,
    DEMO_MI_OBJECT_ID,
    DEMO_TENANT_DOMAIN,
    DEMO_TENANT_ID,
    DEMO_WEB_ID,
    DEMO_WEB_SECRET,
    TOKEN_EXCHANGE_AUDIENCE,
    App,
    EmulatorConfig,
    FederatedCredential,
    ManagedIdentity,
    Tenant,
    User,
)
from identitylib.emulator._demo_api import AUTH_CONTEXT, DEMO_API_CLAIMS
from identitylib.emulator._emulator import Emulator
from identitylib.emulator._faults import Faults, InjectedFailure
from identitylib.emulator._records import Logout
from identitylib.emulator._reply import Reply
from identitylib.emulator._robot import approve_device_code, forgot_password, sign_in

__all__ = [
    "approve_device_code",
    "forgot_password",
    "sign_in",
    "AUTH_CONTEXT",
    "DEMO_AGENT_ID",
    "DEMO_AGENT_SECRET",
    "DEMO_API2_ID",
    "DEMO_API2_URI",
    "DEMO_API_CLAIMS",
    "DEMO_API_ID",
    "DEMO_API_SECRET",
    "DEMO_API_URI",
    "DEMO_B2C_EDIT_PROFILE",
    "DEMO_B2C_RESET_PASSWORD",
    "DEMO_B2C_SIGN_UP_SIGN_IN",
    "DEMO_CLI_ID",
    "DEMO_DAEMON_ID",
    "DEMO_DAEMON_SECRET",
    "DEMO_DESKTOP_ID",
    "DEMO_FEDERATED_DOMAIN",
    "DEMO_MI_CLIENT_ID",
    "DEMO_MI_OBJECT_ID",
    "DEMO_TENANT_DOMAIN",
    "DEMO_TENANT_ID",
    "DEMO_WEB_ID",
    "DEMO_WEB_SECRET",
    "TOKEN_EXCHANGE_AUDIENCE",
    "App",
    "Emulator",
    "EmulatorConfig",
    "FederatedCredential",
    "Faults",
    "InjectedFailure",
    "Logout",
    "ManagedIdentity",
    "Reply",
    "Tenant",
    "User",
]
