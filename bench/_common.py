"""Helpers shared by the benchmarks in ``bench/``.

- ``FakeHttpClient``: an in-memory stand-in for MSAL's ``http_client`` (no network), which
  answers OIDC discovery and token requests for any tenant and counts what it was asked.
- Cache builders: access-token entries in MSAL's unified cache schema, serialized to JSON
  so msal and identitylib can be filled with the identical cache by ``deserialize()``.
- Timing: ``time_interleaved`` (per-call ``perf_counter_ns`` samples, contenders taking
  turns in blocks, time-boxed) and summary statistics (median, p99).
- Output: a plain-text table and an atomic JSON writer.
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional
from urllib.parse import urlsplit

AUTHORITY_HOST = "login.microsoftonline.com"
CLIENT_ID = "b3a8c1d2-0000-4000-8000-00000000c11e"
LIBRARIES = ("msal", "identitylib")


def tenant_id(index: int) -> str:
    """A deterministic tenant GUID for tenant number ``index``."""
    return f"7e4a0000-0000-4000-8000-{index:012x}"


def authority_url(tenant: str) -> str:
    """The Entra ID authority URL of ``tenant``."""
    return f"https://{AUTHORITY_HOST}/{tenant}"


def load_libraries() -> dict[str, ModuleType]:
    """Import msal and identitylib: name -> module, in ``LIBRARIES`` order."""
    return {name: importlib.import_module(name) for name in LIBRARIES}


# ---------------------------------------------------------------------------- fake HTTP


class FakeResponse:
    """The part of a ``requests.Response`` that MSAL's ``http_client`` contract needs."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.text = json.dumps(body)
        self.headers: dict[str, str] = {"Content-Type": "application/json"}

    def raise_for_status(self) -> None:
        """Raise for an HTTP error status (never the case for the fake's 200s)."""
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class FakeHttpClient:
    """In-memory identity provider: discovery for any tenant, a fresh token per POST."""

    def __init__(self) -> None:
        self.gets = 0
        self.posts = 0

    @property
    def requests(self) -> int:
        """Requests made so far (GET and POST)."""
        return self.gets + self.posts

    @staticmethod
    def _tenant(url: str) -> str:
        path = urlsplit(url).path.strip("/")
        return path.split("/", 1)[0] or "common"

    def get(
        self,
        url: str,
        params: Optional[dict[str, Any]] = None,
        headers: Optional[dict[str, str]] = None,
        **kwargs: Any,
    ) -> FakeResponse:
        """Answer with the OIDC discovery document of the tenant in ``url``."""
        self.gets += 1
        base = authority_url(self._tenant(url))
        return FakeResponse(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
            },
        )

    def post(
        self,
        url: str,
        params: Optional[dict[str, Any]] = None,
        data: Any = None,
        headers: Optional[dict[str, str]] = None,
        **kwargs: Any,
    ) -> FakeResponse:
        """Answer with a fresh bearer token."""
        self.posts += 1
        return FakeResponse(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": f"fake-at-{self.posts}-{time.perf_counter_ns()}",
            },
        )

    def close(self) -> None:
        """Nothing to release."""


# ------------------------------------------------------------------------- cache content


def access_token_key(client_id: str, tenant: str, scope: str) -> str:
    """MSAL's cache key of an app-only access token (lower-cased, as msal writes it)."""
    return f"-{AUTHORITY_HOST}-accesstoken-{client_id}-{tenant}-{scope}".lower()


def access_token_entry(
    client_id: str, tenant: str, scope: str, secret: str, now: int, lifetime: int
) -> dict[str, Any]:
    """An app-only access token in MSAL's unified schema (the fields msal itself writes)."""
    return {
        "credential_type": "AccessToken",
        "secret": secret,
        "home_account_id": None,
        "environment": AUTHORITY_HOST,
        "client_id": client_id,
        "target": scope,
        "realm": tenant,
        "token_type": "Bearer",
        "cached_at": str(now),
        "expires_on": str(now + lifetime),
        "extended_expires_on": str(now + lifetime),
    }


def serialized_app_token_cache(
    client_id: str,
    tokens: Iterable[tuple[str, str]],
    *,
    now: Optional[int] = None,
    lifetime: int = 6 * 3600,
) -> str:
    """A serialized cache holding one app token per ``(tenant, scope)`` pair."""
    now = int(time.time()) if now is None else now
    access_tokens = {
        access_token_key(client_id, tenant, scope): access_token_entry(
            client_id, tenant, scope, f"cached-at-{i}", now, lifetime
        )
        for i, (tenant, scope) in enumerate(tokens)
    }
    app_metadata = {
        f"appmetadata-{AUTHORITY_HOST}-{client_id}": {
            "client_id": client_id,
            "environment": AUTHORITY_HOST,
        }
    }
    return json.dumps({"AccessToken": access_tokens, "AppMetadata": app_metadata})


# ------------------------------------------------------------------------------- timing


@dataclass
class Samples:
    """Per-call durations (ns) of one time-boxed workload, and what it cost in requests."""

    durations_ns: list[int] = field(default_factory=list)
    requests: int = 0
    truncated: bool = False  # stopped by the time budget before the requested count

    @property
    def calls(self) -> int:
        """How many calls were timed."""
        return len(self.durations_ns)


def time_interleaved(
    calls: Mapping[str, Callable[[int], object]],
    iterations: int,
    *,
    block: int,
    budget_s: float,
    min_iterations: int = 1,
    checks: Optional[Mapping[str, Callable[[object], None]]] = None,
) -> dict[str, Samples]:
    """Time ``call(i)`` of every contender for i in range(iterations), in alternating blocks.

    The contenders take turns, ``block`` calls each, and the first in a turn alternates,
    so a burst of machine noise hits them alike. One ``perf_counter_ns`` sample per call;
    ``checks[name]`` validates each result outside the timed region. A contender stops
    early once its own timed calls add up to ``budget_s`` and it made ``min_iterations``.
    The garbage collector runs before, and stays enabled during, the workload.
    """
    gc.collect()
    clock = time.perf_counter_ns
    budget_ns = int(budget_s * 1e9)
    samples = {name: Samples() for name in calls}
    spent = dict.fromkeys(calls, 0)
    active = list(calls)
    for first in range(0, iterations, block):
        if not active:
            break
        for name in active if (first // block) % 2 == 0 else reversed(active):
            call, check = calls[name], (checks or {}).get(name)
            durations = samples[name].durations_ns
            for i in range(first, min(first + block, iterations)):
                start = clock()
                result = call(i)
                elapsed = clock() - start
                durations.append(elapsed)
                spent[name] += elapsed
                if check is not None:
                    check(result)
        for name in list(active):
            done = samples[name].calls
            if spent[name] >= budget_ns and done >= min_iterations and done < iterations:
                samples[name].truncated = True
                active.remove(name)
    return samples


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` (nearest rank)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (NaN when empty)."""
    return float(statistics.median(values)) if values else math.nan


def ns_to_us(value: float) -> float:
    """Nanoseconds to microseconds."""
    return value / 1000.0


# ------------------------------------------------------------------------------- output


def format_us(value: float) -> str:
    """A latency in microseconds, with precision suited to its size."""
    if math.isnan(value):
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def format_ratio(value: float) -> str:
    """A ratio such as identitylib/msal."""
    if math.isnan(value):
        return "-"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Print (and return) a plain table: first column left-aligned, the others right."""
    table = [list(headers), *[list(row) for row in rows]]
    widths = [max(len(row[col]) for row in table) for col in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.ljust(widths[col]) if col == 0 else cell.rjust(widths[col])
            for col, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    out = [line(table[0]), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in table[1:])
    text = "\n".join(out)
    print(text)
    return text


def machine_info() -> dict[str, Any]:
    """Where the numbers come from."""
    libs = load_libraries()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": {name: getattr(mod, "__version__", "?") for name, mod in libs.items()},
    }


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON to ``path`` atomically (via a ``.tmp`` sibling)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
