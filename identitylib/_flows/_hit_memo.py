"""The cache-hit paths of one application: the exact-request lookup and the same-call memo."""

from __future__ import annotations

from collections.abc import Mapping
from time import time as _time
from types import MappingProxyType
from typing import Any, Optional, Union

from identitylib._authority import Authority
from identitylib._cache._access import assertion_hash
from identitylib._cache._exact import (
    RequestKey,
    account_request,
    app_request,
    assertion_request,
    client_part,
    request_prefix,
    scope_text,
)
from identitylib._cache._own import (
    ExactReader,
    FiledToken,
    app_shelf,
    exact_reader,
    plain_in_memory,
    read_app_shelf,
    stamped_entry,
)
from identitylib._flows._lookups import ACCESS_TOKEN
from identitylib._flows._shaping import filed_hit_result, fresh_hit_result
from identitylib._flows._state import unchanged_clocks


def _no_reader(cache: Any, request: RequestKey) -> None:
    return None


def _validated(scopes: list[Any], user_flow: bool) -> Optional[tuple[Any, tuple[str, ...], bool]]:
    """(``scopes``, an immutable copy of them, ``user_flow``) when ``validate_scopes``
    returns them as they are (``scope_text`` found them strings, and with ``user_flow``
    none reserved): when they split back into themselves, none is empty or holds
    whitespace (``[" a"]`` and ``["a b", ""]`` have a valid text, but are not kept as they
    are); else None."""
    if " ".join(scopes).split() == scopes:  # (C calls only)
        return scopes, tuple(scopes), user_flow
    return None


#: What an app holds before it has its app shelf: never filled.
_NO_SHELF: Mapping[str, FiledToken] = MappingProxyType({})


class HitMemo:
    """How one application answers a cache hit without a flow (one per application core,
    for its whole life: its shells keep a reference; :meth:`use` switches the cache).

    **The general path** (:meth:`app_token`, :meth:`account_token`,
    :meth:`assertion_token`): the one cached token filed under the request's exact key
    (environment, client, realm, home account or assertion, scopes: see
    ``identitylib/_cache/_exact.py``), if servable as it is: one locked dict lookup in
    the cache's exact-request index. The key's first part, which only the app decides, is
    built once (:meth:`_request_prefix`), once the authority's realm is known for good.
    The token is read as the index filed it (``_flows._shaping.filed_hit_result``).
    None sends the call the full way (no such token, several, expiring, due for refresh,
    or arguments the full path must judge). An app token is looked up on the app's shelf
    of the index (its app part's tokens by scopes: see ``ExactRequestIndex.shelf``),
    held here from the first hit on (:meth:`_hold_shelf`), so the hit builds no key. What
    a hit reads of the app is this object (a slot of the app) and its shelf or key prefix:
    at 10,000 apps, every other object fetched from memory per call shows in the time.

    **The same-call memo** (:meth:`get`, :meth:`remember`): a call that the general path
    could not answer but the full path served from the cache is remembered with the entry
    that served it. The same call is then answered by checking that the very entry is
    still stored under its key, that the access-token section did not change meanwhile
    (its stamp, read under the cache's lock: a token added, removed or replaced could
    change which entry a lookup prefers), and the expiry and ``refresh_on`` times.

    The managed identity clients use the general path for their tokens too (one
    :meth:`fixed` memo per client, its key prefix known from the start: no authority).

    Both are used only with identitylib's own in-memory caches that have no access hooks
    and no bound (with hooks a persisted cache must be reloaded; with a bound, hits feed
    the LRU order), and not with ``timing=True`` (see :meth:`use`).
    """

    #: Memorized calls per app; past this the memo starts over.
    LIMIT = 4096

    __slots__ = (
        "_app_prefix",
        "_app_shelf",
        "_app_shelf_index",
        "_authority",
        "_cache",
        "_client_id",
        "_last_assertion",
        "_prefix",
        "_read",
        "_state",
        "app_tokens",
        "checked",
        "enabled",
        "memo",
        "missed",
    )

    def __init__(self, authority: Authority | None, client_id: str, *, app_tokens: bool) -> None:
        #: None for :meth:`fixed` memos (their key prefix is known from the start).
        self._authority = authority
        self._client_id = client_id
        #: Whether app-token calls may be answered here (not for an authority whose
        #: tenant cannot name the app's: the full way warns about it).
        self.app_tokens = app_tokens
        self._prefix: str | None = None
        self._app_prefix: str | None = None  # app_request(_prefix, "")
        self._read: ExactReader = _no_reader
        #: The app shelf of the app's app-token requests (``_app_prefix``) and the index
        #: it belongs to (None: no shelf; see ``identitylib/_cache/_own.app_shelf``).
        self._app_shelf: Mapping[str, FiledToken] = _NO_SHELF
        self._app_shelf_index: Any = None
        self._state: Any = None
        #: The cache served from; None: nothing is answered here.
        self._cache: Any = None
        #: Whether calls are answered here (``_cache`` is not None; see :meth:`use`): an
        #: attribute, read by every builder without a property's frame.
        self.enabled = False
        #: The same-call memo: call -> (key, entry, section stamp) of the entry that served
        #: it (see :meth:`get`); a caller that finds it empty need not ask :meth:`get`.
        self.memo: dict[Any, tuple[str, dict[str, Any], Any]] = {}
        #: The last assertion hashed and its hash: one call's cache lane, builder and flow
        #: share one hash (the memo's keys hold assertions already).
        self._last_assertion: tuple[str, str] = ("", "")
        #: The scopes (the list object itself) of the last call a cache lane asked about
        #: here and that missed: the method's builder, which runs next, need not ask the
        #: same question again (:meth:`lane_missed`). Read and written without a lock: a
        #: builder that wrongly skips the question loses nothing, the flow looks in the
        #: cache itself.
        self.missed: Any = None
        #: (the scopes list object, a copy of it, whether checked for a user flow: none
        #: reserved) when the last lookup here that missed
        #: (:meth:`app_token`, :meth:`account_token`) found them as ``validate_scopes``
        #: returns them: strings, none empty or with whitespace (``scope_text``'s checks),
        #: and for a silent lookup none of the reserved OIDC scopes; else None. Noted on a
        #: miss only (a hit does no more work for it). :meth:`lane_missed` hands a list of
        #: the copy to the builder of the same call, which validates nothing again, when
        #: the list still holds what was checked.
        self.checked: Optional[tuple[Any, tuple[str, ...], bool]] = None

    @classmethod
    def fixed(cls, environment: str, client_id: str | None, realm: str) -> HitMemo:
        """The memo of a client whose tokens are cached under a fixed environment, client
        and realm, which needs no authority (managed identity: ``client_id`` None for
        tokens cached without one, see ``_cache/_exact.py``); app tokens only."""
        memo = cls(None, client_part(client_id), app_tokens=True)
        memo._prefix = request_prefix(environment, client_part(client_id), realm)
        memo._app_prefix = app_request(memo._prefix, "")
        return memo

    def lane_missed(self, scopes: Any, *, user_flow: bool = False) -> Union[bool, list[str]]:
        """Whether a cache lane just missed the call of these ``scopes`` (the same list
        object), forgetting it: the builder of that call skips the lookup the lane made.
        When the lane's lookup found them valid (see ``checked``; for a ``user_flow``
        builder, checked as a user flow's), the answer is a list of its copy of them
        (never empty, so true), which the builder takes as its validated scopes."""
        if self.missed is scopes:
            self.missed = None
            checked = self.checked
            if checked is None or checked[0] is not scopes or (user_flow and not checked[2]):
                return True
            # (a list of its own per call, two threads passing one list may read one copy;
            # the content compared: a lookup that missed before noting may leave an older
            # call's note of this very list, changed since)
            valid = list(checked[1])
            return valid if valid == scopes else True
        return False

    def use(self, cache: Any, state: Any, *, enabled: bool = True) -> None:
        """Answer the next calls from ``cache`` (``state``: the app's, for its clock), if
        ``enabled`` and the cache is one this path may read; forget what was remembered."""
        self.memo = {}
        self._state = state
        self._read = exact_reader(cache) or _no_reader
        self._app_shelf = _NO_SHELF
        self._app_shelf_index = None  # (after the shelf: see _hold_shelf)
        self._cache = cache if enabled and plain_in_memory(cache) else None
        self.enabled = self._cache is not None

    def _now(self) -> float:
        return _time() if unchanged_clocks() else float(self._state.now())

    # ------------------------------------------------------------ the general path

    def _request_prefix(self) -> str | None:
        """The app's part of its request keys: kept once the authority's metadata (and so
        its realm) is known, which never changes afterwards; before that, the realm a
        GUID or alias tenant implies, if any (not kept)."""
        authority = self._authority
        if authority is None:
            return self._prefix
        known = authority.known_metadata
        realm = known.realm if known is not None else authority.expected_realm
        if realm is None:
            return None
        prefix = request_prefix(authority.environment, self._client_id, realm)
        if known is not None:
            self._prefix = prefix
            if self.app_tokens:
                self._app_prefix = app_request(prefix, "")
        return prefix

    def app_token(self, scopes: Any) -> dict[str, Any] | None:
        """The cache-hit result of a plain app-token request for ``scopes``, or None."""
        cache = self._cache
        if cache is None or type(scopes) is not list:
            return None
        text = scope_text(scopes, user_flow=False)
        if text is None:
            return None
        app_prefix = self._app_prefix  # (kept only if app_tokens)
        if app_prefix is not None:
            index = self._app_shelf_index  # (before the shelf: see _hold_shelf)
            if index is not None:
                found = read_app_shelf(cache, index, self._app_shelf, text)
                if found is not None:
                    return filed_hit_result(found, self._now())
        else:
            prefix = self._request_prefix() if self.app_tokens else None
            if prefix is None:
                return None
            app_prefix = app_request(prefix, "")
        found = self._read(cache, app_prefix + text)  # == app_request(prefix, text)
        if found is None:
            self.checked = _validated(scopes, False)  # (for the builder: see lane_missed)
            return None
        if self._app_prefix is not None:  # (filed, but not on the shelf held: a newer one)
            self._hold_shelf(cache, self._app_prefix)
        return filed_hit_result(found, self._now())

    def _hold_shelf(self, cache: Any, app_prefix: str) -> None:
        """Hold the app shelf the index has for ``app_prefix`` now (none: an empty one).

        The shelf is stored before its index, and a hit reads them the other way round,
        so a hit on another thread meanwhile sees the shelf of the index it read or a
        shelf that index does not know (its own, newer): a shelf of an index the cache
        has dropped is never read as the current one's (see ``_cache/_own.app_shelf``).
        """
        index, shelf = app_shelf(cache, app_prefix) or (None, _NO_SHELF)
        self._app_shelf = shelf
        self._app_shelf_index = index

    def account_token(self, scopes: Any, account: Any) -> dict[str, Any] | None:
        """The cache-hit result of a plain silent request for ``account``, or None."""
        cache = self._cache
        if cache is None or type(scopes) is not list or not isinstance(account, dict):
            return None
        home = account.get("home_account_id")
        if type(home) is not str or not home:
            return None
        prefix = self._prefix or self._request_prefix()
        text = scope_text(scopes, user_flow=True)
        if prefix is None or text is None:
            return None
        return self._served(cache, account_request(prefix, home, text), scopes)

    def assertion_token(self, user_assertion: Any, scopes: Any) -> dict[str, Any] | None:
        """The cache-hit result of a plain on-behalf-of request, or None."""
        cache = self._cache
        if cache is None or type(scopes) is not list or not isinstance(user_assertion, str):
            return None
        prefix = self._prefix or self._request_prefix()
        text = scope_text(scopes, user_flow=True)
        assertion = user_assertion.strip()
        if prefix is None or text is None or not assertion:
            return None
        hashed = self.hashed(user_assertion, assertion)
        return self._served(cache, assertion_request(prefix, hashed, text))

    def hashed(self, user_assertion: str, stripped: str | None = None) -> str:
        """``assertion_hash`` of the stripped assertion, made once for the calls in a row
        that pass the same one (the cache lane, the builder and the flow of one call);
        ``stripped``: ``user_assertion.strip()``, when the caller made it already."""
        last = self._last_assertion
        if last[0] == user_assertion and last[1]:
            return last[1]
        hashed = assertion_hash(user_assertion.strip() if stripped is None else stripped)
        self._last_assertion = (user_assertion, hashed)
        return hashed

    def _served(
        self, cache: Any, request: RequestKey, valid: list[Any] | None = None
    ) -> dict[str, Any] | None:
        """The hit filed under ``request``, or None; on a miss, ``valid`` (scopes
        ``scope_text`` took for a user flow) noted for the builder (see
        :meth:`lane_missed`)."""
        found = self._read(cache, request)
        if found is None:
            if valid is not None:
                self.checked = _validated(valid, True)
            return None
        return filed_hit_result(found, self._now())

    # ------------------------------------------------------------ the same-call memo

    def get(self, key: Any) -> dict[str, Any] | None:
        """The cache-hit result of the entry that served ``key`` last time, if it is still
        stored and servable as it is."""
        cache = self._cache
        if cache is None:
            return None
        memo = self.memo
        try:
            found = memo.get(key)
        except TypeError:  # unhashable (invalid) arguments: the full path reports them
            return None
        if found is None:
            return None
        raw_key, entry, stamp = found
        stamp_now, stored = stamped_entry(cache, ACCESS_TOKEN, raw_key)
        if stored is not entry or stamp_now != stamp:
            memo.pop(key, None)
            return None
        return fresh_hit_result(entry, self._now())

    def remember(self, key: Any, entry: dict[str, Any]) -> None:
        """``entry`` served the call ``key`` (a cache hit on the full path)."""
        cache, memo = self._cache, self.memo
        if cache is None:
            return
        raw_key = cache.key_makers[ACCESS_TOKEN](**entry)
        stamp, stored = stamped_entry(cache, ACCESS_TOKEN, raw_key)
        if stored is not entry:
            return
        if len(memo) >= self.LIMIT:
            memo.clear()
        memo[key] = (raw_key, entry, stamp)
