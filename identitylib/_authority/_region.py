"""Regional token endpoints (ESTS-R, wire formats §13): which region, and its endpoint.

Only ``acquire_token_for_client`` goes regional, as in MSAL. The app's ``azure_region``:

* ``None``: env ``MSAL_FORCE_REGION`` when it is set (even to ""), in apps with a
  credential only, else no region;
* a string: that region (a lower-case DNS label such as ``westus2``; ValueError otherwise,
  as msal: the check is msal's, on every application class, ``MSAL_FORCE_REGION`` included);
* ``True``: detect it, on first use: env ``REGION_NAME``, else the Azure Instance Metadata
  Service (IMDS) ``GET /metadata/instance/compute?api-version=2021-02-01`` → ``location``;
* ``False``: never.

Detection happens at most once per process (the answer, "no region" included, is kept),
never in a constructor, and never hangs off Azure: the IMDS probe has its own short
timeout (:data:`PROBE_TIMEOUT`), no retry, no proxy, no redirect. The probe is written as a
sans-I/O flow (:func:`detect_region_flow`); :func:`detect_region` has it driven by the
shared blocking driver (``run_sync``) over a transport of its own
(:func:`run_probe`), because the app's transport (or a custom MSAL-style ``http_client``)
has one timeout for every request and may route through a proxy, which must never see a
link-local metadata request. A caller may pass another driver (``run=``).

``IDENTITYLIB_IMDS_ENDPOINT`` (e.g. ``http://127.0.0.1:8400``) replaces the IMDS base URL
``http://169.254.169.254``, for tests against the emulator.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from identitylib._log import get_logger
from identitylib._protocol._messages import Flow, HttpRequest, HttpResponse
from identitylib._protocol._token_response import parse_json_object

from ._hosts import AZURE_PUBLIC, aliases_of

logger = get_logger(__name__)

#: Env var naming the region to use when the app's ``azure_region`` is None (MSAL's name).
FORCE_REGION_ENV = "MSAL_FORCE_REGION"
#: Env var naming the region, read first by detection (set on some Azure hosts).
REGION_NAME_ENV = "REGION_NAME"
#: Env var replacing the IMDS base URL (identitylib's; for tests and emulators).
IMDS_ENDPOINT_ENV = "IDENTITYLIB_IMDS_ENDPOINT"
DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"
COMPUTE_PATH = "/metadata/instance/compute"
IMDS_API_VERSION = "2021-02-01"
#: (connect, read) seconds of the IMDS probe: IMDS answers in milliseconds on Azure.
PROBE_TIMEOUT = (1.0, 1.0)
#: Host of regional endpoints for public-cloud authorities: ``{region}.login.microsoft.com``.
PUBLIC_REGIONAL_SUFFIX = "login.microsoft.com"

#: An Azure region name: a lower-case DNS label.
_REGION = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")

#: What ``azure_region`` resolved to: a region name, True (detect on use), or None.
RegionChoice = Union[str, bool, None]

#: Drives the probe flow to its answer (sends its request, throws a failure into it).
ProbeRunner = Callable[[Flow[Optional[str]]], Optional[str]]


def valid_region(value: object) -> str | None:
    """``value`` lower-cased if it is a usable region name, else None."""
    if not isinstance(value, str):
        return None
    region = value.lower()
    return region if _REGION.fullmatch(region) else None


def check_region(value: object, name: str) -> str:
    """A region name given by the app (``name`` says where), exactly as given; ValueError
    unless it is a lower-case DNS label (msal's rule: ``WestUS2`` and ``""`` are refused)."""
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise ValueError(
            f"{name}={value!r} is not an Azure region name: use the short name of the region "
            "(a lower-case letter, then lower-case letters, digits or hyphens, at most 63 "
            "characters), e.g. 'westus2'"
        )
    return value


def configured_region(azure_region: Any, *, confidential: bool) -> RegionChoice:
    """The app's region choice, validated (no I/O): a name, True (detect later) or None.

    ``confidential``: the app has a credential, so env ``MSAL_FORCE_REGION`` counts when
    ``azure_region`` is None; set, it must name a region (set but empty is a ValueError, as
    in msal).
    """
    if azure_region is False:
        return None
    if azure_region is True:
        return True
    if azure_region is None:
        forced = os.environ.get(FORCE_REGION_ENV)
        if not confidential or forced is None:
            return None
        return check_region(forced, FORCE_REGION_ENV)
    if isinstance(azure_region, str):
        return check_region(azure_region, "azure_region")
    raise ValueError(
        "azure_region must be a region name such as 'westus2', True (detect the region), "
        f"False (no region) or None (env {FORCE_REGION_ENV}), got {type(azure_region).__name__}"
    )


def regional_host(region: str, host: str) -> str:
    """``{region}.login.microsoft.com`` for public-cloud hosts, else ``{region}.{host}``."""
    if host.lower() in aliases_of(AZURE_PUBLIC):
        return f"{region}.{PUBLIC_REGIONAL_SUFFIX}"
    return f"{region}.{host.lower()}"


def regional_endpoint(endpoint: str, region: str, authority_host: str) -> str:
    """``endpoint`` (the discovered central token endpoint) on the regional host.

    Scheme, port, path and query are kept; only the host changes. This spares the second
    discovery request MSAL makes against the regional host: the regional configuration
    names the same endpoints on the regional host.
    """
    parts = urlsplit(endpoint)
    netloc = regional_host(region, authority_host)
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


# ------------------------------------------------------------------------- detection


def imds_base_url() -> str:
    """The IMDS base URL: env ``IDENTITYLIB_IMDS_ENDPOINT``, else ``http://169.254.169.254``."""
    return (os.environ.get(IMDS_ENDPOINT_ENV, "").strip() or DEFAULT_IMDS_ENDPOINT).rstrip("/")


def region_probe_request(base_url: str) -> HttpRequest:
    """The IMDS compute-metadata GET whose ``location`` is the region."""
    return HttpRequest(
        "GET",
        base_url + COMPUTE_PATH,
        params={"api-version": IMDS_API_VERSION},
        headers={"Metadata": "true"},
    )


def parse_region_response(response: HttpResponse) -> str | None:
    """The region in an IMDS compute-metadata answer, None for anything unusable."""
    if not response.is_success:
        logger.info("IMDS answered HTTP %s: no region", response.status_code)
        return None
    body = parse_json_object(response, "IMDS compute metadata")
    if isinstance(body, str):
        logger.info("IMDS gave no region: %s", body)
        return None
    region = valid_region(body.get("location"))
    if region is None:
        logger.warning("IMDS named no usable region (location=%r)", body.get("location"))
    return region


def region_from_environment() -> tuple[bool, str | None]:
    """(True, the region) when env ``REGION_NAME`` is set, else (False, None). No I/O."""
    named = os.environ.get(REGION_NAME_ENV, "").strip()
    if not named:
        return False, None
    region = valid_region(named)
    if region is None:
        logger.warning("%s=%r is not a region name; ignored", REGION_NAME_ENV, named)
    return True, region


def probe_region_flow(base_url: str) -> Flow[str | None]:
    """Ask IMDS for the region (sans-I/O): one request, its answer. Never raises."""
    try:
        response = yield region_probe_request(base_url)
    except Exception as exc:  # unreachable: not on Azure (or IMDS down)
        logger.info("IMDS unreachable (%s): no region", type(exc).__name__)
        return None
    return parse_region_response(response)


def detect_region_flow(base_url: str) -> Flow[str | None]:
    """Detect the region (sans-I/O): env ``REGION_NAME``, else ask IMDS. Never raises."""
    named, region = region_from_environment()
    if named:
        return region
    return (yield from probe_region_flow(base_url))


def run_probe(flow: Flow[str | None]) -> str | None:
    """Drive the probe with ``run_sync`` over a transport of its own: identitylib's session
    with :data:`PROBE_TIMEOUT` (and as much in all), no retry, no redirect, and no proxy or
    CA setting from the environment (IMDS is link-local)."""
    # The transport floor stands above this one: loaded on first detection only.
    from identitylib._transport._policy import NO_RETRY
    from identitylib._transport._sync import SyncTransport, run_sync

    transport = SyncTransport(
        timeout=PROBE_TIMEOUT,
        deadline=sum(PROBE_TIMEOUT),
        retry=NO_RETRY,
        follow_redirects=False,
        trust_env=False,
    )
    try:
        return run_sync(flow, transport)
    finally:
        transport.close()


_detected: dict[str, str | None] = {}
_lock = threading.Lock()


def detect_region(run: Optional[ProbeRunner] = None) -> str | None:
    """The region this process runs in, or None; IMDS is asked once per process.

    ``REGION_NAME`` is read on every call (no I/O). Concurrent first callers wait for one
    probe instead of each sending their own. ``run`` drives the probe flow (default:
    :func:`run_probe`).
    """
    named, region = region_from_environment()
    if named:
        return region
    base_url = imds_base_url()
    with _lock:
        if base_url in _detected:
            return _detected[base_url]
        region = (run or run_probe)(probe_region_flow(base_url))
        logger.info("Detected Azure region: %r", region)
        _detected[base_url] = region
        return region


def reset_detected_region() -> None:
    """Forget the detected region (for tests)."""
    with _lock:
        _detected.clear()


def resolve_region(choice: RegionChoice) -> str | None:
    """The region to use now for a :func:`configured_region` choice (may detect it)."""
    if choice is True:
        return detect_region()
    return choice if isinstance(choice, str) else None
