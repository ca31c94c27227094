"""``identitylib demo``: every implemented flow, run against an in-process emulator.

Each flow runs twice: the first call goes to the identity provider, the second is served
from the token cache. One row per call shows the flow, where the token came from, how many
HTTP requests reached the emulator, and how long it took.
"""

from __future__ import annotations

import argparse
import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

import identitylib
from identitylib.emulator import Emulator
from identitylib.emulator._config import DEMO_API_URI, DEMO_DAEMON_ID, DEMO_DAEMON_SECRET

API_SCOPES = [f"{DEMO_API_URI}/.default"]


@dataclass
class Row:
    """One call of one flow."""

    flow: str
    source: str
    requests: int
    millis: float
    ok: bool


Acquire = Callable[[], dict[str, Any]]


def _assertion_signer(credential: dict[str, str]) -> Callable[[dict[str, str]], str]:
    """A client-assertion callable signing with the demo certificate's key."""

    def sign(context: dict[str, str]) -> str:
        now = int(time.time())
        claims = {
            "aud": context["token_endpoint"],
            "iss": context["client_id"],
            "sub": context["client_id"],
            "jti": str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        }
        header = {
            "x5t": jwt.utils.base64url_encode(bytes.fromhex(credential["thumbprint"])).decode()
        }
        return jwt.encode(claims, credential["private_key"], algorithm="RS256", headers=header)

    return sign


def _flows(emu: Emulator, verify: Any) -> list[tuple[str, Acquire]]:
    """(name, acquire) for every flow identitylib implements so far."""
    certificate = emu.demo_certificate
    credentials: list[tuple[str, Any]] = [
        ("client credentials (secret)", DEMO_DAEMON_SECRET),
        (
            "client credentials (certificate)",
            {
                "private_key": certificate["private_key"],
                "public_certificate": certificate["public_certificate"],
            },
        ),
        ("client credentials (assertion)", {"client_assertion": _assertion_signer(certificate)}),
    ]
    flows: list[tuple[str, Acquire]] = []
    for name, credential in credentials:
        app = identitylib.ConfidentialClientApplication(
            DEMO_DAEMON_ID, credential, authority=emu.authority(), verify=verify
        )
        flows.append((name, functools.partial(app.acquire_token_for_client, API_SCOPES)))
    return flows


def _timed(emu: Emulator, flow: str, acquire: Acquire) -> Row:
    before = len(emu.requests)
    started = time.perf_counter()
    result = acquire()
    millis = (time.perf_counter() - started) * 1000
    ok = "access_token" in result
    source = result.get("token_source", "?") if ok else f"error: {result.get('error')}"
    return Row(flow, source, len(emu.requests) - before, millis, ok)


def run_demo(*, tls: bool = False) -> list[Row]:
    """Start an emulator, run every flow twice, return the rows."""
    rows: list[Row] = []
    with Emulator(tls=tls) as emu:
        verify: Any = emu.ca_path if tls else True
        for name, acquire in _flows(emu, verify):
            rows.append(_timed(emu, name, acquire))
            rows.append(_timed(emu, f"{name}, again", acquire))
    return rows


def format_rows(rows: list[Row]) -> str:
    """A plain-text table of the rows."""
    headers = ("flow", "token source", "requests", "time ms")
    cells = [(r.flow, r.source, str(r.requests), f"{r.millis:.1f}") for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``identitylib demo``."""
    print(f"identitylib {identitylib.__version__} demo against a local emulator")
    rows = run_demo(tls=bool(args.tls))
    print(format_rows(rows))
    failed = [r.flow for r in rows if not r.ok]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print(f"all {len(rows)} calls succeeded; repeated calls were served from the cache")
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``demo`` on the top-level parser."""
    parser = subparsers.add_parser(
        "demo", help="run every implemented flow against an in-process emulator"
    )
    parser.add_argument("--tls", action="store_true", help="serve the emulator over HTTPS")
    parser.set_defaults(run=run)
