"""``TokenCache``: MSAL's cache API and semantics over indexed sections."""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from math import isfinite
from typing import Any, Callable, ClassVar, Optional

from identitylib._log import get_logger, redact

from ._access import AccessHook
from ._access_hooks import AccessHooks
from ._bounded import new_bound
from ._event import Write, seconds, writes_for_event
from ._exact import FiledToken, RequestKey
from ._keys import (
    AuthorityType,
    CredentialType,
    KeyMaker,
    access_token_key,
    access_token_key_from,
    app_metadata_key,
    default_key_makers,
    key_of,
)
from ._query import component, field_matches, is_expired, matches, requested_scopes
from ._store import IndexedSections

logger = get_logger(__name__)

Entry = dict[str, Any]
#: Changes whenever a section's content may have changed (see ``IndexedSections.stamp``).
Stamp = tuple[int, int]
_NO_SCOPES: frozenset[str] = frozenset()
_EXACT_KEY_FIELDS = ("home_account_id", "environment", "client_id", "realm")
_ACCOUNT_OWNED = (
    CredentialType.ACCESS_TOKEN,
    CredentialType.REFRESH_TOKEN,
    CredentialType.ID_TOKEN,
    CredentialType.ACCOUNT,
)


class TokenCache(AccessHooks):
    """In-memory token cache with MSAL Python's API, schema and key formats.

    Sections live in ``_cache`` (credential type -> key -> entry). Secondary indices
    make the lookups the library performs independent of the cache size.

    ``max_entries`` / ``max_bytes`` (identitylib extension, default unbounded) bound the
    in-memory content: expired access tokens are evicted first, then the least recently
    used access tokens; refresh tokens and accounts only when no access token is left
    (see ``_bounded.py``).

    ``before_access`` / ``after_access`` may be coroutine functions: the cache then serves
    the ``identitylib.aio`` applications, which await them (see ``_async_access.py``).
    """

    CredentialType = CredentialType
    AuthorityType = AuthorityType

    #: Whether ``add`` marks the content changed (``has_state_changed`` True once it has
    #: stored, as ``SerializableTokenCache`` and its subclasses do): in ``add``'s own
    #: frame, not an override around it.
    _add_marks_state: ClassVar[bool] = False
    has_state_changed: bool  # (an attribute of the classes that mark it only)

    def __init__(
        self,
        *,
        before_access: Optional[AccessHook] = None,
        after_access: Optional[AccessHook] = None,
        max_entries: Optional[int] = None,
        max_bytes: Optional[int] = None,
    ) -> None:
        bound = new_bound(max_entries, max_bytes)
        self._lock = threading.RLock()
        self._cache: dict[str, Any] = {}
        self.key_makers: dict[str, KeyMaker] = default_key_makers()
        self._store = IndexedSections(self._cache, bound)
        super().__init__(before_access, after_access)

    def _synced(self, credential_type: Optional[str] = None) -> IndexedSections:
        """The store, re-indexed first if ``_cache`` was edited directly (lock held).

        With ``credential_type`` only that section is checked: enough for a caller that
        reads or writes that section alone (every section is checked when it is used).
        """
        self._store.sync(self._cache, credential_type)
        return self._store

    def _stamped(self, credential_type: str, key: Optional[str]) -> tuple[Stamp, Any]:
        """The section's content stamp and the entry under ``key`` (None: no key), read
        together under the lock (see ``_own.section_stamp``)."""
        with self._lock:
            self._store.sync(self._cache, credential_type)
            entry = None if key is None else self._store.entry(credential_type, key)
            return self._store.stamp(credential_type), entry

    # ------------------------------------------------------------------ search

    def search(
        self,
        credential_type: str,
        target: Optional[Iterable[str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        *,
        now: Optional[float] = None,
    ) -> Iterator[Entry]:
        """Yield the entries matching ``query`` whose target covers ``target``: msal's raw
        query, which leaves judging expiry to the caller.

        Every query field must be present in the entry with an equal value
        (``environment`` case-insensitively); scopes compare case-insensitively.
        ATs bound to a key_id or ext_cache_key only match queries naming that field; an AT
        bound to an on-behalf-of assertion (``user_assertion_hash``) only matches queries
        naming the assertion or the (non-empty) home account it was issued for, so an
        app-token lookup never meets a user's token.

        As in msal, the AT stored under the exact key of ``query`` (``home_account_id``,
        ``environment``, ``client_id``, ``realm``) and ``target`` is yielded first, expired
        or not, before the indices are consulted at all (a caller that stops at the first
        usable token pays for one dict lookup); the other ATs that expired before ``now``
        (default: the current time) are not yielded, and every expired AT met on the way,
        the exact-key one included, is removed once the search goes past it. Matches are
        collected under the lock; iteration runs without it.
        """
        exact_key = None
        if credential_type == CredentialType.ACCESS_TOKEN and query and target:
            exact_key, exact = self._exact_access_token(target, query)
            if exact is not None:
                yield exact
        yield from self._collect(credential_type, target, query, now, skip=exact_key)

    def find(
        self,
        credential_type: str,
        target: Optional[Iterable[str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        *,
        now: Optional[float] = None,
    ) -> list[Entry]:
        """Deprecated: ``list(search(...))``."""
        warnings.warn(
            "Use list(search(...)) instead to explicitly get a list.",
            DeprecationWarning,
            stacklevel=2,
        )
        return list(self.search(credential_type, target=target, query=query, now=now))

    def _exact_access_token(
        self, target: Iterable[str], query: Mapping[str, Any]
    ) -> tuple[str | None, Entry | None]:
        """The AT stored under the exact key of ``query`` + ``target``, if it matches
        (expired or not: msal's exact-key lookup does not judge expiry).

        Returns (key, entry); key is None when the query cannot form an exact key.
        """
        if not all(f in query for f in _EXACT_KEY_FIELDS):
            return None, None
        target_list = sorted(scope for scope in target if isinstance(scope, str))
        if not target_list:
            return None, None
        key = self._exact_access_token_key(query, target_list)
        with self._lock:
            self._store.sync(self._cache, CredentialType.ACCESS_TOKEN)
            entry = self._store.section(CredentialType.ACCESS_TOKEN).get(key)
            if not isinstance(entry, dict):
                return key, None
            if matches(entry, query, requested_scopes(target_list), isolate=True):
                if self._store.bound is not None:
                    self._store.bound.used(CredentialType.ACCESS_TOKEN, key)
                return key, entry
        return key, None

    def _filed_request_hit(self, request: RequestKey) -> Optional[FiledToken]:
        """The only access token filed under ``request`` (see ``_exact.py``), as filed
        (expired or not); else None: one dict lookup, never a scan. A request the index
        has filed is read without the lock."""
        found = self._store.settled_access_token(self._cache, request)
        if found is not None:
            return found or None  # (False: a miss, settled without the lock)
        lock = self._lock
        lock.acquire()  # (not ``with``: this is every cache hit, and ``with`` costs twice)
        try:
            return self._store.exact_filed_token(self._cache, request)
        finally:
            lock.release()

    def _collect(
        self,
        credential_type: str,
        target: Optional[Iterable[str]],
        query: Optional[Mapping[str, Any]],
        now: Optional[float],
        *,
        skip: str | None = None,
    ) -> list[Entry]:
        target_list = sorted(scope for scope in target or () if isinstance(scope, str))
        scopes = requested_scopes(target_list)
        is_at = credential_type == CredentialType.ACCESS_TOKEN
        moment = int(time.time() if now is None else now)
        found: list[Entry] = []
        expired: list[tuple[str, Entry]] = []

        def consider(key: str, entry: Any) -> None:
            if not isinstance(entry, dict):
                return
            if is_at and is_expired(entry, moment):
                expired.append((key, entry))
            elif key != skip and matches(entry, query, scopes, isolate=is_at):
                found.append(entry)
                if store.bound is not None:  # (store: assigned below, under the lock)
                    store.bound.used(credential_type, key)

        with self._lock:
            store = self._synced(credential_type)
            section = store.section(credential_type)
            keys = store.candidates(credential_type, query, scopes)
            if keys is None:
                for key, entry in section.items():
                    consider(key, entry)
            else:
                if skip is not None and skip not in keys:
                    consider(skip, section.get(skip))  # (yielded already: purged if expired)
                for key in keys:
                    consider(key, section.get(key))
            self._purge(expired)
        return found

    def _exact_access_token_key(self, query: Mapping[str, Any], target: list[str]) -> str:
        return self.key_makers[CredentialType.ACCESS_TOKEN](
            home_account_id=query["home_account_id"],
            environment=query["environment"],
            client_id=query["client_id"],
            realm=query["realm"],
            target=" ".join(target),
            ext_cache_key=query.get("ext_cache_key"),
        )

    def _purge(self, expired: list[tuple[str, Entry]]) -> None:
        """Remove expired ATs found by a search (caller holds the lock)."""
        for key, entry in expired:
            section = self._synced(CredentialType.ACCESS_TOKEN).section(CredentialType.ACCESS_TOKEN)
            if section.get(key) is not entry:
                continue  # Replaced meanwhile.
            self.modify(CredentialType.ACCESS_TOKEN, entry)
            if self._synced().section(CredentialType.ACCESS_TOKEN).get(key) is entry:
                self._discard(CredentialType.ACCESS_TOKEN, key)  # Key made another way.

    # --------------------------------------------------------- indexed helpers

    def _lookup(
        self, credential_type: str, probe: Mapping[str, Any], keep: Callable[[Entry], bool]
    ) -> list[Entry]:
        """Entries found through the narrowest index for ``probe`` that pass ``keep``."""
        with self._lock:
            return self._synced(credential_type).found(credential_type, probe, keep)

    def _refresh_tokens(self, query: Mapping[str, Any]) -> list[Entry]:
        """The RTs ``search`` yields for ``query``, in its order, found through the same
        index without a search generator (an RT does not expire: nothing to purge)."""
        with self._lock:
            return self._synced(CredentialType.REFRESH_TOKEN).found(
                CredentialType.REFRESH_TOKEN, query
            )

    def _accounts(self, environment: str | None, username: str | None = None) -> list[Entry]:
        """Account entries of ``environment`` (any if None), optionally of one username.

        The username is compared case-insensitively.
        """
        probe: dict[str, Any] = {}
        if environment is not None:
            probe["environment"] = environment
        if username is not None:
            probe["username"] = username

        def keep(entry: Entry) -> bool:
            if environment is not None and not field_matches(entry, "environment", environment):
                return False
            if username is None:
                return True
            found = entry.get("username")
            return isinstance(found, str) and found.lower() == username.lower()

        return self._lookup(CredentialType.ACCOUNT, probe, keep)

    def _entries_of_account(
        self, home_account_id: str | None, environment: str | None
    ) -> dict[str, list[Entry]]:
        """Every AT, RT, IdToken and Account of a home account in one environment.

        All realms and clients, including key-bound and extended-key ATs.
        """
        probe = {"home_account_id": home_account_id, "environment": environment}

        def keep(entry: Entry) -> bool:
            return component(entry.get("home_account_id")) == component(
                home_account_id
            ) and field_matches(entry, "environment", environment)

        return {kind: self._lookup(kind, probe, keep) for kind in _ACCOUNT_OWNED}

    def _app_access_tokens(self, client_id: str, environment: str) -> list[Entry]:
        """ATs of this client without a home account (app-only tokens), any realm.

        Includes key-bound and extended-key ATs; expired ones too.
        """
        with self._lock:
            store = self._synced(CredentialType.ACCESS_TOKEN)
            section = store.section(CredentialType.ACCESS_TOKEN)
            keys = store.app_token_keys(environment, client_id)
            return [
                entry
                for entry in (section.get(key) for key in keys)
                if isinstance(entry, dict)
                and not entry.get("home_account_id")
                and entry.get("client_id") == client_id
                and field_matches(entry, "environment", environment)
            ]

    def _may_match_access_token(self, query: Mapping[str, Any], target: Iterable[str]) -> bool:
        """False when no stored AT can match ``query`` and ``target`` (index lookups)."""
        scopes = requested_scopes(target)
        with self._lock:
            return self._synced(CredentialType.ACCESS_TOKEN).may_match_access_token(query, scopes)

    def _may_hold_assertion(self, query: Mapping[str, Any], target: Iterable[str]) -> bool:
        """False when no AT can match ``query`` and no RT carries its assertion hash."""
        with self._lock:
            store = self._synced(CredentialType.ACCESS_TOKEN)
            return store.may_hold_assertion(self._cache, query, target)

    def _get_app_metadata(self, environment: Any, client_id: Any, default: Any = None) -> Any:
        """The AppMetadata entry of an app (O(1) key lookup), else ``default``."""
        key = self.key_makers[CredentialType.APP_METADATA](
            environment=environment, client_id=client_id
        )
        with self._lock:
            section = self._synced(CredentialType.APP_METADATA).section(CredentialType.APP_METADATA)
            return section.get(key, default)

    # ------------------------------------------------------------------ writes

    def add(self, event: Mapping[str, Any], now: Optional[float] = None) -> None:
        """Store the tokens of a successful token response (``event``)."""
        if logger.isEnabledFor(logging.DEBUG):
            _log_event(event)
        # (seconds() of a time.time() or an int, in line)
        moment = int(now) if type(now) is float and isfinite(now) else seconds(now)
        writes = writes_for_event(event, int(time.time()) if moment is None else moment)
        with self._lock:  # (a modify of PLAIN_MODIFY's: not a subclass's, nor the instance's)
            if self._store.bound is None and getattr(self.modify, "__func__", None) in PLAIN_MODIFY:
                _store_as_made(self, writes)
            else:
                with self._store.batch():  # (each write syncs its own section)
                    for credential_type, entry, new_secret, _filing in writes:
                        if new_secret is not None:
                            self.update_rt(entry, new_secret)
                        else:
                            self.modify(credential_type, entry, entry)
        if self._add_marks_state:
            self.has_state_changed = True

    def modify(
        self,
        credential_type: str,
        old_entry: Mapping[str, Any],
        new_key_value_pairs: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Store ``{**old_entry, **new_key_value_pairs}`` under old_entry's key, or
        remove old_entry when ``new_key_value_pairs`` is empty or None."""
        key = self.key_makers[credential_type](**old_entry)
        with self._lock:
            store = self._store
            store.sync(self._cache, credential_type)  # (the others: when they are read)
            if new_key_value_pairs:
                store.put(credential_type, key, {**old_entry, **new_key_value_pairs})
            else:
                store.delete(credential_type, key)
            self._changed_since_access = True

    def _discard(self, credential_type: str, key: str) -> None:
        """Remove the entry stored under ``key`` (caller holds the lock)."""
        self._synced().delete(credential_type, key)
        self._changed_since_access = True

    def remove_rt(self, rt_item: Mapping[str, Any]) -> None:
        """Remove a refresh token entry."""
        _expect_type(rt_item, CredentialType.REFRESH_TOKEN)
        self._remove(CredentialType.REFRESH_TOKEN, rt_item)

    def update_rt(self, rt_item: Mapping[str, Any], new_rt: str) -> None:
        """Replace the secret of a refresh token entry, keeping its key and fields."""
        _expect_type(rt_item, CredentialType.REFRESH_TOKEN)
        self.modify(
            CredentialType.REFRESH_TOKEN,
            rt_item,
            {"secret": new_rt, "last_modification_time": str(int(time.time()))},
        )

    def remove_at(self, at_item: Mapping[str, Any]) -> None:
        """Remove an access token entry."""
        _expect_type(at_item, CredentialType.ACCESS_TOKEN)
        self._remove(CredentialType.ACCESS_TOKEN, at_item)

    def remove_idt(self, idt_item: Mapping[str, Any]) -> None:
        """Remove an ID token entry."""
        _expect_type(idt_item, CredentialType.ID_TOKEN)
        self._remove(CredentialType.ID_TOKEN, idt_item)

    def remove_account(self, account_item: Mapping[str, Any]) -> None:
        """Remove an account entry."""
        if "authority_type" not in account_item:
            raise ValueError("Not an account entry: it has no authority_type")
        self._remove(CredentialType.ACCOUNT, account_item)

    def _remove(self, credential_type: str, item: Mapping[str, Any]) -> None:
        """``modify`` away ``item``, then the copies another MSAL library stored under its
        own keys (msal-node's keys differ from msal Python's)."""
        self.modify(credential_type, item)
        with self._lock:
            key = self.key_makers[credential_type](**item)
            for other in self._synced().other_keys_of(credential_type, item, key):
                self._discard(credential_type, other)


#: ``modify`` methods that do nothing beyond storing (and marking the content changed, as
#: ``add`` does itself): with one of them ``add`` leaves out a write that would store an
#: equal entry. A subclass's own ``modify`` is called for every write, as msal calls it.
PLAIN_MODIFY: set[Callable[..., None]] = {TokenCache.modify}


def _store_as_made(cache: TokenCache, writes: list[Write]) -> None:
    """``add``'s writes in a cache with nothing to bound and no ``modify`` of its own (lock
    held): each entry made for this write is stored as it is (see ``put_new``), in one
    pass, its section synced by its own put. An access token is keyed and filed from the
    values it was made of (its filing), its fields not read back; the app metadata is
    left as it is when the one stored last is still there, equal (no key made); a refresh
    token's rotation is ``update_rt``'s put, made here unless a subclass has its own
    ``update_rt``."""
    store, sections, key_makers = cache._store, cache._cache, cache.key_makers
    for credential_type, entry, new_secret, filing in writes:
        if new_secret is not None:
            if getattr(cache.update_rt, "__func__", None) is not TokenCache.update_rt:
                cache.update_rt(entry, new_secret)
                continue
            # TokenCache.update_rt's modify (a plain one: it stores, and marks a change)
            changed = {"secret": new_secret, "last_modification_time": str(int(time.time()))}
            store.put_rotated(sections, key_of(key_makers, credential_type, entry), entry, changed)
            cache._changed_since_access = True
            continue
        if filing is not None and key_makers[credential_type] is access_token_key:
            key = access_token_key_from(
                filing.home_account_id, filing.environment, filing.client_id, filing.realm,
                filing.target, filing.ext_cache_key,
            )  # fmt: skip
        elif (
            credential_type == CredentialType.APP_METADATA
            and key_makers[credential_type] is app_metadata_key
        ):
            if store.holds_app_metadata(sections, entry):
                continue
            key = key_of(key_makers, credential_type, entry)
            if store.put_new(sections, credential_type, key, entry, remember=True):
                cache._changed_since_access = True
            continue
        else:
            key = key_of(key_makers, credential_type, entry)
        if store.put_new(sections, credential_type, key, entry, filing):
            cache._changed_since_access = True


def _log_event(event: Mapping[str, Any]) -> None:
    """Log ``event`` at debug level, its secrets hidden (``add`` checks the level first)."""
    try:
        safe = json.dumps(redact(event, pii=False), sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        safe = "(not loggable)"
    logger.debug("Adding a token event to the cache: %s", safe)


def _expect_type(item: Mapping[str, Any], credential_type: str) -> None:
    if item.get("credential_type") != credential_type:
        raise ValueError(f"Not a {credential_type} entry")
