"""What the emulator knows: tenants, app registrations, users and managed identities.

A configuration comes from Python objects, from a dict (``EmulatorConfig.from_dict``) or
from a JSON file (``EmulatorConfig.from_file``); ``EmulatorConfig.default()`` is the demo
configuration used when none is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Union

#: Fixed identifiers of the default configuration, so docs and tests can name them.
DEMO_TENANT_ID = "7c1d6a5e-4b2f-4e8a-9d3c-2f1e0b9a8c7d"
DEMO_TENANT_DOMAIN = "contoso.onmicrosoft.com"
DEMO_DAEMON_ID = "a1b2c3d4-0001-4000-8000-00000000da01"
DEMO_DAEMON_SECRET = "demo-daemon-secret"
DEMO_WEB_ID = "a1b2c3d4-0002-4000-8000-0000000000eb"
DEMO_WEB_SECRET = "demo-web-secret"
DEMO_API_ID = "a1b2c3d4-0003-4000-8000-0000000000a1"
DEMO_API_SECRET = "demo-api-secret"
DEMO_API_URI = "api://demo-api"
#: A second web API whose scope needs the user's consent (incremental consent).
DEMO_API2_ID = "a1b2c3d4-0008-4000-8000-0000000000a2"
DEMO_API2_URI = "api://demo-api-2"
#: The demo tenant's B2C user flows (``{base}/{tenant}/{policy}`` authorities).
DEMO_B2C_SIGN_UP_SIGN_IN = "B2C_1_susi"
DEMO_B2C_EDIT_PROFILE = "B2C_1_edit_profile"
DEMO_B2C_RESET_PASSWORD = "B2C_1_reset"
#: The kinds of B2C user flow (``Tenant.user_flows`` values).
USER_FLOW_KINDS = ("sign_up_sign_in", "sign_in", "profile_edit", "password_reset")
DEMO_CLI_ID = "a1b2c3d4-0004-4000-8000-0000000000c1"
DEMO_DESKTOP_ID = "a1b2c3d4-0005-4000-8000-0000000000d5"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_URI = "https://graph.microsoft.com"
DEMO_MI_CLIENT_ID = "a1b2c3d4-0006-4000-8000-0000000000e1"
DEMO_MI_OBJECT_ID = "0a1b2c3d-0000-4000-8000-0000000000e2"
#: An app that trusts the demo managed identity's tokens as its federated credential.
DEMO_AGENT_ID = "a1b2c3d4-0009-4000-8000-0000000000a9"
DEMO_AGENT_SECRET = "demo-agent-secret"
#: The audience of tokens meant to be exchanged as federated credentials (Entra's).
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
#: A domain of the demo tenant federated with the emulator's own federation server (an
#: emulated AD FS): its users sign in with username/password through WS-Trust.
DEMO_FEDERATED_DOMAIN = "fabrikam.example"


@dataclass
class Tenant:
    """A directory: its GUID and the verified domains that resolve to it.

    ``user_flows`` are B2C / External ID user flows by policy name (``B2C_1_...``), each
    with its kind (one of :data:`USER_FLOW_KINDS`), served under ``{base}/{tenant}/{policy}``.
    ``federated_domains`` are verified domains too, whose users' passwords are checked by
    the emulator's federation server (WS-Trust, as AD FS does), never by the token endpoint.
    """

    tenant_id: str
    domains: list[str] = field(default_factory=list)
    name: str = ""
    user_flows: dict[str, str] = field(default_factory=dict)
    federated_domains: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for policy, kind in self.user_flows.items():
            if not policy.lower().startswith("b2c_"):
                raise ValueError(f"user flow {policy!r}: B2C policy names start with B2C_")
            if kind not in USER_FLOW_KINDS:
                raise ValueError(f"user flow {policy!r}: kind {kind!r} not in {USER_FLOW_KINDS}")


@dataclass
class FederatedCredential:
    """A federated identity credential of an app: a token signed by the emulator whose
    ``iss`` is ``issuer``, ``sub`` is ``subject`` and ``aud`` one of ``audiences`` is a
    credential of the app (the ``user_fic`` grant's ``user_federated_identity_credential``).
    """

    issuer: str
    subject: str
    audiences: list[str] = field(default_factory=lambda: [TOKEN_EXCHANGE_AUDIENCE])
    name: str = ""


@dataclass
class App:
    """An app registration (client and/or resource).

    A public app holds no credential; a confidential app authenticates with one of
    ``secrets`` or with a client assertion signed by the key of one of ``certificates``
    (PEM public certificates). ``identifier_uris`` name it as a resource; ``scopes`` are the
    delegated permissions it exposes, ``app_roles`` the application permissions.
    ``requires_consent``: each user must consent (per client app) to this API's delegated
    scopes before tokens for them are issued; the other APIs count as consented by an
    administrator for every user and app. ``federated_credentials``: the tokens the app may
    present as a federated credential.
    """

    client_id: str
    name: str = ""
    public: bool = False
    secrets: list[str] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)
    identifier_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    app_roles: list[str] = field(default_factory=list)
    family_id: Optional[str] = None
    allow_public_client_flows: bool = False
    access_token_version: int = 2
    requires_consent: bool = False
    federated_credentials: list[FederatedCredential] = field(default_factory=list)

    def __post_init__(self) -> None:
        # From a dict or a JSON file, federated credentials arrive as plain objects.
        self.federated_credentials = [
            c if isinstance(c, FederatedCredential) else FederatedCredential(**c)
            for c in self.federated_credentials
        ]


@dataclass
class User:
    """A user who can sign in: credentials, home tenant and extra ID-token claims."""

    username: str
    password: str
    tenant_id: str = DEMO_TENANT_ID
    object_id: str = ""
    name: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    mfa_required: bool = False


@dataclass
class ManagedIdentity:
    """A managed identity the MI endpoints can issue tokens for."""

    client_id: str
    object_id: str = ""
    resource_id: str = ""
    system_assigned: bool = False


@dataclass
class EmulatorConfig:
    """The emulator's whole world, plus token and flow timings (seconds)."""

    tenants: list[Tenant] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    managed_identities: list[ManagedIdentity] = field(default_factory=list)
    access_token_lifetime: int = 3600
    refresh_in: Optional[int] = None
    id_token_lifetime: int = 3600
    code_lifetime: int = 600
    device_code_lifetime: int = 900
    device_code_interval: int = 5
    refresh_token_lifetime: int = 90 * 24 * 3600

    @classmethod
    def default(cls) -> EmulatorConfig:
        """The demo world: one tenant, a daemon, a web app, two web APIs, two public clients,
        an agent app trusting the demo managed identity, and two managed identities."""
        return cls(
            tenants=[_demo_tenant()],
            apps=_demo_apps(),
            users=_demo_users(),
            managed_identities=_demo_managed_identities(),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmulatorConfig:
        """Build a configuration from plain data (the JSON file's shape); ValueError if bad."""
        if not isinstance(data, Mapping):
            raise ValueError("an emulator configuration must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown emulator configuration keys: {sorted(unknown)}")
        kinds: dict[str, Any] = {
            "tenants": Tenant,
            "apps": App,
            "users": User,
            "managed_identities": ManagedIdentity,
        }
        values: dict[str, Any] = {}
        for name, value in data.items():
            kind = kinds.get(name)
            if kind is None:
                values[name] = value
                continue
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise ValueError(f"{name} must be a list of objects")
            try:
                values[name] = [kind(**item) for item in value]
            except TypeError as exc:
                raise ValueError(f"bad entry in {name}: {exc}") from None
        return cls(**values)

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> EmulatorConfig:
        """Load a JSON configuration file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as ``from_dict`` reads it."""
        return asdict(self)


def _demo_tenant() -> Tenant:
    """Contoso, with B2C user flows and a federated domain."""
    return Tenant(
        DEMO_TENANT_ID,
        [DEMO_TENANT_DOMAIN],
        "Contoso (emulated)",
        user_flows={
            DEMO_B2C_SIGN_UP_SIGN_IN: "sign_up_sign_in",
            DEMO_B2C_EDIT_PROFILE: "profile_edit",
            DEMO_B2C_RESET_PASSWORD: "password_reset",
        },
        federated_domains=[DEMO_FEDERATED_DOMAIN],
    )


def _demo_apps() -> list[App]:
    """The demo apps: a daemon, a web app, two web APIs, two public clients, an emulated
    Microsoft Graph and an agent app trusting the demo managed identity."""
    return [
        App(DEMO_DAEMON_ID, "demo-daemon", secrets=[DEMO_DAEMON_SECRET]),
        App(
            DEMO_WEB_ID,
            "demo-web",
            secrets=[DEMO_WEB_SECRET],
            redirect_uris=[
                "http://localhost:5000/getAToken",
                "http://localhost",  # also post-logout: any port, path /
                # identitylib.web's redirect route, on any loopback port
                "http://localhost/auth/redirect",
                "http://127.0.0.1/auth/redirect",
            ],
        ),
        App(
            DEMO_API_ID,
            "demo-api",
            secrets=[DEMO_API_SECRET],
            identifier_uris=[DEMO_API_URI],
            scopes=["access_as_user"],
            app_roles=["Data.Read.All"],
        ),
        App(
            DEMO_CLI_ID,
            "demo-cli",
            public=True,
            redirect_uris=["http://localhost"],
            family_id="1",
            allow_public_client_flows=True,
        ),
        App(
            DEMO_DESKTOP_ID,
            "demo-desktop",
            public=True,
            redirect_uris=["http://localhost"],
            family_id="1",
            allow_public_client_flows=True,
        ),
        App(
            GRAPH_APP_ID,
            "Microsoft Graph (emulated)",
            identifier_uris=[GRAPH_URI],
            scopes=["User.Read", "Mail.Read", "Files.Read"],
            app_roles=["User.Read.All"],
        ),
        App(
            DEMO_API2_ID,
            "demo-api-2",
            identifier_uris=[DEMO_API2_URI],
            scopes=["read"],
            requires_consent=True,
        ),
        App(
            DEMO_AGENT_ID,
            "demo-agent",
            secrets=[DEMO_AGENT_SECRET],
            federated_credentials=[
                FederatedCredential(
                    issuer=f"https://sts.windows.net/{DEMO_TENANT_ID}/",
                    subject=DEMO_MI_OBJECT_ID,
                    name="demo-mi",
                )
            ],
        ),
    ]


def _demo_users() -> list[User]:
    """Alice and Bob (managed), Carol (federated)."""
    return [
        User(
            "alice@contoso.onmicrosoft.com",
            "alice-password",
            object_id="0a1b2c3d-0000-4000-8000-00000000a11c",
            name="Alice Example",
        ),
        User(
            "bob@contoso.onmicrosoft.com",
            "bob-password",
            object_id="0a1b2c3d-0000-4000-8000-000000000b0b",
            name="Bob Example",
        ),
        User(
            f"carol@{DEMO_FEDERATED_DOMAIN}",
            "carol-password",
            object_id="0a1b2c3d-0000-4000-8000-00000000ca01",
            name="Carol Federated",
        ),
    ]


def _demo_managed_identities() -> list[ManagedIdentity]:
    """A user-assigned and a system-assigned managed identity."""
    return [
        ManagedIdentity(
            DEMO_MI_CLIENT_ID,
            DEMO_MI_OBJECT_ID,
            "/subscriptions/0/resourceGroups/demo/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/demo-mi",
        ),
        ManagedIdentity("a1b2c3d4-0007-4000-8000-0000000000e5", system_assigned=True),
    ]
