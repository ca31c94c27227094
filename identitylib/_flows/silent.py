"""``acquire_token_silent(_with_error)``: a cached access token, else a refreshed one.

MSAL's semantics (reference §4.1, §6.6):

* the access token is looked up by client, environment (the authority's host, then its
  aliases), realm (the tenant of the authority's token endpoint; literally ``common`` or
  ``organizations`` for those authorities) and home account, for a superset of the
  requested scopes with at least 300 s left; ``force_refresh`` and a claims challenge
  skip it; then (identitylib's caches) in the forms msal-node and MSAL.NET write, see
  ``identitylib/_cache/_forms.py``;
* a token past its ``refresh_on`` is refreshed, and served anyway when the refresh fails;
* refresh tokens are looked up by home account and environment (never by scope or
  realm; the environments include msal-node's ``host:port``): a family (FOCI) RT first
  when the app is, or may be, in a family, then the app's own RTs, newest first;
  ``client_mismatch`` on a family RT moves on to the app's own RTs; the RT used is
  replaced by the one the server returns, in msal Python's form (an RT another library
  wrote stays for that library);
* an ``invalid_grant`` keeps the RT.

The flow returns ``{}`` when the cache holds nothing usable (``None`` to the app).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from logging import DEBUG
from typing import Any, Optional

from identitylib._authority import Authority
from identitylib._authority._hosts import aliases_of
from identitylib._authority._metadata import OidcMetadata
from identitylib._cache import user_partition_key
from identitylib._cache._forms import canonical_refresh_token
from identitylib._cache._own import (
    environments_with_access_tokens,
    indexed_account_refresh_tokens,
)
from identitylib._flows._state import AppState
from identitylib._log import get_logger, hide_secrets
from identitylib._protocol._messages import Flow
from identitylib._protocol._scopes import decorate

from ._cache_hooks import in_cache
from ._fallback import serve_cached_on_failure
from ._lookups import find_access_token, find_access_token_in_forms
from ._refresh_reason import note_refresh_reason
from ._shaping import serve_cached
from ._token_query import access_token_query, cache_realm, extra_fields
from .refresh_token import redeem_refresh_token

logger = get_logger(__name__)

REFRESH_TOKEN = "RefreshToken"
APP_METADATA = "AppMetadata"
#: How the debug log names the refresh tokens of each group (by ``is_family``).
_GROUPS = {True: "family", False: "own"}
#: The family MSAL assumes an app of unknown family may belong to (FOCI has only "1").
DEFAULT_FAMILY = "1"
#: Suberrors MSAL reports with an empty ``classification`` (MSAL Python issue #57).
SUPPRESSED_SUBERRORS = frozenset(
    {
        "bad_token",
        "token_expired",
        "protection_policy_required",
        "client_mismatch",
        "device_authentication_failed",
    }
)


def environments_of(host: str) -> list[str]:
    """The authority's host, then its aliases (sorted): where cached tokens may live."""
    return [host, *sorted(aliases_of(host) - {host})]


def classify(result: dict[str, Any]) -> dict[str, Any]:
    """Add MSAL's ``classification`` to an error result that has a ``suberror``."""
    suberror = result.get("suberror")
    if isinstance(suberror, str) and suberror:
        result["classification"] = "" if suberror in SUPPRESSED_SUBERRORS else suberror
    return result


def is_client_mismatch(result: Mapping[str, Any]) -> bool:
    """The server refused a family RT because this app is not in that family."""
    if result.get("suberror") == "client_mismatch":
        return True
    info = result.get("error_additional_info")
    if isinstance(info, str):
        return "client_mismatch" in info
    if isinstance(info, (list, tuple)):
        return any(isinstance(item, str) and "client_mismatch" in item for item in info)
    return False


def _modified(entry: Mapping[str, Any]) -> int:
    try:
        return int(entry.get("last_modification_time") or 0)
    except (TypeError, ValueError):
        return 0


def search_entries(
    cache: Any, credential_type: str, query: Mapping[str, Any]
) -> list[dict[str, Any]]:
    found = cache.search(credential_type, query=dict(query))
    try:
        return [entry for entry in found if isinstance(entry, dict)]
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()


def app_metadata(cache: Any, environment: str, client_id: str) -> dict[str, Any]:
    """This app's AppMetadata entry in ``environment``, {} when unknown."""
    getter = getattr(cache, "_get_app_metadata", None)
    if getter is not None:
        found = getter(environment=environment, client_id=client_id, default={})
        return found if isinstance(found, dict) else {}
    query = {"environment": environment, "client_id": client_id}
    entries = search_entries(cache, APP_METADATA, query)
    return entries[0] if entries else {}


def refresh_token_candidates(
    cache: Any, home_account_id: str, environment: str, client_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(family RTs to try first, the app's own RTs), each newest first, no RT twice.

    Family RTs are tried when the app's metadata names a family, or when the app has no
    metadata yet (it may be a family member signing in for the first time). The entries
    are copies whose secrets show as ``'***'`` in the flow's locals (see ``_log.hide``).
    """
    indexed = indexed_account_refresh_tokens(cache, home_account_id, environment, client_id)
    if indexed is None:
        family, own = _searched_refresh_tokens(cache, home_account_id, environment, client_id)
    else:  # the account's RTs, in one read with the metadata: those of each group picked
        # (by their field's value: equal to one that is not None, as field_matches finds),
        # in one loop (no comprehension's frame)
        metadata, found = indexed
        family_id = _family_of(metadata)
        family, own = [], []
        for entry in found:
            if family_id and entry.get("family_id") == family_id:
                family.append(entry)
            if entry.get("client_id") == client_id:
                own.append(entry)
    if family:  # (loops: a comprehension costs a frame)
        tried = set()
        for entry in family:
            tried.add(entry.get("secret"))
        untried = []
        for entry in own:
            if entry.get("secret") not in tried:
                untried.append(entry)
        own = untried
    return _newest_first_hidden(family) if family else family, _newest_first_hidden(own)


def _newest_first_hidden(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``entries`` with their secrets hidden, newest first (two compared without
    a sort and its key function's calls: the usual account's own RTs are one or two)."""
    if len(entries) == 2:
        first = entries[0].get("last_modification_time")
        second = entries[1].get("last_modification_time")
        if type(first) is str and type(second) is str and first.isdecimal() and second.isdecimal():
            swap = int(second) > int(first)  # (msal's field, a string of digits: no call each)
        else:
            swap = _modified(entries[1]) > _modified(entries[0])
        if swap:
            entries.reverse()
    elif len(entries) > 2:
        entries.sort(key=_modified, reverse=True)
    hidden = []
    for entry in entries:  # (a loop: a comprehension costs a frame)
        hidden.append(hide_secrets(entry))
    return hidden


def _family_of(metadata: Any) -> Any:
    """The family whose RTs the app tries first: its metadata's, else (no metadata yet)
    the family it may belong to."""
    return metadata.get("family_id") if isinstance(metadata, dict) and metadata else DEFAULT_FAMILY


def _searched_refresh_tokens(
    cache: Any, home_account_id: str, environment: str, client_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(family RTs, the app's own RTs) of a cache asked as msal asks it: its app metadata,
    then a search per group."""
    family_id = _family_of(app_metadata(cache, environment, client_id))
    account = {"home_account_id": home_account_id, "environment": environment}
    family: list[dict[str, Any]] = []
    if family_id:
        family = search_entries(cache, REFRESH_TOKEN, {**account, "family_id": family_id})
    own = search_entries(cache, REFRESH_TOKEN, {**account, "client_id": client_id})
    return family, own


def refresh_for_account(
    state: AppState,
    authority: Authority,
    *,
    home_account_id: str,
    scopes: Sequence[str],
    correlation_id: str,
    claims: Optional[str],
    data: Optional[Mapping[str, Any]],
    headers: Optional[Mapping[str, str]],
    ext_cache_key: str,
    hooks: Optional[bool] = None,
    metadata: Optional[OidcMetadata] = None,
) -> Flow[dict[str, Any]]:
    """Try the account's RTs in each environment; the first success, else the last error.

    ``{}`` when there was no RT to try (or only family RTs this app may not use). The
    authority's endpoints are discovered only when there is an RT to redeem. ``hooks``:
    whether the cache has access hooks, ``metadata``: the authority's, known to the
    caller (None: asked when needed).
    """
    cache = state.token_cache
    if hooks is None:
        hooks = state.cache_has_hooks()  # (none: the lookups run in line)
    last: Optional[dict[str, Any]] = None
    for environment in state.authority.cache_environments:
        if hooks:
            candidates = partial(
                refresh_token_candidates, cache, home_account_id, environment, state.client_id
            )
            partition = user_partition_key(home_account_id)
            family, own = yield from in_cache(cache, partition, state.client_id, False, candidates)
        else:
            family, own = refresh_token_candidates(
                cache, home_account_id, environment, state.client_id
            )
        for group, is_family in ((family, True), (own, False)):
            for entry in group:
                secret = entry.get("secret")
                if not (isinstance(secret, str) and secret):
                    continue  # (not usable)
                if logger.isEnabledFor(DEBUG):  # (else no call of logging's debug per RT)
                    logger.debug("Refreshing with a cached %s refresh token", _GROUPS[is_family])
                if metadata is None:
                    metadata = authority.known_metadata or (yield from authority.metadata_flow())
                result = yield from redeem_refresh_token(
                    state,
                    metadata,
                    refresh_token=entry["secret"],
                    scopes=scopes,
                    correlation_id=correlation_id,
                    claims=claims,
                    data=data,
                    headers=headers,
                    used_entry=canonical_refresh_token(entry, state.authority.environment),
                    ext_cache_key=ext_cache_key,
                    hooks=hooks,
                )
                if "error" not in result:
                    return result
                logger.debug(
                    "Refresh failed: %s: %s", result.get("error"), result.get("error_description")
                )
                if is_family and is_client_mismatch(result):
                    break  # Not in that family: its other RTs would fail alike.
                last = result
    return last if last is not None else {}


def acquire_token_silent(
    state: AppState,
    scopes: Sequence[str],
    home_account_id: str,
    *,
    authority: Optional[Authority] = None,
    force_refresh: bool = False,
    claims_challenge: Optional[str] = None,
    forwarded_client_claims: Optional[str] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
    on_hit: Optional[Callable[[dict[str, Any]], None]] = None,
    defer_refresh: Optional[Callable[[], None]] = None,
) -> Flow[dict[str, Any]]:
    """A token for the account from the cache, or by refreshing; ``{}`` when neither.

    ``authority`` (another tenant of the app's cloud) makes the lookup and the refresh
    use that tenant's realm and token endpoint; the cache environment stays the app's.
    """
    tenant_authority = authority or state.authority
    extra, ext_cache_key = (  # (a plain call has none: no call)
        extra_fields(data, forwarded_client_claims) if data or forwarded_client_claims else ({}, "")
    )
    now = state.now()
    cache = state.token_cache
    hooks = state.cache_has_hooks()  # (none: lookups and writes in line)
    cached: Optional[dict[str, Any]] = None
    known = tenant_authority.known_metadata  # (asked once: its realm, then its endpoints)
    if not (force_refresh or claims_challenge):
        realm = known.realm if known is not None else tenant_authority.expected_realm
        if realm is None:
            realm = yield from cache_realm(tenant_authority)
        query = {"client_id": state.client_id, "realm": realm, "home_account_id": home_account_id}
        if extra or ext_cache_key:  # (a plain request's query is complete)
            access_token_query(query, extra, ext_cache_key)
        if hooks:
            lookup = partial(
                _find_account_token, state, scopes, query, tenant_authority, realm, now
            )
            partition = user_partition_key(home_account_id)
            cached, refresh_due = yield from in_cache(
                cache, partition, state.client_id, False, lookup
            )
        else:
            cached, refresh_due = _find_account_token(
                state, scopes, query, tenant_authority, realm, now
            )
        if cached is not None:  # (else nothing to serve: no call)
            served = serve_cached(
                cached, refresh_due, now, on_hit=on_hit, defer_refresh=defer_refresh
            )
            if served is not None:
                return served

    note_refresh_reason(cached, force_refresh or claims_challenge)
    refresh = refresh_for_account(
        state,
        tenant_authority,
        home_account_id=home_account_id,
        scopes=decorate(scopes, state.exclude_scopes, checked=True),  # (by the builder)
        correlation_id=state.new_correlation_id(),
        claims=state.claims(claims_challenge, forwarded_client_claims),
        data=extra,
        headers=headers,
        ext_cache_key=ext_cache_key,
        hooks=hooks,
        metadata=known,
    )
    if cached is None:  # nothing to serve should it fail: no fallback around the refresh
        result = yield from refresh
    else:
        result = yield from serve_cached_on_failure(cached, now, refresh)
    return classify(result) if "error" in result else result


def _find_account_token(
    state: AppState,
    scopes: Sequence[str],
    query: Mapping[str, Any],
    authority: Authority,
    realm: str,
    now: float,
) -> tuple[Optional[dict[str, Any]], bool]:
    """The account's cached access token: msal Python's form in each of the app's cache
    environments, else the form another MSAL library wrote (only in the environments where
    the cache's index says one could match: none is the usual miss, decided at once; the
    realms other libraries use are asked of ``authority`` only then)."""
    environments = environments_with_access_tokens(
        state.token_cache, query, scopes, state.authority.cache_environments
    )
    if not environments:
        return None, False
    for environment in environments:
        found = find_access_token(
            state.token_cache, scopes, {**query, "environment": environment}, now
        )
        if found[0] is not None:
            return found
    realms = authority.cache_realms(realm, query["home_account_id"])
    return find_access_token_in_forms(state.token_cache, scopes, query, environments, realms, now)
