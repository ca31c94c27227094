"""Secondary indices over the cache sections: key strings grouped by field values.

Indices hold only key strings (never entry copies). They are hints: every candidate
is re-checked against the query, so an index never makes a wrong entry match.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from typing import Any

from ._keys import CredentialType
from ._query import ISOLATING_FIELDS, component, components, isolates, scope_set

Entry = Mapping[str, Any]
_NOTHING: frozenset[str] = frozenset()


class FieldIndex:
    """Keys grouped by the values of ``fields`` (``folded`` ones case-insensitively)."""

    def __init__(self, *fields: str, folded: Collection[str] = ("environment",)) -> None:
        self.fields = fields
        self._field_set = frozenset(fields)
        self._folded = frozenset(folded)
        self._buckets: dict[tuple[Hashable, ...], set[str]] = {}

    def _value(self, source: Entry) -> tuple[Hashable, ...]:
        return components(source, self.fields, self._folded)

    def add(self, key: str, entry: Entry) -> None:
        self._buckets.setdefault(self._value(entry), set()).add(key)

    def remove(self, key: str, entry: Entry) -> None:
        value = self._value(entry)
        bucket = self._buckets.get(value)
        if bucket is not None:
            bucket.discard(key)
            if not bucket:
                del self._buckets[value]

    def replace(self, key: str, old: Entry, new: Entry) -> None:
        """``remove(key, old)`` then ``add(key, new)``: nothing when both file alike (the
        indexed fields compared as they are first: no component made for an unchanged one)."""
        for name in self.fields:
            before_value, after_value = old.get(name), new.get(name)
            if type(before_value) is not type(after_value) or before_value != after_value:
                break
        else:
            return
        before, after = self._value(old), self._value(new)
        if before == after:
            return
        bucket = self._buckets.get(before)
        if bucket is not None:
            bucket.discard(key)
            if not bucket:
                del self._buckets[before]
        self._buckets.setdefault(after, set()).add(key)

    def applies_to(self, query: Mapping[str, Any]) -> bool:
        """The query names every indexed field."""
        return self._field_set <= query.keys()

    def keys_for(self, query: Mapping[str, Any]) -> Collection[str]:
        """Keys whose indexed fields equal the query's (a live view: do not mutate)."""
        return self._buckets.get(self._value(query), _NOTHING)


class _ScopeBucket:
    """The ATs of one partition and, per lower-cased scope, those granting it.

    A posting list holding a single key is stored as that key (most scopes of app-only
    tokens are unique), otherwise as a set.
    """

    __slots__ = ("by_scope", "keys")

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.by_scope: dict[str, str | set[str]] = {}

    def add(self, key: str, scopes: frozenset[str]) -> list[str]:
        """File ``key`` under ``scopes``; the scopes it was not filed under yet."""
        self.keys.add(key)
        posted = []
        for scope in scopes:
            posting = self.by_scope.get(scope)
            if posting is None:
                self.by_scope[scope] = key
            elif isinstance(posting, str):
                if posting == key:
                    continue
                self.by_scope[scope] = {posting, key}
            elif key in posting:
                continue
            else:
                posting.add(key)
            posted.append(scope)
        return posted

    def remove(self, key: str, scopes: frozenset[str]) -> list[str]:
        """Unfile ``key``; the scopes it was filed under."""
        self.keys.discard(key)
        unposted = []
        for scope in scopes:
            posting = self.by_scope.get(scope)
            if isinstance(posting, str):
                if posting == key:
                    del self.by_scope[scope]
                    unposted.append(scope)
            elif posting is not None and key in posting:
                posting.discard(key)
                unposted.append(scope)
                if len(posting) == 1:
                    self.by_scope[scope] = next(iter(posting))
                elif not posting:
                    del self.by_scope[scope]
        return unposted

    def keys_granting(self, scopes: frozenset[str]) -> Collection[str]:
        """Keys from the shortest posting list among ``scopes`` (all keys if none)."""
        if not scopes:
            return self.keys
        shortest: Collection[str] | None = None
        for scope in scopes:
            posting = self.by_scope.get(scope)
            if posting is None:
                return _NOTHING
            if isinstance(posting, str):
                return (posting,)
            if shortest is None or len(posting) < len(shortest):
                shortest = posting
        return shortest if shortest is not None else _NOTHING


_Partition = tuple[Hashable, ...]
_Partitions = dict[_Partition, _ScopeBucket]
_App = tuple[Hashable, Hashable]
_PARTITION_FIELDS = ("realm", *ISOLATING_FIELDS)
_APP_FIELDS = ("environment", "client_id")
_FOLDED = frozenset({"environment"})
#: Every field ``AccessTokenIndex`` files an entry by.
_READ_FIELDS = (*_APP_FIELDS, "home_account_id", *_PARTITION_FIELDS, "target")


class AccessTokenIndex:
    """ATs grouped by (environment, client_id), home account, partition, then scope.

    A partition is (realm, key_id, ext_cache_key, user_assertion_hash) within one home
    account (app-only tokens have the home account ""). A lookup naming all of these
    touches one partition, and within it only the shortest posting list among the
    requested scopes.
    """

    def __init__(self) -> None:
        self._apps: dict[_App, dict[Hashable, _Partitions]] = {}
        #: (app, user_assertion_hash) -> {home account: number of its ATs with that hash},
        #: so an on-behalf-of lookup (which names no home account) touches one user.
        self._assertion_homes: dict[tuple[_App, Hashable], dict[Hashable, int]] = {}
        #: (app, lower-cased scope) -> number of the app's ATs granting it, in any
        #: partition: a scope the app has no token for is a miss without a lookup.
        self._scope_counts: dict[tuple[_App, str], int] = {}

    @staticmethod
    def _app(source: Entry) -> _App:
        environment, client_id = components(source, _APP_FIELDS, _FOLDED)
        return environment, client_id

    @staticmethod
    def _home(source: Entry) -> Hashable:
        return component(source.get("home_account_id"))

    def add(self, key: str, entry: Entry) -> None:
        app, home = self._app(entry), self._home(entry)
        homes = self._apps.setdefault(app, {})
        partitions = homes.setdefault(home, {})
        bucket = partitions.setdefault(components(entry, _PARTITION_FIELDS), _ScopeBucket())
        if key not in bucket.keys and entry.get("user_assertion_hash"):
            owners = self._assertion_homes.setdefault(self._assertion_of(app, entry), {})
            owners[home] = owners.get(home, 0) + 1
        counts = self._scope_counts
        for scope in bucket.add(key, scope_set(entry.get("target"))):
            counts[app, scope] = counts.get((app, scope), 0) + 1

    def _assertion(self, source: Entry) -> tuple[_App, Hashable]:
        return self._assertion_of(self._app(source), source)

    @staticmethod
    def _assertion_of(app: _App, source: Entry) -> tuple[_App, Hashable]:
        return app, component(source.get("user_assertion_hash"))

    def _forget_assertion(self, app: _App, home: Hashable, entry: Entry) -> None:
        assertion = self._assertion_of(app, entry)
        owners = self._assertion_homes.get(assertion)
        if owners is None or home not in owners:
            return
        owners[home] -= 1
        if owners[home] <= 0:
            del owners[home]
            if not owners:
                del self._assertion_homes[assertion]

    def remove(self, key: str, entry: Entry) -> None:
        app, home = self._app(entry), self._home(entry)
        partition = components(entry, _PARTITION_FIELDS)
        homes = self._apps.get(app, {})
        partitions = homes.get(home, {})
        bucket = partitions.get(partition)
        if bucket is None or key not in bucket.keys:
            return
        if entry.get("user_assertion_hash"):
            self._forget_assertion(app, home, entry)
        counts = self._scope_counts
        for scope in bucket.remove(key, scope_set(entry.get("target"))):
            left = counts.get((app, scope), 0) - 1
            if left > 0:
                counts[app, scope] = left
            else:
                counts.pop((app, scope), None)
        if not bucket.keys:
            del partitions[partition]
            if not partitions:
                del homes[home]
                if not homes:
                    del self._apps[app]

    def replace(self, key: str, old: Entry, new: Entry) -> None:
        """``remove(key, old)`` then ``add(key, new)``: nothing when every field this index
        reads is the same (a token renewed under its key: a new secret and times)."""
        for name in _READ_FIELDS:
            before, after = old.get(name), new.get(name)
            if type(before) is not type(after) or before != after:
                self.remove(key, old)
                self.add(key, new)
                return

    @staticmethod
    def applies_to(query: Mapping[str, Any]) -> bool:
        return "environment" in query and "client_id" in query

    def keys_for(self, query: Mapping[str, Any], scopes: frozenset[str]) -> Collection[str]:
        """Candidate keys for an AT query naming environment and client_id."""
        homes = self._apps.get(self._app(query))
        if not homes:
            return _NOTHING  # No token of this app in this environment (another's form).
        if "home_account_id" in query:
            owned = homes.get(self._home(query))
            groups = [owned] if owned is not None else []
        elif query.get("user_assertion_hash"):
            owners = self._assertion_homes.get(self._assertion(query), {})
            groups = [homes[home] for home in owners if home in homes]
        else:
            groups = list(homes.values())
        wanted = {  # Isolating fields absent from the query must be absent in the entry.
            position: component(query.get(name))
            for position, name in enumerate(_PARTITION_FIELDS)
            if name in query or (name in ISOLATING_FIELDS and isolates(name, query))
        }
        buckets = []
        for partitions in groups:
            if len(wanted) == len(_PARTITION_FIELDS):
                exact = partitions.get(tuple(wanted[i] for i in range(len(_PARTITION_FIELDS))))
                buckets += [exact] if exact is not None else []
            else:
                buckets += [
                    bucket
                    for partition, bucket in partitions.items()
                    if all(partition[i] == value for i, value in wanted.items())
                ]
        found = [bucket.keys_granting(scopes) for bucket in buckets]
        if len(found) == 1:
            return found[0]
        return set().union(*found)

    def may_match(self, query: Mapping[str, Any], scopes: frozenset[str]) -> bool:
        """False when no AT can match ``query`` (naming environment and client_id) and
        ``scopes``: the app has no AT in that environment, none grants one of the scopes,
        or (a query naming an assertion hash) none is bound to that assertion. A few dict
        lookups, whatever the cache size; True says only that a lookup may find one."""
        return self._may_match_app(self._app(query), query, scopes)

    def environments_that_may_match(
        self, query: Mapping[str, Any], scopes: frozenset[str], environments: Sequence[str]
    ) -> list[str]:
        """Those of ``environments`` (in order) where ``may_match`` is True for ``query``
        with its environment replaced: the client's component made once, no query copied."""
        client_id = components(query, ("client_id",))[0]
        found = []
        for environment in environments:
            folded = environment.lower() if type(environment) is str else component(environment)
            app = (folded, client_id)
            if app in self._apps and self._may_match_app(app, query, scopes):
                found.append(environment)
        return found

    def _may_match_app(self, app: _App, query: Mapping[str, Any], scopes: frozenset[str]) -> bool:
        if app not in self._apps:
            return False
        counts = self._scope_counts
        for scope in scopes:
            if (app, scope) not in counts:
                return False
        if query.get("user_assertion_hash"):
            return bool(self._assertion_homes.get(self._assertion_of(app, query)))
        return True

    def app_token_keys(self, environment: Any, client_id: Any) -> set[str]:
        """Keys of every AT without a home account for this app (all partitions)."""
        homes = self._apps.get(self._app({"environment": environment, "client_id": client_id}))
        partitions = (homes or {}).get("", {})
        return {key for bucket in partitions.values() for key in bucket.keys}


class SectionIndex:
    """All indices of one section; picks the narrowest one for a query."""

    def __init__(self, *fields: FieldIndex, access_tokens: AccessTokenIndex | None = None):
        self.fields = fields
        self.access_tokens = access_tokens

    def add(self, key: str, entry: Entry) -> None:
        if self.access_tokens is not None:
            self.access_tokens.add(key, entry)
        for index in self.fields:
            index.add(key, entry)

    def remove(self, key: str, entry: Entry) -> None:
        if self.access_tokens is not None:
            self.access_tokens.remove(key, entry)
        for index in self.fields:
            index.remove(key, entry)

    def replace(self, key: str, old: Entry, new: Entry) -> None:
        """The entry under ``key`` changed from ``old`` to ``new``: refiled where it files
        differently, left where it files alike."""
        if self.access_tokens is not None:
            self.access_tokens.replace(key, old, new)
        for index in self.fields:
            index.replace(key, old, new)

    def candidates(
        self, query: Mapping[str, Any] | None, scopes: frozenset[str] = _NOTHING
    ) -> Collection[str] | None:
        """Keys that may match, or None when no index applies (scan the section)."""
        if not query:
            return None
        if self.access_tokens is not None and self.access_tokens.applies_to(query):
            return self.access_tokens.keys_for(query, scopes)
        best: Collection[str] | None = None
        for index in self.fields:
            if index.applies_to(query):
                keys = index.keys_for(query)
                if best is None or len(keys) < len(best):
                    best = keys
        return best


def new_indices() -> dict[str, SectionIndex]:
    """Empty indices for the five known sections."""
    account_owner = ("home_account_id", "environment")
    return {
        CredentialType.ACCESS_TOKEN: SectionIndex(
            FieldIndex(*account_owner), access_tokens=AccessTokenIndex()
        ),
        CredentialType.REFRESH_TOKEN: SectionIndex(
            FieldIndex(*account_owner), FieldIndex("family_id"), FieldIndex("user_assertion_hash")
        ),
        CredentialType.ID_TOKEN: SectionIndex(FieldIndex(*account_owner)),
        CredentialType.ACCOUNT: SectionIndex(
            FieldIndex("environment"),
            FieldIndex("username", folded=("username",)),
            FieldIndex("home_account_id"),
        ),
        CredentialType.APP_METADATA: SectionIndex(FieldIndex("environment", "client_id")),
    }


def build_indices(sections: Mapping[str, Any]) -> dict[str, SectionIndex]:
    """Indices over ``sections`` built in one pass (non-dict entries are ignored)."""
    indices = new_indices()
    for credential_type, index in indices.items():
        _fill(index, sections.get(credential_type))
    return indices


def build_index(credential_type: str, section: Any) -> SectionIndex | None:
    """The index of one section (None for a section that has none)."""
    index = new_indices().get(credential_type)
    if index is not None:
        _fill(index, section)
    return index


def _fill(index: SectionIndex, section: Any) -> None:
    if isinstance(section, dict):
        for key, entry in section.items():
            if isinstance(entry, dict):
                index.add(key, entry)
