"""``identitylib emulator``: serve the emulator until Ctrl+C, printing where everything is."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any, Optional

from identitylib.emulator import _mi_sources
from identitylib.emulator._config import DEMO_TENANT_ID, EmulatorConfig
from identitylib.emulator._emulator import DEMO_CERT_FILE, DEMO_KEY_FILE, Emulator

DEFAULT_PORT = 8400


def add_parser(subparsers: Any) -> None:
    """Register ``emulator`` on the top-level parser (``args.run`` is :func:`run`)."""
    parser = subparsers.add_parser(
        "emulator",
        help="run a local Microsoft Entra ID emulator",
        description="Serve a local Microsoft Entra ID look-alike (discovery, authorize, "
        "token, device code, managed identity) on loopback until Ctrl+C. For development "
        "and tests only: its secrets are printed and its keys are throwaway.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to bind (default 127.0.0.1; other hosts are refused)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument("--config", metavar="PATH", help="JSON file of tenants, apps and users")
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a generated CA (path printed)"
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="directory for the CA and demo certificate files (default: a temporary one)",
    )
    parser.add_argument("--serve-seconds", type=float, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def _print_summary(emu: Emulator) -> None:
    config = emu.config
    tenant_ids = [tenant.tenant_id for tenant in config.tenants]
    tenant = DEMO_TENANT_ID if DEMO_TENANT_ID in tenant_ids or not tenant_ids else tenant_ids[0]
    authority = emu.authority(tenant)
    lines = [
        "identitylib emulator: a local Microsoft Entra ID look-alike (development only)",
        "",
        "Endpoints",
        f"  authority          {authority}",
        f"  discovery          {authority}/v2.0/.well-known/openid-configuration",
        f"  token              {authority}/oauth2/v2.0/token",
        f"  sign-out           {authority}/oauth2/v2.0/logout",
        f"  device login page  {emu.base_url}/devicelogin",
        f"  demo API           {emu.demo_api_url}  (Authorization: Bearer)",
        f"  IMDS (MI)          {emu.imds_endpoint}  (header Metadata: true)",
        f"  App Service (MI)   IDENTITY_ENDPOINT={emu.app_service_endpoint}",
        f"                     IDENTITY_HEADER={emu.identity_header}",
        f"  Azure ML (MI)      MSI_ENDPOINT={_mi_sources.machine_learning_endpoint(emu)}",
        f"  Cloud Shell (MI)   MSI_ENDPOINT={_mi_sources.cloud_shell_endpoint(emu)}",
    ]
    if emu.ca_path:
        lines.append(f"  CA certificate     {emu.ca_path}  (verify= / REQUESTS_CA_BUNDLE)")
    lines += ["", "Tenants"]
    for entry in config.tenants:
        domains = ", ".join(entry.domains)
        lines.append(f"  {entry.tenant_id}  {domains}  {entry.name}".rstrip())
        place = entry.domains[0] if entry.domains else entry.tenant_id
        for policy, kind in entry.user_flows.items():
            flow = emu.b2c_authority(policy, place)
            lines.append(f"      user flow {flow}  ({kind})")
    lines += ["", "Apps"]
    for app in config.apps:
        if app.public:
            kind = "public client"
        elif app.secrets or app.certificates:
            kind = "confidential client"
        else:
            kind = "resource"
        details = [f"secret: {secret}" for secret in app.secrets]
        if app.identifier_uris:
            details.append("resource: " + ", ".join(app.identifier_uris))
        if app.certificates:
            details.append(f"{len(app.certificates)} certificate(s)")
        lines.append(f"  {app.name or '-':<28} {app.client_id}  {kind}")
        lines += [f"      {detail}" for detail in details]
    if emu.state_dir is not None and (emu.state_dir / DEMO_KEY_FILE).exists():
        thumbprint = emu.demo_certificate["thumbprint"]
        lines.append(f"  demo daemon certificate: {emu.state_dir / DEMO_CERT_FILE}")
        lines.append(f"      thumbprint {thumbprint}")
        lines.append(f"  demo daemon private key: {emu.state_dir / DEMO_KEY_FILE}")
    lines += ["", "Users"]
    lines += [f"  {user.username}  password: {user.password}" for user in config.users]
    lines += ["", "Managed identities"]
    for identity in config.managed_identities:
        kind = "system-assigned" if identity.system_assigned else "user-assigned"
        lines.append(f"  client_id {identity.client_id}  {kind}")
        if identity.object_id:
            lines.append(f"      object_id {identity.object_id}")
        if identity.resource_id:
            lines.append(f"      resource_id {identity.resource_id}")
    lines += ["", "Serving until Ctrl+C."]
    print("\n".join(lines), flush=True)


def run(args: argparse.Namespace) -> int:
    """Start the emulator, print its endpoints and credentials, serve until stopped."""
    try:
        config = EmulatorConfig.from_file(args.config) if args.config else None
    except (OSError, ValueError) as exc:
        print(f"identitylib emulator: bad --config: {exc}", file=sys.stderr)
        return 2
    try:
        emu = Emulator(
            config,
            host=args.host,
            port=args.port,
            tls=args.tls,
            state_dir=getattr(args, "state_dir", None),
        )
    except ValueError as exc:
        print(f"identitylib emulator: {exc}", file=sys.stderr)
        return 2
    try:
        emu.start()
    except OSError as exc:
        print(
            f"identitylib emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            " (choose another --port; 0 = any free port)",
            file=sys.stderr,
        )
        return 1
    stopped = threading.Event()

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stopped.set()

    previous: Any = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        _print_summary(emu)
        serve_seconds = getattr(args, "serve_seconds", None)
        if serve_seconds is not None:
            stopped.wait(max(0.0, float(serve_seconds)))
        else:
            while not stopped.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        if in_main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)
        emu.stop()
    print("identitylib emulator: stopped", flush=True)
    return 0
