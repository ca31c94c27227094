"""The exact-request index: access tokens keyed by what a cache-hit lookup knows.

An app-token, silent or on-behalf-of lookup knows the environment, client, realm, the
home account (silent) or the assertion hash (on-behalf-of), and the requested scopes. An
access token in msal Python's form is filed under that request key for its own target and
for its target without the OIDC scopes the server adds to user tokens (``openid profile
email offline_access``), so the usual request for it is one dict lookup, whatever the
cache size. A request key shared by two tokens is ambiguous: the lookup then answers
nothing and the caller goes the full (indexed) way, which decides between them.

Only tokens a plain lookup may serve are filed: no ``key_id``, ``ext_cache_key`` or other
library's binding, and ``home_account_id`` present (None for app tokens). Like the other
indices this one holds key strings only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Optional

from ._query import FOREIGN_BINDING_FIELDS, scope_set

#: Scopes Entra adds to the target of user tokens beyond those requested.
SERVER_ADDED_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})

#: The scopes a user flow refuses in a request (``_protocol._scopes.RESERVED_SCOPES``).
_USER_FLOW_REFUSED = frozenset({"openid", "profile", "offline_access"})
_UNFILED = ("key_id", "ext_cache_key", *FOREIGN_BINDING_FIELDS)

#: Every field ``request_keys_of`` reads (``home_account_id``'s presence included).
_READ_FIELDS = (
    "environment", "client_id", "realm", "home_account_id", "user_assertion_hash", "target",
    *_UNFILED,
)  # fmt: skip
_ABSENT = object()

#: One string (hashed once, compared in one go): cheaper than a tuple of its parts.
RequestKey = str
_SEPARATOR = "\x1f"


def request_key(
    environment: str,
    client_id: str,
    realm: str,
    home_account_id: Optional[str],
    user_assertion_hash: Optional[str],
    scopes: Iterable[str],
) -> RequestKey:
    """The key of a lookup: lower-cased environment, sorted lower-cased scopes;
    on-behalf-of lookups name the assertion hash and no home account."""
    home = "" if user_assertion_hash else (home_account_id or "")
    return _SEPARATOR.join(
        (
            environment.lower(),
            client_id,
            realm,
            home,
            user_assertion_hash or "",
            " ".join(sorted(scopes)),
        )
    )


def requested_scope_key(scopes: Any, *, user_flow: bool) -> Optional[frozenset[str]]:
    """The lower-cased scopes of a request, when a lookup may take them as they are: a list
    of non-empty strings without whitespace (what validation keeps unchanged), and for a
    user flow (``user_flow``) none of the OIDC scopes it refuses; else None."""
    try:
        parts = " ".join(scopes).lower().split()
    except TypeError:
        return None
    if not parts or len(parts) != len(scopes):
        return None
    found = frozenset(parts)
    if user_flow and not _USER_FLOW_REFUSED.isdisjoint(found):
        return None
    return found


def request_keys_of(entry: Mapping[str, Any]) -> list[RequestKey]:
    """The request keys ``entry`` is filed under (none for a token it must not answer)."""
    environment, client_id, realm = (
        entry.get("environment"),
        entry.get("client_id"),
        entry.get("realm"),
    )
    if (
        not (type(environment) is str and type(client_id) is str and type(realm) is str)
        or "home_account_id" not in entry
    ):
        return []
    home = entry["home_account_id"]
    assertion = entry.get("user_assertion_hash")
    if (home is not None and type(home) is not str) or (
        assertion is not None and type(assertion) is not str
    ):
        return []
    if any(entry.get(name) for name in _UNFILED):
        return []
    scopes = scope_set(entry.get("target"))
    if not scopes:
        return []
    keys = [request_key(environment, client_id, realm, home, assertion or None, scopes)]
    requested = scopes - SERVER_ADDED_SCOPES
    if requested and requested != scopes:
        keys.append(request_key(environment, client_id, realm, home, assertion or None, requested))
    return keys


class ExactRequestIndex:
    """Request key -> the key of the only access token filed under it (a set when several
    are: ambiguous).

    Filed per partition (client id and realm) on demand: building the index only groups
    the section's keys by partition, and the first lookup of a partition files its tokens.
    A process that loads a big cache and serves one hit files one partition, not the
    whole section. ``filed`` counts the tokens filed so far.
    """

    __slots__ = ("_keys", "_pending", "_section", "filed")

    def __init__(self, section: Optional[Mapping[str, Any]] = None) -> None:
        self._keys: dict[RequestKey, str | set[str]] = {}
        #: Partition -> keys of its tokens, for the partitions not filed yet.
        self._pending: dict[tuple[Any, Any], set[str]] = {}
        self._section: Mapping[str, Any] = section if section is not None else {}
        self.filed = 0
        for key, entry in self._section.items():
            if type(entry) is dict:
                partition = (entry.get("client_id"), entry.get("realm"))
                keys = self._pending.get(partition)
                if keys is None:
                    self._pending[partition] = {key}
                else:
                    keys.add(key)

    def add(self, key: str, entry: Mapping[str, Any]) -> None:
        pending = self._pending.get((entry.get("client_id"), entry.get("realm")))
        if pending is not None:
            pending.add(key)  # Filed with its partition.
        else:
            self._file(key, entry)

    def _file(self, key: str, entry: Mapping[str, Any]) -> None:
        self.filed += 1
        for request in request_keys_of(entry):
            filed = self._keys.get(request)
            if filed is None:
                self._keys[request] = key
            elif isinstance(filed, str):
                if filed != key:
                    self._keys[request] = {filed, key}
            else:
                filed.add(key)

    def replace(self, key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """``remove(key, old)`` then ``add(key, new)``: nothing when every field the
        request keys are made of is the same (a token renewed under its key)."""
        for name in _READ_FIELDS:
            before, after = old.get(name, _ABSENT), new.get(name, _ABSENT)
            if type(before) is not type(after) or before != after:
                self.remove(key, old)
                self.add(key, new)
                return

    def remove(self, key: str, entry: Mapping[str, Any]) -> None:
        pending = self._pending.get((entry.get("client_id"), entry.get("realm")))
        if pending is not None:
            pending.discard(key)
            return
        self.filed -= 1
        for request in request_keys_of(entry):
            filed = self._keys.get(request)
            if isinstance(filed, str):
                if filed == key:
                    del self._keys[request]
            elif filed is not None:
                filed.discard(key)
                if len(filed) == 1:
                    self._keys[request] = next(iter(filed))
                elif not filed:
                    del self._keys[request]

    def key_for(self, request: RequestKey) -> Optional[str]:
        """The key of the only token filed under ``request``, else None (files the
        request's partition first if it is not filed yet)."""
        filed = self._keys.get(request)
        if filed is None and self._pending:
            _, client_id, realm, _ = request.split(_SEPARATOR, 3)
            pending = self._pending.pop((client_id, realm), None)
            if pending is not None:
                for key in pending:
                    entry = self._section.get(key)
                    if type(entry) is dict:
                        self._file(key, entry)
                filed = self._keys.get(request)
        return filed if isinstance(filed, str) else None

    def __len__(self) -> int:
        return len(self._keys)


def build_exact_index(section: Mapping[str, Any]) -> ExactRequestIndex:
    """The index of an access-token section (its partitions filed on first lookup)."""
    return ExactRequestIndex(section)
