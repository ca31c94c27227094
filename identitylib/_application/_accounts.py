"""Accounts and silent token acquisition (``get_accounts``, ``acquire_token_silent``, ...)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Optional

from identitylib._authority import Authority, AuthorityKind, parse_authority
from identitylib._authority._hosts import aliases_of
from identitylib._cache import AuthorityType, CredentialType, user_partition_key
from identitylib._cache._own import indexed_accounts, indexed_entries_of_account
from identitylib._flows import refresh_token as refresh_flow
from identitylib._flows import silent
from identitylib._flows._results import HitMemo, cache_hit_result, in_cache
from identitylib._flows._single_flight import SingleFlight, coalesced
from identitylib._log import get_logger, hide
from identitylib._protocol._messages import Flow
from identitylib._protocol._request import check_ssh_cert_data
from identitylib._protocol._scopes import decorate, reject_reserved, validate_scopes

from ._core import AppCore

logger = get_logger(__name__)

#: Account types ``get_accounts`` lists (MSAL's; Cloud Shell accounts are never created here).
LISTED_AUTHORITY_TYPES = frozenset({AuthorityType.MSSTS, AuthorityType.ADFS, "CLOUDSHELL"})
_AUTH_SCHEME_UNSUPPORTED = (
    "auth_scheme (proof-of-possession tokens) needs a broker, which identitylib does not support"
)


def _entries(cache: Any, credential_type: str, query: Mapping[str, Any]) -> list[dict[str, Any]]:
    return silent.search_entries(cache, credential_type, query)


def _account_dict(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "home_account_id": entry.get("home_account_id"),
        "environment": entry.get("environment"),
        "username": entry.get("username") or "",
        "account_source": entry.get("account_source"),
        "authority_type": entry.get("authority_type"),
        "local_account_id": entry.get("local_account_id"),
        "realm": entry.get("realm"),
    }


def _home_tenant(home_account_id: Any) -> Optional[str]:
    if isinstance(home_account_id, str) and "." in home_account_id:
        return home_account_id.split(".", 1)[1]
    return None


def _group_accounts(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One account dict per home account; the home tenant's entry represents it."""
    grouped: dict[Any, dict[str, Any]] = {}
    for entry in sorted(entries, key=lambda e: str(e.get("realm") or "")):
        if entry.get("authority_type") not in LISTED_AUTHORITY_TYPES:
            continue
        home = entry.get("home_account_id")
        current = grouped.get(home)
        is_home_realm = entry.get("realm") == _home_tenant(home)
        if current is None or (is_home_realm and current["realm"] != _home_tenant(home)):
            grouped[home] = _account_dict(entry)
    return sorted(
        grouped.values(), key=lambda a: (str(a["username"]).lower(), str(a["home_account_id"]))
    )


class AccountsMixin(AppCore):
    """``get_accounts``, ``remove_account``, ``acquire_token_silent(_with_error)``,
    ``acquire_token_by_refresh_token``."""

    _hits: HitMemo  # set by ClientApplication.__init__
    _flights: SingleFlight  # set by ClientApplication.__init__

    def _deferred_refresh(  # ClientApplication's
        self, key: Optional[Hashable], make_flow: Callable[[], Any]
    ) -> Optional[Callable[[], None]]:
        raise NotImplementedError

    #: get_accounts' last answer, with what it depended on (see ``_accounts_stamp``).
    _accounts_memo: Optional[tuple[tuple[Any, ...], list[dict[str, Any]]]] = None

    # ------------------------------------------------------------------ accounts

    def _account_entries(self, environment: str, username: Optional[str]) -> list[dict[str, Any]]:
        cache = self.token_cache
        indexed = indexed_accounts(cache, environment, username)
        if indexed is not None:
            return indexed
        entries = _entries(cache, CredentialType.ACCOUNT, {"environment": environment})
        if username is None:
            return entries
        wanted = username.lower()
        return [e for e in entries if str(e.get("username") or "").lower() == wanted]

    def _accounts_stamp(self, wanted: Optional[str]) -> Optional[tuple[Any, ...]]:
        """What get_accounts' answer depends on, when the cache can tell (else None): the
        Account section's change stamp, for identitylib's in-memory caches without hooks."""
        if not self._hits.enabled:
            return None
        cache = self.token_cache
        with cache._lock:
            store = cache._store
            store.sync(cache._cache, CredentialType.ACCOUNT)
            return (wanted, id(store.sections), *store.stamp(CredentialType.ACCOUNT))

    def get_accounts(self, username: Optional[str] = None) -> list[dict[str, Any]]:
        """The accounts signed in before (in this app's cloud), as MSAL's account dicts.

        One dict per home account (``home_account_id``, ``environment``, ``username``,
        ``account_source``, ``authority_type``, ``local_account_id``, ``realm``). Accounts
        are looked up under the authority's host, then, if none is there, under each of its
        aliases (known without any network request). ``username`` filters
        case-insensitively. Pass an account to :meth:`acquire_token_silent`.
        """
        if username is not None and not isinstance(username, str):
            raise TypeError("username must be a string")
        wanted = username or None
        stamp = self._accounts_stamp(wanted)
        memo = self._accounts_memo
        if stamp is not None and memo is not None and memo[0] == stamp:
            return [dict(account) for account in memo[1]]
        return self._run(self._accounts_flow(wanted, stamp))

    def _accounts_flow(self, wanted: Optional[str], stamp: Any) -> Flow[list[dict[str, Any]]]:
        def find() -> list[dict[str, Any]]:
            for environment in self.authority.cache_environments:
                accounts = _group_accounts(self._account_entries(environment, wanted))
                if accounts:
                    return accounts
            return []

        accounts = yield from in_cache(self.token_cache, None, self.client_id, False, find)
        if stamp is not None:
            self._accounts_memo = (stamp, [dict(account) for account in accounts])
        if wanted and not accounts:
            logger.debug(
                "get_accounts(username=...) found no account; tokens acquired without the "
                "'profile' scope carry no username: consider get_accounts() instead"
            )
        return accounts

    def remove_account(self, account: Mapping[str, Any]) -> None:
        """Sign an account out of this app: forget its tokens and its account entries.

        Removes, in the account's environment and its aliases (for the app's own cloud,
        also ``host:port`` as msal-node writes it) and across tenants: this app's refresh
        tokens and its family's (when the app is in a FOCI family), every access token and
        ID token of the account, and the account entries, in whichever MSAL library's form.
        """
        if not isinstance(account, Mapping) or not account.get("home_account_id"):
            raise ValueError("account must be an account dict returned by get_accounts()")
        home = account["home_account_id"]
        environment = str(account.get("environment") or self.authority.environment)
        cache = self.token_cache

        environments = silent.environments_of(environment.lower())
        if environments[0] in self.authority.cache_environments:  # this app's cloud: every
            environments = list(self.authority.cache_environments)  # MSAL's form of it

        def forget() -> None:
            for env in environments:
                self._forget(cache, home, env)

        self._run(in_cache(cache, user_partition_key(home), self.client_id, False, forget))

    def _forget(self, cache: Any, home: str, environment: str) -> None:
        family_id = silent.app_metadata(cache, environment, self.client_id).get("family_id")
        owned = indexed_entries_of_account(cache, home, environment)
        if owned is None:  # a foreign cache object (e.g. msal's): its own search
            query = {"home_account_id": home, "environment": environment}
            owned = {
                kind: _entries(cache, kind, query)
                for kind in (
                    CredentialType.REFRESH_TOKEN,
                    CredentialType.ACCESS_TOKEN,
                    CredentialType.ID_TOKEN,
                    CredentialType.ACCOUNT,
                )
            }
        for rt in owned.get(CredentialType.REFRESH_TOKEN, []):
            if rt.get("client_id") == self.client_id or (
                family_id and rt.get("family_id") == family_id
            ):
                cache.remove_rt(rt)
        for at in owned.get(CredentialType.ACCESS_TOKEN, []):
            cache.remove_at(at)
        for idt in owned.get(CredentialType.ID_TOKEN, []):
            cache.remove_idt(idt)
        for entry in owned.get(CredentialType.ACCOUNT, []):
            cache.remove_account(entry)

    # ------------------------------------------------------------------ silent

    def _tenant_authority(self, authority: Any) -> Optional[Authority]:
        """The Authority of another tenant of this app's cloud, None for the app's own.

        An authority of another cloud or kind is ignored with a warning, as MSAL ignores
        ``authority=`` on silent calls.
        """
        if authority is None:
            return None
        own = self.authority.parsed
        try:
            parsed = parse_authority(authority, instance_discovery=None if own.validate else False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"authority={authority!r} is not usable: {exc}") from None
        if parsed.url.lower() == own.url.lower():
            return None
        same_cloud = parsed.host in aliases_of(own.host) and parsed.scheme == own.scheme
        if not (same_cloud and parsed.kind is own.kind and own.kind is AuthorityKind.ENTRA):
            warnings.warn(
                "acquire_token_silent(authority=...) only accepts another tenant of the app's "
                f"own cloud ({own.host}); {authority!r} is ignored",
                UserWarning,
                stacklevel=4,
            )
            return None
        return self.authority.sibling(parsed)

    def _silent(
        self,
        scopes: Any,
        account: Any,
        authority: Any,
        force_refresh: bool,
        claims_challenge: Optional[str],
        forwarded_client_claims: Optional[str],
        auth_scheme: Any,
        kwargs: dict[str, Any],
    ) -> Optional[dict[str, Any]]:
        hits = self._hits
        if (
            hits.enabled
            and authority is None
            and not (force_refresh or claims_challenge or forwarded_client_claims or kwargs)
            and auth_scheme is None
            and type(scopes) is list
            and isinstance(account, dict)
        ):
            now = self._state.now()
            home = account.get("home_account_id")
            memo_key = ("silent", home, *scopes)
            entry = hits.get(memo_key, now)
            if entry is None and isinstance(home, str) and home:
                entry = hits.find(
                    now,
                    scopes,
                    environment=self._state.environment,
                    client_id=self.client_id,
                    realm=self.authority.expected_realm,
                    memo_key=memo_key,
                    home_account_id=home,
                )
            if entry is not None:
                return cache_hit_result(entry, now)
            on_hit: Any = lambda found: hits.remember(memo_key, found)  # noqa: E731
        else:
            on_hit = None
        scope_list = validate_scopes(scopes)
        reject_reserved(scope_list)
        check_ssh_cert_data(kwargs.get("data"))
        if auth_scheme is not None:
            raise ValueError(_AUTH_SCHEME_UNSUPPORTED)
        if forwarded_client_claims is not None and not isinstance(forwarded_client_claims, str):
            raise ValueError("forwarded_client_claims must be a JSON object string")
        if not account:
            return None
        if not isinstance(account, Mapping):
            raise ValueError("account must be an account dict returned by get_accounts()")
        home = account.get("home_account_id")
        if not isinstance(home, str) or not home:
            return None
        state = self._state  # this call's (and its refreshes') cache, whatever is assigned later
        state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        data = kwargs.pop("data", None)
        headers = kwargs.pop("headers", None)
        tenant_authority = self._tenant_authority(authority)
        key = (
            None
            if force_refresh or claims_challenge or data or headers
            else (
                "silent",
                id(state.token_cache),
                home,
                tuple(scope_list),
                tenant_authority.parsed.url if tenant_authority is not None else None,
                forwarded_client_claims,
            )
        )

        def make_flow(defer: Optional[Callable[[], None]] = None) -> Any:
            return silent.acquire_token_silent(
                state,
                scope_list,
                home,
                authority=tenant_authority,
                force_refresh=bool(force_refresh),
                claims_challenge=claims_challenge,
                forwarded_client_claims=forwarded_client_claims,
                data=data,
                headers=headers,
                on_hit=on_hit,
                defer_refresh=defer,
            )

        defer = self._deferred_refresh(key, make_flow)
        result = self._run(coalesced(self._flights, key, lambda: make_flow(defer)))
        return result or None

    def acquire_token_silent_with_error(
        self,
        scopes: list[str],
        account: Optional[Mapping[str, Any]],
        authority: Optional[str] = None,
        force_refresh: bool = False,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        auth_scheme: Any = None,
        **kwargs: Any,
    ) -> Optional[dict[str, Any]]:
        """A token for ``account`` from the cache, refreshing it if needed.

        Returns a token dict; None when the cache holds nothing usable for the account
        (sign in interactively); or an error dict when a refresh was tried and failed
        (``classification`` added as MSAL does). ``force_refresh`` and ``claims_challenge``
        skip the cached access token. ``authority`` may name another tenant of the app's
        cloud to get that tenant's tokens for the same account (identitylib supports this;
        MSAL ignores the parameter).
        """
        return self._silent(
            scopes,
            account,
            authority,
            force_refresh,
            claims_challenge,
            forwarded_client_claims,
            auth_scheme,
            kwargs,
        )

    def acquire_token_silent(
        self,
        scopes: list[str],
        account: Optional[Mapping[str, Any]],
        authority: Optional[str] = None,
        force_refresh: bool = False,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        auth_scheme: Any = None,
        **kwargs: Any,
    ) -> Optional[dict[str, Any]]:
        """Like :meth:`acquire_token_silent_with_error`, but None instead of an error dict."""
        result = self._silent(
            scopes,
            account,
            authority,
            force_refresh,
            claims_challenge,
            forwarded_client_claims,
            auth_scheme,
            kwargs,
        )
        if result is None or "error" in result:
            return None
        return result

    # ------------------------------------------------------------------ migration

    def acquire_token_by_refresh_token(
        self, refresh_token: str, scopes: list[str], **kwargs: Any
    ) -> dict[str, Any]:
        """Migrate a refresh token obtained elsewhere (e.g. ADAL) into this app's cache.

        Returns the token dict (the new tokens are cached, the new RT as a new entry) or
        an error dict.
        """
        if not isinstance(refresh_token, str) or not refresh_token:
            raise ValueError("refresh_token must be the refresh token string to migrate")
        refresh_token = hide(refresh_token)
        scope_list = decorate(validate_scopes(scopes), self._state.exclude_scopes)
        claims_challenge = kwargs.pop("claims_challenge", None)
        self._state.claims(claims_challenge)
        return self._run(
            refresh_flow.acquire_token_by_refresh_token(
                self._state,
                refresh_token,
                scope_list,
                claims_challenge=claims_challenge,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )
