"""Which token caches identitylib may use beyond MSAL's cache API.

A token cache that is not one of identitylib's classes (msal's ``SerializableTokenCache``,
msal-extensions' ``PersistedTokenCache``, a ``unittest.mock.Mock``, an app's own class) is
used only through the methods msal itself calls on a cache: ``search``, ``add``,
``update_rt``, ``remove_at`` / ``remove_rt`` / ``remove_idt`` / ``remove_account`` and
``_get_app_metadata``. identitylib's extensions (access hooks, coroutine hooks, the
secondary indices) are used only on :class:`TokenCache` and its subclasses.

The functions below are the cache's interface to the layers above: they never hand out
the cache's lock or sections.

The decision is made by the object's real type, ``type(cache)``, never by probing for an
attribute: a ``Mock`` answers any attribute with a truthy object, and a
``Mock(spec=TokenCache)`` passes ``isinstance`` (it fakes ``__class__``) but not this test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable, Optional, cast

from ._exact import FiledToken, RequestKey
from ._forms import access_tokens_in_forms
from ._keys import CredentialType
from ._query import requested_scopes
from ._serializable import SerializableTokenCache
from ._store import account_entries, settled_account_refresh_tokens
from ._token_cache import Entry, Stamp, TokenCache


def own_cache(cache: object) -> Optional[TokenCache]:
    """``cache`` if it is an identitylib :class:`TokenCache` (or subclass), else None."""
    # (isinstance types it for the checker, without typing.cast's call; a mock's faked
    # __class__ passes isinstance but not the test of its real type)
    if isinstance(cache, TokenCache) and issubclass(type(cache), TokenCache):
        return cache
    return None


def has_async_hooks(cache: object) -> bool:
    """Whether ``cache`` is one of identitylib's caches with coroutine access hooks."""
    own = own_cache(cache)
    return own is not None and own.has_async_hooks


def has_access_hooks(cache: object) -> bool:
    """Whether ``cache`` is one of identitylib's caches whose accesses run hooks (sync or
    coroutine): a plain in-memory or a foreign cache has none."""
    own = own_cache(cache)
    return own is not None and own.has_access_hooks


def plain_in_memory(cache: object) -> bool:
    """Whether ``cache`` is exactly one of identitylib's in-memory caches (no subclass, no
    access hooks, no bound): its content changes only through its own methods, and reading
    it has no side effect, so what was read from it may be remembered against its stamps."""
    if type(cache) not in (TokenCache, SerializableTokenCache):
        return False
    own = cast(TokenCache, cache)
    return not own.has_hook_callbacks and own._store.bound is None


def section_stamp(cache: TokenCache, credential_type: str) -> Stamp:
    """A value that changes whenever the section's content may have changed (read under the
    cache's lock: correct with threads on a free-threaded Python too)."""
    return cache._stamped(credential_type, None)[0]


def stamped_entry(cache: TokenCache, credential_type: str, key: str) -> tuple[Stamp, Any]:
    """The section's stamp and the entry stored under ``key`` (None), read together."""
    return cache._stamped(credential_type, key)


def indexed_accounts(
    cache: object, environment: str, username: Optional[str]
) -> Optional[list[Entry]]:
    """The Account entries of ``environment`` from the cache's index; None for a foreign
    cache (the caller then searches it as msal does)."""
    own = own_cache(cache)
    return None if own is None else own._accounts(environment, username)


def indexed_entries_of_account(
    cache: object, home_account_id: str, environment: str
) -> Optional[dict[str, list[Entry]]]:
    """Every token and account entry of a home account in ``environment``, by credential
    type, from the cache's index; None for a foreign cache."""
    own = own_cache(cache)
    return None if own is None else own._entries_of_account(home_account_id, environment)


def indexed_app_tokens(cache: object, client_id: str, environment: str) -> Optional[list[Entry]]:
    """The app-only access tokens of ``client_id`` from the cache's index; None for a
    foreign cache."""
    own = own_cache(cache)
    return None if own is None else own._app_access_tokens(client_id, environment)


def indexed_refresh_tokens(cache: object, query: Mapping[str, Any]) -> Optional[list[Entry]]:
    """The refresh tokens ``cache.search("RefreshToken", query=query)`` yields, from the
    cache's index without a search; None when the cache must be searched: a foreign one,
    one whose ``search`` is its own, or one with a bound (a search marks what it finds as
    recently used)."""
    own = own_cache(cache)
    return None if own is None or not _reads_as_indexed(own) else own._refresh_tokens(query)


def _reads_as_indexed(own: TokenCache) -> bool:
    """Whether a search of ``own`` may be answered from its index: its ``search`` is
    TokenCache's and nothing bounds it (a search marks what it finds as recently used)."""
    return getattr(own.search, "__func__", None) is TokenCache.search and own._store.bound is None


def indexed_account_refresh_tokens(
    cache: object, home_account_id: str, environment: str, client_id: str
) -> Optional[tuple[Any, list[Entry]]]:
    """The AppMetadata entry of ``client_id`` in ``environment`` (None when there is none)
    and the refresh tokens ``cache.search("RefreshToken", query=account)`` yields for
    ``account`` = the home account id and the environment, read together: without the
    lock while both sections are settled (see ``_store.settled_account_refresh_tokens``),
    else in one hold of it; the metadata by its key, the RTs from the index of the account
    (each checked against ``account``). None when the cache must be asked as msal asks
    it: a foreign one, one with its own ``search`` or ``_get_app_metadata``, or one with a
    bound."""
    own = own_cache(cache)
    if (
        own is None
        or not _reads_as_indexed(own)
        or getattr(own._get_app_metadata, "__func__", None) is not TokenCache._get_app_metadata
    ):
        return None
    key = own.key_makers[CredentialType.APP_METADATA](environment=environment, client_id=client_id)
    store = own._store
    # (read without the lock while both sections are settled: see
    # settled_account_refresh_tokens)
    found = settled_account_refresh_tokens(store, own._cache, key, home_account_id, environment)
    if found is not None:
        return found
    with own._lock:
        store.sync(own._cache, CredentialType.APP_METADATA)
        metadata = store.section(CredentialType.APP_METADATA).get(key)  # (decoded if raw)
        store.sync(own._cache, CredentialType.REFRESH_TOKEN)
        refresh_tokens = account_entries(
            store, CredentialType.REFRESH_TOKEN, home_account_id, environment
        )
        return metadata, cast(list[Entry], refresh_tokens)  # (not settled: always a list)


def indexed_access_tokens_in_forms(
    cache: object,
    target: Iterable[str],
    query: Mapping[str, Any],
    environments: Sequence[str],
    realms: Sequence[str],
    now: Optional[float] = None,
) -> Optional[list[Entry]]:
    """The unexpired access tokens matching ``query`` in any MSAL library's form (see
    ``_forms.py``), from the cache's index; None for a foreign cache (read as msal reads
    it: in msal Python's form only)."""
    own = own_cache(cache)
    if own is None:
        return None
    return access_tokens_in_forms(own, target, query, environments, realms, now)


def may_match_access_token(cache: object, query: Mapping[str, Any], target: Iterable[str]) -> bool:
    """False when ``cache`` holds no access token that could match ``query`` and ``target``
    (the app has none in that environment, none grants one of the scopes, or none is bound
    to the query's assertion): a few index lookups for identitylib's caches, so a search
    that would find nothing is skipped. Always True for a foreign cache, and for a
    subclass or an object with its own ``search`` (which the caller must then ask)."""
    own = own_cache(cache)
    if own is None or getattr(own.search, "__func__", None) is not TokenCache.search:
        return True
    return own._may_match_access_token(query, target)


def may_hold_assertion(cache: object, query: Mapping[str, Any], target: Iterable[str]) -> bool:
    """False when ``cache`` holds neither an access token that could match the
    on-behalf-of ``query`` and ``target`` nor a refresh token bound to the query's
    assertion (``user_assertion_hash``): an assertion never seen is a miss after two index
    probes. Always True for a foreign cache and for one with its own ``search``."""
    own = own_cache(cache)
    if own is None or getattr(own.search, "__func__", None) is not TokenCache.search:
        return True
    settled = own._store.settled_assertion(own._cache, query, target)  # (without the lock)
    return own._may_hold_assertion(query, target) if settled is None else settled


def environments_with_access_tokens(
    cache: object, query: Mapping[str, Any], target: Iterable[str], environments: Sequence[str]
) -> list[str]:
    """Those of ``environments`` in which an access token of ``cache`` could match
    ``query`` (its ``environment`` replaced by each) and ``target``, in order: see
    :func:`may_match_access_token`, asked for every environment at once."""
    own = own_cache(cache)
    if own is None or getattr(own.search, "__func__", None) is not TokenCache.search:
        return list(environments)
    # (read without the lock while the section is settled: see settled_environments; a
    # request's list of scopes read as it is, see environments_that_may_match)
    scopes = target if type(target) is list else requested_scopes(target)
    found = own._store.settled_environments(own._cache, query, scopes, environments)
    if found is not None:
        return found
    with own._lock:
        store = own._synced(CredentialType.ACCESS_TOKEN)
        return store.environments_with_access_tokens(query, scopes, environments)


#: Reads the exact-request index of a cache: ``reader(cache, request)`` (see
#: :func:`exact_reader`).
ExactReader = Callable[[Any, RequestKey], Optional[FiledToken]]


def exact_reader(cache: object) -> Optional[ExactReader]:
    """What reads the exact-request index of caches of ``cache``'s class: the only access
    token filed under a request (see ``_exact.py``), expired or not, as the index filed it
    (a :class:`FiledToken`: its key and entry, and what a hit returns of it), else None;
    one dict lookup, never a scan. None for a foreign cache. The same function for every
    cache of a class, called without a type test: the cache-hit path of an app asks it
    on every call."""
    own = own_cache(cache)
    if own is None:
        return None
    reader: ExactReader = type(own)._filed_request_hit
    return reader


def read_app_shelf(
    cache: Any, index: Any, shelf: Mapping[str, FiledToken], scopes: str
) -> Optional[FiledToken]:
    """The token on ``shelf``, an app shelf of ``index`` that :func:`app_shelf` gave for
    ``cache``, under ``scopes``, while that index is the cache's and in step with its
    section; else None (ask the :func:`exact_reader`). One read of the shelf, no lock."""
    own: TokenCache = cache  # (an identitylib cache: app_shelf gives no shelf for another)
    if index is None or index is not own._store.settled_exact(own._cache):
        return None
    hit = shelf.get(scopes)
    return hit if hit is not None and type(hit.entry) is dict else None


def app_shelf(cache: object, head: str) -> Optional[tuple[Any, Mapping[str, FiledToken]]]:
    """The exact-request index of ``cache`` and its app shelf of ``head``
    (``_exact.app_request(prefix, "")`` of an app): scopes part -> the token filed under
    ``head`` + scopes, kept in step by the index, so that an app that holds it looks its
    tokens up in it rather than in the whole index; None if there is none yet (also for a
    foreign cache)."""
    own = own_cache(cache)
    exact = None if own is None else own._store.settled_exact(own._cache)
    shelf = None if exact is None else exact.shelf(head)
    return None if shelf is None else (exact, shelf)


def exact_request_hit(cache: object, request: RequestKey) -> Optional[tuple[str, Entry]]:
    """The key of the only access token filed under ``request`` and the token (expired or
    not), else None (also for a foreign cache): for callers that look up once, not on
    every call."""
    own = own_cache(cache)
    filed = None if own is None else own._filed_request_hit(request)
    return None if filed is None else (filed.key, cast(Entry, filed.entry))


__all__ = [
    "ExactReader",
    "FiledToken",
    "app_shelf",
    "environments_with_access_tokens",
    "exact_reader",
    "exact_request_hit",
    "has_access_hooks",
    "has_async_hooks",
    "indexed_access_tokens_in_forms",
    "indexed_account_refresh_tokens",
    "indexed_accounts",
    "indexed_app_tokens",
    "indexed_entries_of_account",
    "indexed_refresh_tokens",
    "may_match_access_token",
    "own_cache",
    "plain_in_memory",
    "read_app_shelf",
    "section_stamp",
    "stamped_entry",
]
