"""Which managed-identity source this process runs on, from its environment.

The order is msal's (and azure-identity's): Service Fabric, App Service (also Functions,
Container Apps, Automation), Azure Machine Learning, Azure Arc, Cloud Shell, and the VM's
IMDS when nothing else is detected. Detection reads environment variables and, for Arc,
the presence of the agent binary; it never makes a request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional, Union

from identitylib._log import hide

#: Environment variables every source's detection reads (tests clear them all).
ENVIRONMENT_VARIABLES = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZUREPS_HOST_ENVIRONMENT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IDENTITYLIB_IMDS_ENDPOINT",
)

#: Where the Azure Arc agent's binary lives, per ``sys.platform`` (``%VAR%`` expanded).
ARC_AGENT_FILES: dict[str, str] = {
    "linux": "/opt/azcmagent/bin/himds",
    "win32": r"%ProgramFiles%\AzureConnectedMachineAgent\himds.exe",
}
#: The Arc agent's local endpoint when it is detected by its binary.
ARC_DEFAULT_ENDPOINT = "http://localhost:40342/metadata/identity/oauth2/token"
#: Cloud Shell's local token endpoint when ``MSI_ENDPOINT`` is not set.
CLOUD_SHELL_DEFAULT_ENDPOINT = "http://localhost:50342/oauth2/token"
#: The VM instance metadata service.
IMDS_DEFAULT_HOST = "http://169.254.169.254"
IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token"


class Source:
    """A sentinel naming a managed-identity source (compare with ``is``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<managed identity source {self.name}>"


APP_SERVICE = Source("APP_SERVICE")
AZURE_ARC = Source("AZURE_ARC")
CLOUD_SHELL = Source("CLOUD_SHELL")
MACHINE_LEARNING = Source("MACHINE_LEARNING")
SERVICE_FABRIC = Source("SERVICE_FABRIC")
DEFAULT_TO_VM = Source("DEFAULT_TO_VM")


@dataclass(frozen=True)
class ServiceFabricConfig:
    endpoint: str
    secret: str = field(repr=False)  # sent as a header: never shown
    thumbprint: str
    source: Source = SERVICE_FABRIC


@dataclass(frozen=True)
class AppServiceConfig:
    endpoint: str
    secret: str = field(repr=False)  # sent as a header: never shown
    source: Source = APP_SERVICE


@dataclass(frozen=True)
class MachineLearningConfig:
    endpoint: str
    secret: str = field(repr=False)  # sent as a header: never shown
    source: Source = MACHINE_LEARNING


@dataclass(frozen=True)
class ArcConfig:
    endpoint: str
    source: Source = AZURE_ARC


@dataclass(frozen=True)
class CloudShellConfig:
    endpoint: str
    source: Source = CLOUD_SHELL


@dataclass(frozen=True)
class ImdsConfig:
    endpoint: str
    source: Source = DEFAULT_TO_VM


SourceConfig = Union[
    ServiceFabricConfig,
    AppServiceConfig,
    MachineLearningConfig,
    ArcConfig,
    CloudShellConfig,
    ImdsConfig,
]


def _expand_windows(path: str, environ: Mapping[str, str]) -> str:
    program_files = environ.get("PROGRAMFILES", r"C:\Program Files")
    return path.replace("%ProgramFiles%", program_files)


def arc_endpoint(
    environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None
) -> Optional[str]:
    """The Arc agent's endpoint if this machine looks Arc-enabled, else None."""
    env = os.environ if environ is None else environ
    if env.get("IDENTITY_ENDPOINT") and env.get("IMDS_ENDPOINT"):
        return env["IDENTITY_ENDPOINT"]
    agent = ARC_AGENT_FILES.get(platform or sys.platform)
    if agent and os.path.exists(_expand_windows(agent, env)):
        return ARC_DEFAULT_ENDPOINT
    return None


def is_cloud_shell(environ: Optional[Mapping[str, str]] = None) -> bool:
    """``AZUREPS_HOST_ENVIRONMENT`` starts with ``cloud-shell``."""
    env = os.environ if environ is None else environ
    return env.get("AZUREPS_HOST_ENVIRONMENT", "").startswith("cloud-shell")


def imds_endpoint(environ: Optional[Mapping[str, str]] = None) -> str:
    """The IMDS token URL: ``IDENTITYLIB_IMDS_ENDPOINT`` (a full URL, identitylib's own),
    else ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` (a base URL, msal 1.39's) plus the IMDS path,
    else ``http://169.254.169.254/metadata/identity/oauth2/token``."""
    env = os.environ if environ is None else environ
    full = env.get("IDENTITYLIB_IMDS_ENDPOINT", "").strip()
    if full:
        return full
    host = env.get("AZURE_POD_IDENTITY_AUTHORITY_HOST", "").strip() or IMDS_DEFAULT_HOST
    return host.strip("/") + IMDS_TOKEN_PATH


def service_fabric_config(
    environ: Optional[Mapping[str, str]] = None,
) -> Optional[ServiceFabricConfig]:
    """Service Fabric's configuration if the environment names it (the first source
    detected; environment variables only), else None."""
    env = os.environ if environ is None else environ
    endpoint, header = env.get("IDENTITY_ENDPOINT"), env.get("IDENTITY_HEADER")
    thumbprint = env.get("IDENTITY_SERVER_THUMBPRINT")
    if endpoint and header and thumbprint:
        return ServiceFabricConfig(endpoint, hide(header), thumbprint)
    return None


def detect(
    environ: Optional[Mapping[str, str]] = None, platform: Optional[str] = None
) -> SourceConfig:
    """The source this environment points at, with what is needed to call it."""
    env = os.environ if environ is None else environ
    service_fabric = service_fabric_config(env)
    if service_fabric is not None:
        return service_fabric
    endpoint, header = env.get("IDENTITY_ENDPOINT"), env.get("IDENTITY_HEADER")
    if endpoint and header:
        return AppServiceConfig(endpoint, hide(header))
    if env.get("MSI_ENDPOINT") and env.get("MSI_SECRET"):
        return MachineLearningConfig(env["MSI_ENDPOINT"], hide(env["MSI_SECRET"]))
    arc = arc_endpoint(env, platform)
    if arc:
        return ArcConfig(arc)
    if is_cloud_shell(env):
        return CloudShellConfig(env.get("MSI_ENDPOINT") or CLOUD_SHELL_DEFAULT_ENDPOINT)
    return ImdsConfig(imds_endpoint(env))


def get_managed_identity_source() -> Source:
    """Detect the current environment and return the likely identity source.

    One of ``SERVICE_FABRIC``, ``APP_SERVICE``, ``MACHINE_LEARNING``, ``AZURE_ARC``,
    ``CLOUD_SHELL`` or ``DEFAULT_TO_VM`` (unknown environment: the VM's IMDS, which may not
    exist). Unlike msal, identitylib's ``ManagedIdentityClient`` also serves Cloud Shell.
    """
    return detect().source
