"""Query semantics of ``TokenCache.search``: which entry matches which query."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from ._seconds import seconds

#: Query fields compared case-insensitively.
CASE_INSENSITIVE_FIELDS = frozenset({"environment"})
#: AT fields that bind a token to something extra: an entry carrying one only matches
#: queries that name that field (a plain Bearer lookup never returns such a token), except
#: as :func:`isolates` says.
ISOLATING_FIELDS = ("key_id", "ext_cache_key", "user_assertion_hash")
#: The same bindings as the other MSAL libraries write them: MSAL.NET's key id (``kid``)
#: and extra cache key components (``ext``), msal-node's hash of the requested claims
#: (``requestedClaimsHash``). No lookup names them, so such a token is never served.
FOREIGN_BINDING_FIELDS = ("kid", "ext", "requestedClaimsHash")

#: The field binding an on-behalf-of token to the assertion it was obtained with.
USER_ASSERTION_HASH = "user_assertion_hash"


def isolates(name: str, query: Mapping[str, Any]) -> bool:
    """Whether an AT carrying the isolating field ``name`` is kept from ``query``, which
    does not name that field.

    An on-behalf-of token is its user's token: a query for that user's tokens (naming a
    non-empty ``home_account_id``, as ``acquire_token_silent`` does) finds it, and so does
    a query naming no ``home_account_id`` at all (no query, only ``client_id``), as msal's
    do; a query for app tokens (``home_account_id`` None, as the client-credentials and
    managed-identity lookups name it) never does.
    """
    if name != USER_ASSERTION_HASH:
        return True
    return "home_account_id" in query and not query["home_account_id"]


def component(value: Any, *, fold: bool = False) -> Hashable:
    """A hashable index component for a field value ("" stands for None/absent)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.lower() if fold else value
    try:
        hash(value)
    except TypeError:
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def components(
    source: Mapping[str, Any], fields: tuple[str, ...], folded: frozenset[str] = frozenset()
) -> tuple[Hashable, ...]:
    """``component`` of each field of ``source`` (a hot path when indexing)."""
    out: list[Hashable] = []
    for name in fields:
        value = source.get(name)
        if type(value) is str:
            out.append(value.lower() if name in folded else value)
        elif value is None:
            out.append("")
        else:
            out.append(component(value, fold=name in folded))
    return tuple(out)


def scope_set(target: Any) -> frozenset[str]:
    """Lower-cased scopes of a space-separated target string."""
    return frozenset(target.lower().split()) if isinstance(target, str) else frozenset()


def requested_scopes(target: Iterable[Any] | None) -> frozenset[str]:
    """Lower-cased requested scopes (those that are strings)."""
    if type(target) is list or type(target) is tuple:
        try:  # (the usual scopes, all strings: lower-cased without a generator's frame)
            return frozenset(map(str.lower, target))
        except TypeError:  # (not all strings: those that are, below)
            pass
    return frozenset(scope.lower() for scope in target or () if isinstance(scope, str))


def field_matches(entry: Mapping[str, Any], name: str, wanted: Any) -> bool:
    """The entry has field ``name`` and it equals ``wanted`` (MSAL's subdict rule)."""
    if name not in entry:
        return False
    actual = entry[name]
    if name in CASE_INSENSITIVE_FIELDS and isinstance(actual, str) and isinstance(wanted, str):
        return actual.lower() == wanted.lower()
    return bool(actual == wanted)


def matches(
    entry: Mapping[str, Any],
    query: Mapping[str, Any] | None,
    scopes: frozenset[str],
    *,
    isolate: bool,
) -> bool:
    """Every query field matches, ``scopes`` is within the target, isolation holds
    (with ``isolate``, a token bound by another library's field never matches)."""
    named = query or {}
    for name, wanted in named.items():
        actual = entry.get(name)
        if type(actual) is str and actual == wanted:
            continue  # (equal strings: field_matches's answer, without the call)
        if not field_matches(entry, name, wanted):
            return False
    if isolate and any(
        entry.get(f) and f not in named and isolates(f, named) for f in ISOLATING_FIELDS
    ):
        return False
    if isolate and any(entry.get(f) for f in FOREIGN_BINDING_FIELDS):
        return False
    return not scopes or scopes <= scope_set(entry.get("target"))


def is_expired(entry: Mapping[str, Any], now: int) -> bool:
    """``expires_on`` is in the past, or missing or unreadable (so unusable)."""
    expires_on = seconds(entry.get("expires_on"))
    return expires_on is None or expires_on < now
