"""Secondary indices over the cache sections: key strings grouped by field values.

Indices hold only key strings (never entry copies). They are hints: every candidate
is re-checked against the query, so an index never makes a wrong entry match.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from ._filing import AccessTokenFiling, filing_of
from ._keys import CredentialType
from ._query import ISOLATING_FIELDS, component, components, isolates

Entry = Mapping[str, Any]
_NOTHING: frozenset[str] = frozenset()


class FieldIndex:
    """Keys grouped by the values of ``fields`` (``folded`` ones case-insensitively)."""

    def __init__(self, *fields: str, folded: Collection[str] = ("environment",)) -> None:
        self.fields = fields
        #: The indexed fields as a set: a query that names them all is answered here.
        self.field_set = frozenset(fields)
        self._folded = frozenset(folded)
        self._buckets: dict[tuple[Hashable, ...], set[str]] = {}
        #: The field of an index of one field whose values are kept as they are.
        self._single = fields[0] if len(fields) == 1 and fields[0] not in self._folded else None
        #: Whether it is an index of one field whose values are kept as they are.
        self.kept_as_is = self._single is not None

    def _value(self, source: Entry) -> tuple[Hashable, ...]:
        single = self._single
        if single is not None:  # (one string field: its component, without a call)
            value = source.get(single)
            if type(value) is str:
                return (value,)
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
            before, after = old.get(name), new.get(name)
            if type(before) is not type(after) or before != after:
                self.refile(key, old, new)
                return

    def refile(self, key: str, old: Entry, new: Entry) -> None:
        """``replace`` of an entry some of whose indexed fields changed (compared already)."""
        single = self._single
        was, now = (None, None) if single is None else (old.get(single), new.get(single))
        if type(was) is str and type(now) is str:  # (_value's of one string field, in line)
            before: tuple[Hashable, ...] = (was,)
            after: tuple[Hashable, ...] = (now,)
        else:
            before, after = self._value(old), self._value(new)
        if before == after:
            return
        buckets = self._buckets
        bucket = buckets.get(before)
        if bucket is not None:
            if len(bucket) == 1 and key in bucket and after not in buckets:
                del buckets[before]  # (its value's only key, to a value of none: the
                buckets[after] = bucket  # set moves as it is)
                return
            bucket.discard(key)
            if not bucket:
                del buckets[before]
        buckets.setdefault(after, set()).add(key)

    @property
    def folded(self) -> frozenset[str]:
        """The fields compared case-insensitively."""
        return self._folded

    def holds(self, value: tuple[Hashable, ...]) -> bool:
        """Whether a key is filed under ``value`` (the components of the fields)."""
        return value in self._buckets

    def applies_to(self, query: Mapping[str, Any]) -> bool:
        """The query names every indexed field."""
        return self.field_set <= query.keys()

    def keys_for(self, query: Mapping[str, Any]) -> Collection[str]:
        """Keys whose indexed fields equal the query's (a live view: do not mutate)."""
        return self._buckets.get(self._value(query), _NOTHING)

    def keys_under(self, value: tuple[Hashable, ...]) -> Collection[str]:
        """Keys filed under ``value``, the components of the indexed fields, made by the
        caller (a live view: do not mutate)."""
        return self._buckets.get(value, _NOTHING)


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
        """File ``key`` under ``scopes``; the scopes the bucket had no posting for yet (a
        scope another of its tokens grants already is not counted again: see
        ``AccessTokenIndex._scope_counts``)."""
        self.keys.add(key)
        posted = []
        by_scope = self.by_scope
        for scope in scopes:
            posting = by_scope.get(scope)
            if posting is None:
                by_scope[scope] = key
                posted.append(scope)
            elif isinstance(posting, str):
                if posting != key:
                    by_scope[scope] = {posting, key}
            else:
                posting.add(key)
        return posted

    def remove(self, key: str, scopes: frozenset[str]) -> list[str]:
        """Unfile ``key``; the scopes whose posting it emptied (no token of the bucket
        grants them any more)."""
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
                if len(posting) == 1:
                    self.by_scope[scope] = next(iter(posting))
                elif not posting:
                    del self.by_scope[scope]
                    unposted.append(scope)
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
#: What a lookup of an app or a home that has no token reads (never written to).
_NO_PARTITIONS: _Partitions = {}
_NO_HOMES: dict[Hashable, _Partitions] = {}
_App = tuple[Hashable, Hashable]
_PARTITION_FIELDS = ("realm", *ISOLATING_FIELDS)
_APP_FIELDS = ("environment", "client_id")
_FOLDED = frozenset({"environment"})
#: Every field ``AccessTokenIndex`` files an entry by.
_READ_FIELDS = (*_APP_FIELDS, "home_account_id", *_PARTITION_FIELDS, "target")
_OWNER_FIELDS = ("home_account_id", "environment")


class AccessTokenIndex:
    """ATs grouped by (environment, client_id), home account, partition, then scope; and
    by owner (home account, environment), for the lookups of an account's tokens in every
    app.

    A partition is (realm, key_id, ext_cache_key, user_assertion_hash) within one home
    account (app-only tokens have the home account ""). A lookup naming all of these
    touches one partition, and within it only the shortest posting list among the
    requested scopes. Every write files a token from its :class:`AccessTokenFiling`,
    read once (the exact-request index files it from the same one).
    """

    def __init__(self) -> None:
        self._apps: dict[_App, dict[Hashable, _Partitions]] = {}
        #: (home account, environment) -> keys of its ATs, in any app.
        self._owners: dict[tuple[Hashable, Hashable], set[str]] = {}
        #: (app, user_assertion_hash) -> {home account: number of its ATs with that hash},
        #: so an on-behalf-of lookup (which names no home account) touches one user.
        self._assertion_homes: dict[tuple[_App, Hashable], dict[Hashable, int]] = {}
        #: (app, lower-cased scope) -> number of the app's partitions (buckets) with a
        #: token granting it: a scope the app has no token for is a miss without a lookup.
        #: (Counted per bucket, not per token: a token granting scopes its bucket's other
        #: tokens grant, as a user's renewed tokens do the OIDC scopes, counts nothing.)
        self._scope_counts: dict[tuple[_App, str], int] = {}

    @staticmethod
    def _app(source: Entry) -> _App:
        environment, client_id = components(source, _APP_FIELDS, _FOLDED)
        return environment, client_id

    @staticmethod
    def _home(source: Entry) -> Hashable:
        return component(source.get("home_account_id"))

    def add(self, key: str, entry: Entry, filing: AccessTokenFiling | None = None) -> None:
        """File ``key`` by ``entry``'s fields (``filing``: read already)."""
        if filing is None:
            filing = filing_of(entry)
        app, home = filing.app, filing.home
        homes = self._apps.get(app)
        if homes is None:
            homes = self._apps[app] = {}
        partitions = homes.get(home)
        if partitions is None:
            partitions = homes[home] = {}
        bucket = partitions.get(filing.partition)
        if bucket is None:
            bucket = partitions[filing.partition] = _ScopeBucket()
        if filing.user_assertion_hash and key not in bucket.keys:
            owners = self._assertion_homes.setdefault((app, filing.assertion), {})
            owners[home] = owners.get(home, 0) + 1
        owned = self._owners.get(filing.owner)
        if owned is None:
            self._owners[filing.owner] = {key}
        else:
            owned.add(key)
        counts = self._scope_counts
        for scope in bucket.add(key, filing.scopes):
            counts[app, scope] = counts.get((app, scope), 0) + 1

    def _assertion(self, source: Entry) -> tuple[_App, Hashable]:
        return self._assertion_of(self._app(source), source)

    @staticmethod
    def _assertion_of(app: _App, source: Entry) -> tuple[_App, Hashable]:
        return app, component(source.get("user_assertion_hash"))

    def _forget_assertion(self, app: _App, home: Hashable, assertion_part: Hashable) -> None:
        assertion = (app, assertion_part)
        owners = self._assertion_homes.get(assertion)
        if owners is None or home not in owners:
            return
        owners[home] -= 1
        if owners[home] <= 0:
            del owners[home]
            if not owners:
                del self._assertion_homes[assertion]

    def remove(self, key: str, entry: Entry, filing: AccessTokenFiling | None = None) -> None:
        """Unfile ``key``, filed by ``entry``'s fields (``filing``: read already)."""
        if filing is None:
            filing = filing_of(entry)
        app, home, partition = filing.app, filing.home, filing.partition
        homes = self._apps.get(app, {})
        partitions = homes.get(home, {})
        bucket = partitions.get(partition)
        if bucket is None or key not in bucket.keys:
            return
        if filing.user_assertion_hash:
            self._forget_assertion(app, home, filing.assertion)
        self._unown(key, filing.owner)
        self._recount(app, bucket.remove(key, filing.scopes), [])
        if not bucket.keys:
            self._drop_bucket(app, home, partition)

    def _unown(self, key: str, owner: tuple[Hashable, Hashable]) -> None:
        owned = self._owners.get(owner)
        if owned is not None:
            owned.discard(key)
            if not owned:
                del self._owners[owner]

    def _drop_bucket(self, app: _App, home: Hashable, partition: _Partition) -> None:
        """Forget an emptied partition (and its home and app when they are left empty)."""
        homes = self._apps[app]
        partitions = homes[home]
        del partitions[partition]
        if not partitions:
            del homes[home]
            if not homes:
                del self._apps[app]

    def replace(
        self, key: str, old: Entry, new: Entry, filing: AccessTokenFiling | None = None
    ) -> None:
        """``remove(key, old)`` then ``add(key, new)`` (``filing``: the new entry's):
        nothing when every field this index reads is the same (a token renewed under its
        key: a new secret and times). A token that moves to another partition of the same
        app and owner with the same scopes (an on-behalf-of token renewed under a new
        assertion) moves between the two buckets alone: its scope counts stay. ``filing``:
        the new entry's, given by a caller that found it files differently."""
        if filing is None:
            for name in _READ_FIELDS:
                before, after = old.get(name), new.get(name)
                if type(before) is not type(after) or before != after:
                    break
            else:
                return
            filing = filing_of(new)
        was = filing_of(old)
        if was.app != filing.app or was.owner != filing.owner or was.scopes != filing.scopes:
            self.remove(key, old, was)
            self.add(key, new, filing)
            return
        if was.partition == filing.partition:
            return  # (filed by the same components)
        forget = was.assertion if was.user_assertion_hash else None
        self.reassert(key, old, new, filing, was.partition, forget, was)

    def reassert(
        self,
        key: str,
        old: Entry,
        new: Entry,
        filing: AccessTokenFiling,
        was_partition: _Partition | None = None,
        was_assertion: Hashable | None = None,
        was: AccessTokenFiling | None = None,
    ) -> None:
        """``replace`` of a token whose fields this index reads are all the same but its
        assertion hash, a non-empty string in both (an on-behalf-of token renewed under a
        new assertion; ``filing``: the new entry's): moved to the new assertion's
        partition, the old one's made from the new one's (no second filing read).

        Given ``was_partition`` (``replace``'s move): move ``key`` from that partition
        (bound to ``was_assertion``, if not None) to the partition of ``filing`` in the
        same app and owner, with the same scopes; ``was``: the old entry's filing, if read
        already. Either way its scope counts stay, and a partition left holding it alone
        moves whole (its postings are this token's). One frame for the refiling of an
        on-behalf-of token (no helper of its own)."""
        if was_partition is None:
            was_assertion = old["user_assertion_hash"]
            was_partition = (*filing.partition[:-1], was_assertion)  # (the assertion: last)
        app, home = filing.app, filing.home
        partitions = self._apps.get(app, _NO_HOMES).get(home, _NO_PARTITIONS)
        bucket = partitions.get(was_partition)
        if bucket is None or key not in bucket.keys:
            self.remove(key, old, was)
            self.add(key, new, filing)
            return
        target = partitions.get(filing.partition)
        gains = bool(filing.user_assertion_hash) and (target is None or key not in target.keys)
        assertions, now = self._assertion_homes, (app, filing.assertion)
        moved = False
        if gains and was_assertion is not None and now not in assertions:
            owners = assertions.get((app, was_assertion))
            if owners is not None and len(owners) == 1 and owners.get(home) == 1:
                del assertions[app, was_assertion]  # (the old assertion's only token: its
                assertions[now] = owners  # count of owners moves with it, as it is)
                moved = True
        if not moved:
            if was_assertion is not None:
                self._forget_assertion(app, home, was_assertion)
            if gains:
                owners = assertions.setdefault(now, {})
                owners[home] = owners.get(home, 0) + 1
        if target is None and len(bucket.keys) == 1:
            del partitions[was_partition]
            partitions[filing.partition] = bucket
            return
        scopes = filing.scopes  # (the same as the old entry's)
        unposted = bucket.remove(key, scopes)
        if not bucket.keys:
            del partitions[was_partition]
        if target is None:
            target = partitions[filing.partition] = _ScopeBucket()
        posted = target.add(key, scopes)
        if len(posted) != len(unposted) or set(posted) != set(unposted):
            self._recount(app, unposted, posted)

    def _recount(self, app: _App, unposted: list[str], posted: list[str]) -> None:
        counts = self._scope_counts
        for scope in unposted:
            left = counts.get((app, scope), 0) - 1
            if left > 0:
                counts[app, scope] = left
            else:
                counts.pop((app, scope), None)
        for scope in posted:
            counts[app, scope] = counts.get((app, scope), 0) + 1

    @staticmethod
    def applies_to(query: Mapping[str, Any]) -> bool:
        return "environment" in query and "client_id" in query

    def owned_keys(self, query: Mapping[str, Any]) -> Collection[str] | None:
        """Keys of the ATs of the query's home account and environment, in any app (None
        for a query that does not name both; a live view: do not mutate)."""
        if "home_account_id" not in query or "environment" not in query:
            return None
        owner = components(query, _OWNER_FIELDS, _FOLDED)
        return self._owners.get((owner[0], owner[1]), _NOTHING)

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
        return bool(self.environments_that_may_match(query, scopes, (query.get("environment"),)))

    def binds(self, query: Mapping[str, Any], assertion: str) -> bool:
        """Whether an AT of the query's app (environment and client_id, named) is bound
        to ``assertion`` (a user_assertion_hash): one probe."""
        environment, client_id = query["environment"], query["client_id"]
        if type(environment) is not str or type(client_id) is not str:
            return bool(self._assertion_homes.get((self._app(query), assertion)))
        return bool(self._assertion_homes.get(((environment.lower(), client_id), assertion)))

    def environments_that_may_match(
        self, query: Mapping[str, Any], scopes: Collection[Any], environments: Sequence[Any]
    ) -> list[Any]:
        """Those of ``environments`` (in order) where ``may_match`` is True for ``query``
        with its environment replaced: the client's component made once, no query copied,
        each environment's app checked in line (one frame for the usual miss). ``scopes``:
        ``requested_scopes``' set, or a request's own list of them, read as that function
        reads it (each string lower-cased here, anything else left out): no set made."""
        client_id = query.get("client_id")  # (component() of a string: itself)
        if type(client_id) is not str:
            client_id = components(query, ("client_id",))[0]
        apps, counts = self._apps, self._scope_counts
        found = []
        try:  # (an app's tuple: folded once per process, looked up in C)
            pairs = folded_environments(environments)
        except TypeError:  # (not hashable: a list, or a tuple holding a list)
            pairs = _folded_environments(environments)
        for folded, environment in pairs:
            app = (folded, client_id)
            if app not in apps:
                continue  # (no token of this app in this environment)
            granted = True
            for scope in scopes:  # (a loop: no frame; every scope granted by some token)
                if isinstance(scope, str) and (app, scope.lower()) not in counts:
                    granted = False
                    break
            if granted and (
                not query.get("user_assertion_hash")
                or self._assertion_homes.get(self._assertion_of(app, query))
            ):
                found.append(environment)
        return found

    def app_token_keys(self, environment: Any, client_id: Any) -> set[str]:
        """Keys of every AT without a home account for this app (all partitions)."""
        homes = self._apps.get(self._app({"environment": environment, "client_id": client_id}))
        partitions = (homes or {}).get("", {})
        return {key for bucket in partitions.values() for key in bucket.keys}


def _folded_environments(environments: Sequence[Any]) -> tuple[tuple[Hashable, Any], ...]:
    """(each environment as the index files it: lower-cased, see ``component``, the
    environment as given), in order."""
    return tuple(
        (environment.lower() if type(environment) is str else component(environment), environment)
        for environment in environments
    )


#: :func:`_folded_environments` of a tuple, remembered (an app asks for its authority's
#: few cache environments, the same tuple, on every lookup): one C call, no lower-casing
#: and no new string to hash per environment and lookup.
folded_environments = lru_cache(maxsize=64)(_folded_environments)


class SectionIndex:
    """All indices of one section; picks the narrowest one for a query."""

    def __init__(self, *fields: FieldIndex, access_tokens: AccessTokenIndex | None = None):
        self.fields = fields
        self.access_tokens = access_tokens
        #: Every field the field indices read, once (a replaced entry compared in one pass).
        self._read = tuple(dict.fromkeys(name for index in fields for name in index.fields))
        #: field -> the indices that read it (what a change of that field refiles).
        self._readers: dict[str, tuple[FieldIndex, ...]] = {
            name: tuple(index for index in fields if name in index.fields) for name in self._read
        }
        #: field -> the index of that field alone (the first, as ``holds`` asks).
        self._single: dict[str, FieldIndex] = {}
        #: The index of (home account, environment), the fields an account's entries are
        #: looked up by (see ``_store.account_entries``), if the section has one.
        self.owners: FieldIndex | None = None
        for index in fields:
            if len(index.fields) == 1:
                self._single.setdefault(index.fields[0], index)
            elif index.fields == _OWNER_FIELDS and index.folded == _FOLDED and self.owners is None:
                self.owners = index

    def add(self, key: str, entry: Entry, filing: AccessTokenFiling | None = None) -> None:
        """File ``key`` by ``entry`` (``filing``: an access token's, read already)."""
        if self.access_tokens is not None:
            self.access_tokens.add(key, entry, filing)
        for index in self.fields:
            index.add(key, entry)

    def remove(self, key: str, entry: Entry) -> None:
        if self.access_tokens is not None:
            self.access_tokens.remove(key, entry)
        for index in self.fields:
            index.remove(key, entry)

    def replace(
        self, key: str, old: Entry, new: Entry, filing: AccessTokenFiling | None = None
    ) -> None:
        """The entry under ``key`` changed from ``old`` to ``new`` (``filing``: an access
        token's, read already): refiled where it files differently, left where it files
        alike."""
        if self.access_tokens is not None:
            self.access_tokens.replace(key, old, new, filing)
        if self.fields:  # (none for access tokens)
            self.refile_fields(key, old, new)

    def refile_fields(self, key: str, old: Entry, new: Entry) -> None:
        """Refile ``key`` in the field indices where ``new`` files otherwise than ``old``:
        each field they read compared once, in one pass (a field index does not compare
        its own again), and each index that reads a changed field refiled once. All of
        :meth:`replace` for a section without an access-token index (what the store calls
        for one: a frame less per write)."""
        if len(self.fields) == 1:  # (nothing to share)
            self.fields[0].replace(key, old, new)
            return
        refiled: tuple[FieldIndex, ...] = ()  # (the usual change: one field, one index)
        for name in self._read:
            before, after = old.get(name), new.get(name)
            if type(before) is not type(after) or before != after:
                for index in self._readers[name]:
                    if index not in refiled:
                        index.refile(key, old, new)
                        refiled += (index,)

    def reassert(self, key: str, old: Entry, new: Entry, filing: AccessTokenFiling) -> None:
        """The access token under ``key`` changed from ``old`` to ``new``, only its
        assertion hash among the fields indexed (see ``AccessTokenIndex.reassert``)."""
        if self.access_tokens is not None:
            self.access_tokens.reassert(key, old, new, filing)
        if self.fields:  # (none for access tokens)
            self.refile_fields(key, old, new)

    def holds(self, name: str, value: Any) -> bool | None:
        """Whether an entry's field ``name`` is ``value``, from the index of that field
        alone (one probe); None when no index is of that field alone."""
        index = self._single.get(name)
        if index is None:
            return None
        if type(value) is str and index.kept_as_is:  # (its component, no call)
            return index.holds((value,))
        return index.holds((component(value, fold=name in index.folded),))

    def candidates(
        self, query: Mapping[str, Any] | None, scopes: frozenset[str] = _NOTHING
    ) -> Collection[str] | None:
        """Keys that may match, or None when no index applies (scan the section)."""
        if not query:
            return None
        if self.access_tokens is not None:
            if self.access_tokens.applies_to(query):
                return self.access_tokens.keys_for(query, scopes)
            return self.access_tokens.owned_keys(query)
        best: Collection[str] | None = None
        names = query.keys()
        for index in self.fields:
            if index.field_set <= names:  # (applies_to, in line: asked of every index)
                keys = index.keys_for(query)
                if best is None or len(keys) < len(best):
                    best = keys
        return best


def new_indices() -> dict[str, SectionIndex]:
    """Empty indices for the five known sections."""
    account_owner = ("home_account_id", "environment")
    return {
        CredentialType.ACCESS_TOKEN: SectionIndex(access_tokens=AccessTokenIndex()),
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
