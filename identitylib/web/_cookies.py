"""Cookie policy shared by the web adapters: ``Secure`` outside loopback."""

from __future__ import annotations

import ipaddress

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a Host header value, port allowed) names this machine."""
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8000
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def cookie_must_be_secure(host: str) -> bool:
    """Session cookies are ``Secure`` except on a loopback host (local development over
    plain http, where a browser would drop a Secure cookie)."""
    return not is_loopback_host(host)
