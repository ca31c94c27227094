"""Where an :class:`Emulator` serves each managed-identity source, and the environment
variables that point identitylib's (and msal's) ``ManagedIdentityClient`` at it.

::

    with Emulator(tls=True) as emu:
        enable_arc(emu, tmp_path / "tokens")             # Arc needs a key-file directory
        for name, value in managed_identity_environment(emu, "service_fabric").items():
            monkeypatch.setenv(name, value)

Sources: ``imds``, ``app_service``, ``machine_learning``, ``cloud_shell``, ``azure_arc``,
``service_fabric`` (HTTPS only: start the emulator with ``tls=True``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Union

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from identitylib.emulator import _managed_identity as mi
from identitylib.emulator._emulator import Emulator
from identitylib.emulator._tls import SERVER_CERT_FILE

SOURCES = (
    "imds",
    "app_service",
    "machine_learning",
    "cloud_shell",
    "azure_arc",
    "service_fabric",
)


def machine_learning_endpoint(emu: Emulator) -> str:
    """The Azure Machine Learning endpoint (``MSI_ENDPOINT``; secret ``emu.identity_header``)."""
    return emu.base_url + mi.MACHINE_LEARNING_TOKEN_PATH


def cloud_shell_endpoint(emu: Emulator) -> str:
    """The Cloud Shell endpoint (``MSI_ENDPOINT`` in Cloud Shell)."""
    return emu.base_url + mi.CLOUD_SHELL_TOKEN_PATH


def arc_endpoint(emu: Emulator) -> str:
    """The Azure Arc agent endpoint (``IDENTITY_ENDPOINT``); see :func:`enable_arc`."""
    return emu.base_url + mi.ARC_TOKEN_PATH


def service_fabric_endpoint(emu: Emulator) -> str:
    """The Service Fabric endpoint (``IDENTITY_ENDPOINT``; ``Secret`` is
    ``emu.identity_header``). Clients require HTTPS: use ``Emulator(tls=True)``."""
    return emu.base_url + mi.SERVICE_FABRIC_TOKEN_PATH


def server_certificate_thumbprint(emu: Emulator) -> str:
    """SHA-1 thumbprint (upper-case hex) of the TLS server certificate of ``emu``:
    the ``IDENTITY_SERVER_THUMBPRINT`` a Service Fabric client pins.
    RuntimeError when the emulator does not serve TLS."""
    if not emu.tls or emu.state_dir is None:
        raise RuntimeError("the emulator serves no TLS: start it with Emulator(tls=True)")
    pem = (emu.state_dir / SERVER_CERT_FILE).read_bytes()
    certificate = x509.load_pem_x509_certificate(pem)  # the first one: the server's own
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def enable_arc(emu: Emulator, directory: Union[str, Path], *, echo_identity: bool = True) -> Path:
    """Serve Azure Arc on ``emu``, writing its challenge key files into ``directory``.

    ``echo_identity=False`` plays a legacy agent that ignores user-assigned selectors.
    Returns the directory (point the client's Arc token directory at it).
    """
    agent = mi.enable_arc(emu.identity_header, directory, echo_identity=echo_identity)
    return agent.directory


def disable_arc(emu: Emulator) -> None:
    """Stop serving Azure Arc on ``emu`` and remove its unused key files."""
    mi.disable_arc(emu.identity_header)


def managed_identity_requests(emu: Emulator) -> list[dict[str, Any]]:
    """``{"source", "params", "header_names"}`` of the latest MI requests ``emu`` served."""
    return mi.recent_requests(emu.identity_header)


def reset_managed_identity_requests(emu: Emulator) -> None:
    """Forget the requests :func:`managed_identity_requests` reports."""
    mi.forget_requests(emu.identity_header)


def managed_identity_environment(emu: Emulator, source: str) -> dict[str, str]:
    """The environment variables that make a client on this machine use ``source`` on
    ``emu`` (set them, after clearing any other managed-identity variables)."""
    if source == "imds":
        return {"IDENTITYLIB_IMDS_ENDPOINT": emu.imds_endpoint}
    if source == "app_service":
        return {
            "IDENTITY_ENDPOINT": emu.app_service_endpoint,
            "IDENTITY_HEADER": emu.identity_header,
        }
    if source == "machine_learning":
        return {"MSI_ENDPOINT": machine_learning_endpoint(emu), "MSI_SECRET": emu.identity_header}
    if source == "cloud_shell":
        return {
            "AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0",
            "MSI_ENDPOINT": cloud_shell_endpoint(emu),
        }
    if source == "azure_arc":
        return {"IDENTITY_ENDPOINT": arc_endpoint(emu), "IMDS_ENDPOINT": emu.base_url}
    if source == "service_fabric":
        return {
            "IDENTITY_ENDPOINT": service_fabric_endpoint(emu),
            "IDENTITY_HEADER": emu.identity_header,
            "IDENTITY_SERVER_THUMBPRINT": server_certificate_thumbprint(emu),
        }
    raise ValueError(f"unknown managed identity source {source!r}; one of {', '.join(SOURCES)}")
