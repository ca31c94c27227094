"""The sections dict and its indices, kept in step."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Literal, Optional, Union, cast

from ._bounded import CacheBound
from ._exact import ExactRequestIndex, FiledToken, RequestKey, build_exact_index
from ._file_access import file_access_token
from ._filing import AccessTokenFiling
from ._index import SectionIndex, build_index
from ._keys import CredentialType
from ._marked import MarkedSections
from ._query import USER_ASSERTION_HASH, matches, requested_scopes, scope_set
from ._raw import RawBacked
from ._serialization import KNOWN_SECTIONS

_NO_BATCH: AbstractContextManager[None] = nullcontext()  # (reusable: it holds nothing)
#: No scope asked (``found`` without a ``keep``: a target is not looked at).
_ANY: frozenset[str] = frozenset()


class IndexedSections(MarkedSections):
    """Indices over a sections dict (credential type -> key -> entry), kept in step with
    the store's writes, and rebuilt when ``sync`` (``_marked.py``) finds the dict edited
    or replaced outside the store. Callers hold the cache lock. With a ``bound`` (see
    ``_bounded.py``) every put may evict other entries to stay within it.
    """

    def __init__(self, sections: dict[str, Any], bound: Optional[CacheBound] = None) -> None:
        self.bound = bound
        self._written: Optional[set[tuple[str, str]]] = None  # slots of the current batch
        self._indices: dict[str, SectionIndex] = {}  # the sections indexed so far
        self._exact: Optional[ExactRequestIndex] = None
        #: (key, entry) of the app metadata ``put_new`` stored or found equal last.
        self._app_metadata: Optional[tuple[str, dict[str, Any]]] = None
        super().__init__(sections)

    def reset(self, sections: dict[str, Any]) -> None:
        """Index ``sections`` from scratch, in one pass."""
        # Indices are built per section on first use (see _index): deserialize() costs a
        # JSON parse only, and a cache that only ever serves exact-key hits builds none.
        self._indices = {}
        self._exact = None
        self._app_metadata = None
        super().reset(sections)
        if self.bound is not None:
            self.bound.track(self.sections, self._evict)

    def put(self, credential_type: str, key: str, entry: dict[str, Any]) -> None:
        """Store ``entry`` under ``key`` (an overwrite keeps the key's position)."""
        self._put(credential_type, key, entry, None)

    def _put(
        self,
        credential_type: str,
        key: str,
        entry: dict[str, Any],
        filing: Optional[AccessTokenFiling],
    ) -> None:
        """``put`` (``filing``: an access token's, made by its writer, see
        ``_filing.made_filing``; then none is read from ``entry``)."""
        section = dict.get(self.sections, credential_type)  # (dict's reads: a lazily loaded
        if type(section) is not dict and type(section) is not RawBacked:  # value once read
            section = self.sections.setdefault(credential_type, {})  # is as stored: _raw.py)
        old = dict.get(section, key)
        if old is not None and type(old) is not dict:  # (an entry still raw: decoded)
            old = section.get(key)
        section[key] = entry
        self.writes[credential_type] = self.writes.get(credential_type, 0) + 1
        if old != entry:  # An equal entry (the app metadata of every response) is filed.
            index = self._indices.get(credential_type)
            if credential_type == CredentialType.ACCESS_TOKEN:
                file_access_token(index, self._exact, key, old, entry, filing)
            elif isinstance(old, dict) and index is not None:  # (a renewal files as it did;
                index.refile_fields(key, old, entry)  # replace's, no access-token index here)
            elif index is not None:
                index.add(key, entry)
            if credential_type in self._marks:  # (_remark: the section is this dict)
                self._marks[credential_type] = (section, len(section))
        elif old is not entry and credential_type == CredentialType.ACCESS_TOKEN:
            exact = self._exact  # (an equal token, stored as another dict: filed anew, so
            if exact is not None:  # an edit in place of the one stored is seen by a hit)
                exact.replace(key, old, entry)
        if self.bound is not None:
            self.bound.added(credential_type, key, entry)
            if self._written is not None:
                self._written.add((credential_type, key))  # Enforced when the batch ends.
            else:
                self.bound.enforce({(credential_type, key)}, self._evict)

    def put_new(
        self,
        sections: dict[str, Any],
        credential_type: str,
        key: str,
        entry: dict[str, Any],
        filing: Optional[AccessTokenFiling] = None,
        *,
        remember: bool = False,
    ) -> bool:
        """``put`` of an entry made for this write (no one else holds it), the section
        synced first; the app metadata is not written when an equal one is stored (every
        response repeats it). Whether it was written. ``filing``: see ``_put``;
        ``remember``: the app metadata's key is the default key maker's, and the entry
        stored (or found equal) is the one ``holds_app_metadata`` asks about next."""
        if not self.as_marked(sections, credential_type):
            self.sync(sections, credential_type)
        if credential_type == CredentialType.APP_METADATA:
            stored = self.entry(credential_type, key)
            if stored == entry:
                if remember:
                    self._app_metadata = key, stored
                return False
            self._app_metadata = (key, entry) if remember else None
        if type(self).put is _PLAIN_PUT:  # (put's frame left out)
            self._put(credential_type, key, entry, filing)
        else:
            self.put(credential_type, key, entry)  # (a subclass's own put: called)
        return True

    def put_rotated(
        self, sections: dict[str, Any], key: str, used: dict[str, Any], changed: dict[str, Any]
    ) -> None:
        """``put`` of the refresh token ``used`` with the fields ``changed`` (a new secret and
        modification time: no field an index reads) under ``key``, the section synced
        first. While the entry stored under ``key`` is equal to ``used`` (the flows pass a
        copy) it is that entry that is rotated, and the indices, which filed it, file the
        rotated one as they are: nothing compared, nothing refiled. (Otherwise, or with a
        bound or a subclass's ``put``: ``put`` of ``used`` rotated.)"""
        credential_type = CredentialType.REFRESH_TOKEN
        self.sync(sections, credential_type)
        section = dict.get(self.sections, credential_type)
        stored = section.get(key) if isinstance(section, dict) else None
        if (
            stored is None
            or section is None
            or self.bound is not None
            or type(self).put is not _PLAIN_PUT
            or (stored is not used and stored != used)
        ):
            self.put(credential_type, key, {**used, **changed})
            return
        section[key] = {**stored, **changed}  # (the same size: the section's mark stands)
        self.writes[credential_type] = self.writes.get(credential_type, 0) + 1

    def holds_app_metadata(self, sections: dict[str, Any], entry: dict[str, Any]) -> bool:
        """Whether the app metadata ``put_new`` stored or found last (``remember``) is still
        stored under its key and equal to ``entry`` (then ``entry``, equal, has that key
        under the default key maker): an app's every token response repeats it, decided without
        making its key. An entry edited in place or replaced since is not equal or not
        the one remembered: False (``put_new`` decides)."""
        last = self._app_metadata
        if last is None:
            return False
        if not self.as_marked(sections, CredentialType.APP_METADATA):
            self.sync(sections, CredentialType.APP_METADATA)
        section = dict.get(self.sections, CredentialType.APP_METADATA)
        return (
            (type(section) is dict or type(section) is RawBacked)
            and self._app_metadata is last  # (not reset by the sync)
            and dict.get(section, last[0]) is last[1]
            and last[1] == entry
        )

    def delete(self, credential_type: str, key: str) -> None:
        """Remove the entry under ``key``, if any (the section is created, as MSAL does)."""
        section = self.sections.setdefault(credential_type, {})
        self._unindex(credential_type, key, section.pop(key, None))
        self.writes[credential_type] = self.writes.get(credential_type, 0) + 1
        self._remark(credential_type)
        if self.bound is not None:
            self.bound.removed(credential_type, key)

    # -------------------------------------------------------------- the bound

    def batch(self) -> AbstractContextManager[None]:
        """Puts in this block are bounded together at its end, never evicting each other
        (one token response). A no-op without a bound."""
        if self.bound is None or self._written is not None:
            return _NO_BATCH
        return self._batch(self.bound)

    @contextmanager
    def _batch(self, bound: CacheBound) -> Iterator[None]:
        written: set[tuple[str, str]] = set()
        self._written = written
        try:
            yield
        finally:
            self._written = None
            bound.enforce(written, self._evict)

    def _evict(self, credential_type: str, key: str) -> None:
        """Remove the entry under ``key`` for the bound (which stops tracking it)."""
        self._unindex(credential_type, key, self.section(credential_type).pop(key, None))
        self._remark(credential_type)

    def _unindex(self, credential_type: str, key: str, entry: Any) -> None:
        index = self._indices.get(credential_type)
        if index is not None and isinstance(entry, dict):
            index.remove(key, entry)
        exact = self._exact
        if (
            exact is not None
            and credential_type == CredentialType.ACCESS_TOKEN
            and isinstance(entry, dict)
        ):
            exact.remove(key, entry)

    def _index(self, credential_type: str) -> SectionIndex | None:
        """The section's index (None for an unindexed section); the first lookup that
        needs one builds it, from that section alone."""
        index = self._indices.get(credential_type)
        if index is None:
            index = build_index(credential_type, self.section(credential_type))
            if index is not None:
                self._indices[credential_type] = index
        return index

    def indices_built(self) -> list[str]:
        """The sections whose indices were built so far (for tests and diagnostics)."""
        return sorted(self._indices)

    def settled_access_token(
        self, sections: dict[str, Any], request: RequestKey
    ) -> Union[FiledToken, Literal[False], None]:
        """What :meth:`exact_filed_token` answers, when the index has filed the request
        already and the section is as marked (False: it answers None, the request's
        partition filed and nothing under it); else None (ask that method, under the lock).

        Reads only (dict reads are atomic, on free-threaded builds too), so hits need not
        take the cache lock: 16 threads on hits would queue on it, each holder losing the
        GIL inside its critical section. A write running meanwhile is seen whole or not at
        all, as if this read came just before it.
        """
        exact = self.settled_exact(sections)
        if exact is None:
            return None
        hit = exact.settled_hit(request)
        return None if hit and type(hit.entry) is not dict else hit

    def settled_exact(self, sections: dict[str, Any]) -> Optional[ExactRequestIndex]:
        """The exact-request index while it is built for ``sections`` and the access-token
        section is as marked at its last write (not replaced, nor resized outside the
        store); else None. Reads only, without the lock, as :meth:`settled_access_token`
        (and the app shelves' readers in ``_own.py``) read."""
        exact = self._exact
        if exact is None or sections is not self.sections:
            return None
        section = dict.get(sections, CredentialType.ACCESS_TOKEN)  # (as_marked, in line:
        mark = self._marks.get(CredentialType.ACCESS_TOKEN)  # every hit reads it)
        if mark is None or mark[0] is not section or mark[1] != len(section):
            return None
        return exact

    def settled_environments(
        self,
        sections: dict[str, Any],
        query: Mapping[str, Any],
        scopes: Collection[Any],
        environments: Sequence[str],
    ) -> Optional[list[str]]:
        """:meth:`environments_with_access_tokens`, when the access-token index is built for
        ``sections`` and the section is as marked at its last write; else None (ask that
        method, the section synced under the lock). Reads only, without the lock, as
        :meth:`settled_access_token`: a write running meanwhile is seen whole or not at
        all, and a token it adds is at worst not found (the caller requests a token)."""
        index = self._indices.get(CredentialType.ACCESS_TOKEN)
        if (
            index is None
            or index.access_tokens is None
            or "client_id" not in query
            or not self.as_marked(sections, CredentialType.ACCESS_TOKEN)
        ):
            return None
        return index.access_tokens.environments_that_may_match(query, scopes, environments)

    def exact_access_token(
        self, sections: dict[str, Any], request: RequestKey
    ) -> Optional[tuple[str, dict[str, Any], int]]:
        """The key of the only access token filed under ``request`` (see ``_exact.py``),
        the token, and the section's size; else None."""
        hit = self.exact_filed_token(sections, request)
        if hit is None:
            return None
        entry = cast(dict[str, Any], hit.entry)
        return hit.key, entry, len(self.section(CredentialType.ACCESS_TOKEN))

    def exact_filed_token(
        self, sections: dict[str, Any], request: RequestKey
    ) -> Optional[FiledToken]:
        """The only access token filed under ``request`` (see ``_exact.py``), as filed; else
        None. ``sync`` of the access-token section, inlined (the hot path of every cache
        hit); the index is built on first use, from the access-token section alone."""
        # dict.get: the C lookup first (see ``section``).
        section = dict.get(sections, CredentialType.ACCESS_TOKEN)
        if not isinstance(section, dict):
            section = sections.get(CredentialType.ACCESS_TOKEN)
        mark = self._marks.get(CredentialType.ACCESS_TOKEN)
        if (
            sections is not self.sections
            or mark is None
            or mark[0] is not section
            or mark[1] != (len(section) if isinstance(section, dict) else 0)
        ):
            self.sync(sections, CredentialType.ACCESS_TOKEN)
        if not isinstance(section, dict):
            return None
        exact = self._exact
        if exact is None:
            exact = self._exact = build_exact_index(section)
        hit = exact.hit_for(request)  # (its entry is the section's: kept in step)
        if hit is None or type(hit.entry) is not dict:
            return None
        return hit

    def candidates(
        self,
        credential_type: str,
        query: Mapping[str, Any] | None,
        scopes: frozenset[str] = frozenset(),
    ) -> Collection[str] | None:
        """Keys that may match ``query``, or None when the section must be scanned."""
        index = self._index(credential_type)
        return index.candidates(query, scopes) if index is not None else None

    def found(
        self,
        credential_type: str,
        probe: Mapping[str, Any],
        keep: Optional[Callable[[Any], bool]] = None,
    ) -> list[dict[str, Any]]:
        """The entries of the section (synced by the caller) found through the narrowest
        index for ``probe`` that pass ``keep`` (None: that ``search`` finds for ``probe``,
        asked without a target)."""
        section = self.section(credential_type)
        keys = self.candidates(credential_type, probe)
        entries = section.values() if keys is None else [section.get(k) for k in keys]
        if keep is None:
            return [
                e for e in entries if isinstance(e, dict) and matches(e, probe, _ANY, isolate=False)
            ]
        return [e for e in entries if isinstance(e, dict) and keep(e)]

    def other_keys_of(self, credential_type: str, entry: Mapping[str, Any], key: str) -> list[str]:
        """Keys other than ``key`` that hold an entry equal to ``entry``, found through the
        indices by the entry's own fields (another MSAL library made them: msal-node's
        keys differ from msal Python's)."""
        wanted = dict(entry)
        probe = {**wanted, "home_account_id": wanted.get("home_account_id")}  # absent: ""'s
        candidates = self.candidates(credential_type, probe, scope_set(wanted.get("target")))
        section = self.section(credential_type)
        return [
            other
            for other in list(candidates or ())
            if other != key and section.get(other) == wanted
        ]

    def may_match_access_token(self, query: Mapping[str, Any], scopes: frozenset[str]) -> bool:
        """False when no access token can match ``query`` and ``scopes`` (see
        ``AccessTokenIndex.may_match``; the caller synced the section)."""
        index = self._index(CredentialType.ACCESS_TOKEN)
        tokens = index.access_tokens if index is not None else None
        if tokens is None or not tokens.applies_to(query):
            return True
        return tokens.may_match(query, scopes)

    def may_hold_assertion(
        self, sections: dict[str, Any], query: Mapping[str, Any], target: Iterable[str]
    ) -> bool:
        """False when no access token can match the on-behalf-of ``query`` and ``target``
        (see ``may_match_access_token``) and no refresh token is bound to its assertion
        hash (the caller synced the access-token section): an assertion no token is bound
        to (a new user's) is decided by one probe of each index, no scope read."""
        return _may_hold(self, sections, self._index(CredentialType.ACCESS_TOKEN), query, target)

    def settled_assertion(
        self, sections: dict[str, Any], query: Mapping[str, Any], target: Iterable[str]
    ) -> Optional[bool]:
        """:meth:`may_hold_assertion` while both token sections' indices are built and as
        marked at their last write, else None (ask it under the lock). Reads only, as
        :meth:`settled_access_token` (a token a write binds meanwhile is at worst unseen)."""
        index = self._indices.get(CredentialType.ACCESS_TOKEN)
        refresh_tokens = self._indices.get(CredentialType.REFRESH_TOKEN)
        if (
            index is None
            or refresh_tokens is None
            or not self.as_marked(sections, CredentialType.ACCESS_TOKEN)
            or not self.as_marked(sections, CredentialType.REFRESH_TOKEN)
        ):
            return None
        return _may_hold(self, sections, index, query, target, refresh_tokens)

    def environments_with_access_tokens(
        self, query: Mapping[str, Any], scopes: Collection[Any], environments: Sequence[str]
    ) -> list[str]:
        """Those of ``environments`` in which ``may_match_access_token`` holds for ``query``
        with its environment replaced (the caller synced the section; ``scopes``: the index's)."""
        index = self._index(CredentialType.ACCESS_TOKEN)
        tokens = index.access_tokens if index is not None else None
        if tokens is None or "client_id" not in query:
            return list(environments)
        return tokens.environments_that_may_match(query, scopes, environments)

    def app_token_keys(self, environment: Any, client_id: Any) -> set[str]:
        """Keys of the app-only ATs of one client."""
        index = self._index(CredentialType.ACCESS_TOKEN)
        tokens = index.access_tokens if index is not None else None
        return tokens.app_token_keys(environment, client_id) if tokens is not None else set()

    @property
    def exact_index(self) -> Optional[ExactRequestIndex]:
        """The exact-request index, if a lookup built it (for tests and diagnostics)."""
        return self._exact

    @property
    def indices(self) -> dict[str, SectionIndex]:
        """The live indices, all built (for tests and diagnostics)."""
        for credential_type in KNOWN_SECTIONS:
            self._index(credential_type)
        return self._indices


#: ``IndexedSections.put`` as defined here: ``put_new`` files a writer's filing through it
#: directly, and calls any other ``put`` (a subclass's, one patched in) as ``put``.
_PLAIN_PUT = IndexedSections.put


def _may_hold(
    store: IndexedSections,
    sections: dict[str, Any],
    index: Optional[SectionIndex],
    query: Mapping[str, Any],
    target: Iterable[str],
    refresh_tokens: Optional[SectionIndex] = None,
) -> bool:
    """``store.may_hold_assertion`` from the access-token section's ``index`` and the
    refresh-token one's (None: synced and built here, if needed)."""
    tokens = index.access_tokens if index is not None else None
    if tokens is None or not tokens.applies_to(query):
        return True
    assertion = query.get(USER_ASSERTION_HASH)
    unbound = type(assertion) is str and assertion and not tokens.binds(query, assertion)
    if not unbound and tokens.may_match(query, requested_scopes(target)):
        return True
    if refresh_tokens is None:
        store.sync(sections, CredentialType.REFRESH_TOKEN)
        refresh_tokens = store._index(CredentialType.REFRESH_TOKEN)
    bound = None if refresh_tokens is None else refresh_tokens.holds(USER_ASSERTION_HASH, assertion)
    return bound is None or bound


def settled_account_refresh_tokens(
    store: IndexedSections,
    sections: dict[str, Any],
    metadata_key: str,
    home_account_id: str,
    environment: str,
) -> Optional[tuple[Any, list[dict[str, Any]]]]:
    """The app metadata under ``metadata_key`` (None when there is none) and
    :func:`account_entries` of the refresh-token section, when that section's index is
    built for ``sections`` and both sections are as marked at their last write; else None
    (read them under the lock, each section synced). Reads only, without the lock, as
    :meth:`IndexedSections.settled_access_token`: a write running meanwhile is seen whole
    or not at all (an entry is replaced whole under its key, never edited; the account's
    keys are read from a copy of their bucket), and a refresh token it adds is at worst
    not seen, as if this read came just before it."""
    if (
        CredentialType.REFRESH_TOKEN not in store._indices
        or not store.as_marked(sections, CredentialType.APP_METADATA)
        or not store.as_marked(sections, CredentialType.REFRESH_TOKEN)
    ):
        return None
    refresh_tokens = account_entries(
        store, CredentialType.REFRESH_TOKEN, home_account_id, environment, settled=True
    )
    if refresh_tokens is None:
        return None
    metadata = dict.get(sections, CredentialType.APP_METADATA) or {}  # (as marked: a dict)
    return metadata.get(metadata_key), refresh_tokens  # (its get decodes a raw entry)


def account_entries(
    store: IndexedSections,
    credential_type: str,
    home_account_id: str,
    environment: str,
    settled: bool = False,
) -> Optional[list[dict[str, Any]]]:
    """``store.found(credential_type, account)`` of ``account`` = ``home_account_id`` and
    ``environment`` (the section synced by the caller): the keys its (home account,
    environment) index files under them, read in one probe, each entry checked against
    the two fields in line, as ``matches`` checks them (an entry edited in place since it
    was filed is judged as it is now). ``found`` itself for a section without that index,
    or values that are not strings; with ``settled`` (the caller holds no lock, see
    :func:`settled_account_refresh_tokens`) None then instead, as a scan
    or an index build needs the lock. The keys are read from a copy of their bucket,
    taken in one C call (``tuple``): a write filing a key meanwhile cannot break the loop."""
    index = store._indices.get(credential_type)
    if index is None and not settled:
        index = store._index(credential_type)
    owners = None if index is None else index.owners
    if owners is None or type(home_account_id) is not str or type(environment) is not str:
        if settled:
            return None
        account = {"home_account_id": home_account_id, "environment": environment}
        return store.found(credential_type, account)
    section = store.section(credential_type)
    folded = environment.lower()
    entries = []
    for key in tuple(owners.keys_under((home_account_id, folded))):  # (a loop: no frame)
        entry = section.get(key)
        if not isinstance(entry, dict) or entry.get("home_account_id") != home_account_id:
            continue
        found = entry.get("environment")  # (field_matches's comparison, in line)
        if found == environment or (isinstance(found, str) and found.lower() == folded):
            entries.append(entry)
    return entries
