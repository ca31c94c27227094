"""Accounts and silent token acquisition (``get_accounts``, ``acquire_token_silent``, ...)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, Optional

from identitylib._authority import Authority, AuthorityKind, parse_authority
from identitylib._authority._hosts import aliases_of
from identitylib._cache import AuthorityType, CredentialType, user_partition_key
from identitylib._cache._own import indexed_accounts, indexed_entries_of_account, section_stamp
from identitylib._flows import refresh_token as refresh_flow
from identitylib._flows import silent
from identitylib._flows._cache_hooks import in_cache
from identitylib._log import get_logger, hide
from identitylib._protocol._messages import Flow
from identitylib._protocol._request import check_ssh_cert_data
from identitylib._protocol._scopes import decorate, reject_reserved, validate_scopes

from ._core import AppCore
from ._plan import Answer, Call, Defer, Plan, run

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


def _or_none(result: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    return result or None


def _token_or_none(result: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """``acquire_token_silent``'s answer: a token, else None (no error dict, nor ``{}``)."""
    return None if not result or "error" in result else result


class AccountCalls(AppCore):
    """The builders of ``get_accounts``, ``remove_account``,
    ``acquire_token_silent(_with_error)`` and ``acquire_token_by_refresh_token``."""

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
        if not self.hits.enabled:
            return None
        return (wanted, *section_stamp(self.token_cache, CredentialType.ACCOUNT))

    def get_accounts(self, username: Optional[str] = None) -> Plan[list[dict[str, Any]]]:
        """The accounts of this app's cloud (the memo answers while the cache is unchanged)."""
        if username is not None and not isinstance(username, str):
            raise TypeError("username must be a string")
        wanted = username or None
        stamp = self._accounts_stamp(wanted)
        memo = self.accounts_memo
        if stamp is not None and memo is not None and memo[0] == stamp:
            return Answer([dict(account) for account in memo[1]])
        return run(self._accounts_flow(wanted, stamp))

    def _accounts_flow(self, wanted: Optional[str], stamp: Any) -> Flow[list[dict[str, Any]]]:
        def find() -> list[dict[str, Any]]:
            for environment in self.authority.cache_environments:
                accounts = _group_accounts(self._account_entries(environment, wanted))
                if accounts:
                    return accounts
            return []

        accounts = yield from in_cache(self.token_cache, None, self.client_id, False, find)
        if stamp is not None:
            self.accounts_memo = (stamp, [dict(account) for account in accounts])
        if wanted and not accounts:
            logger.debug(
                "get_accounts(username=...) found no account; tokens acquired without the "
                "'profile' scope carry no username: consider get_accounts() instead"
            )
        return accounts

    def remove_account(self, account: Mapping[str, Any]) -> Plan[None]:
        """Forget the account's tokens and entries, in every MSAL form of its cloud."""
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

        return run(in_cache(cache, user_partition_key(home), self.client_id, False, forget))

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
                stacklevel=5,
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
        finish: Callable[[Any], Optional[dict[str, Any]]] = _or_none,
    ) -> Plan[Optional[dict[str, Any]]]:
        """A cached token for ``account``, refreshed when needed; None: nothing usable.
        ``finish`` turns the flow's result into the method's (an answer is one already)."""
        plain = authority is None and auth_scheme is None and not kwargs
        plain = plain and not (force_refresh or claims_challenge or forwarded_client_claims)
        on_hit = scope_list = None
        if plain and type(scopes) is list and isinstance(account, dict):  # the cache hit of
            hits = self.hits  # a plain call: the lane's (missed?), the memo's
            # (missed: the scopes as the lane's lookup found them valid, none reserved)
            missed = hits.lane_missed(scopes, user_flow=True)
            hit = None if missed else hits.account_token(scopes, account)
            if hit is None:
                hit, on_hit = self.remembered(("silent", account.get("home_account_id"), *scopes))
            if hit is not None:
                return Answer(hit)
            scope_list = missed if type(missed) is list else None
        if scope_list is None:  # (else the lane's lookup found them valid, none reserved)
            scope_list = validate_scopes(scopes)
            reject_reserved(scope_list)
        if kwargs:
            check_ssh_cert_data(kwargs.get("data"))
        if auth_scheme is not None:
            raise ValueError(_AUTH_SCHEME_UNSUPPORTED)
        if forwarded_client_claims is not None and not isinstance(forwarded_client_claims, str):
            raise ValueError("forwarded_client_claims must be a JSON object string")
        if not account:
            return Answer(None)
        if type(account) is not dict and not isinstance(account, Mapping):
            raise ValueError("account must be an account dict returned by get_accounts()")
        home = account.get("home_account_id")
        if not isinstance(home, str) or not home:
            return Answer(None)
        state = self.state  # this call's (and its refreshes') cache, whatever is assigned later
        if claims_challenge or forwarded_client_claims:  # (capabilities alone: none to fail)
            state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        data = kwargs.pop("data", None) if kwargs else None
        headers = kwargs.pop("headers", None) if kwargs else None
        tenant = None if authority is None else self._tenant_authority(authority)
        shared = not (force_refresh or claims_challenge or data or headers)
        tenant_url = tenant.parsed.url if tenant is not None else None
        key = (
            ("silent", id(state.token_cache), home, tuple(scope_list), tenant_url,
             forwarded_client_claims)
            if shared
            else None
        )  # fmt: skip

        def make_flow(defer: Defer) -> Any:
            return silent.acquire_token_silent(
                state,
                scope_list,
                home,
                authority=tenant,
                force_refresh=bool(force_refresh),
                claims_challenge=claims_challenge,
                forwarded_client_claims=forwarded_client_claims,
                data=data,
                headers=headers,
                on_hit=on_hit,
                defer_refresh=defer,
            )

        return Call(make_flow, finish, key)

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
    ) -> Plan[Optional[dict[str, Any]]]:
        """A token dict, None (nothing usable cached) or an error dict (a failed refresh)."""
        return self._silent(
            scopes, account, authority, force_refresh, claims_challenge,
            forwarded_client_claims, auth_scheme, kwargs,
        )  # fmt: skip

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
    ) -> Plan[Optional[dict[str, Any]]]:
        """:meth:`acquire_token_silent_with_error`, None instead of an error dict (one
        ``finish`` for both: no plan wrapped in another)."""
        return self._silent(
            scopes, account, authority, force_refresh, claims_challenge,
            forwarded_client_claims, auth_scheme, kwargs, _token_or_none,
        )  # fmt: skip

    # ------------------------------------------------------------------ migration

    def acquire_token_by_refresh_token(
        self, refresh_token: str, scopes: list[str], **kwargs: Any
    ) -> Plan[dict[str, Any]]:
        """Migrate a refresh token obtained elsewhere (e.g. ADAL) into this app's cache."""
        if not isinstance(refresh_token, str) or not refresh_token:
            raise ValueError("refresh_token must be the refresh token string to migrate")
        refresh_token = hide(refresh_token)
        scope_list = decorate(validate_scopes(scopes), self.state.exclude_scopes)
        claims_challenge = kwargs.pop("claims_challenge", None)
        self.state.claims(claims_challenge)
        return run(
            refresh_flow.acquire_token_by_refresh_token(
                self.state,
                refresh_token,
                scope_list,
                claims_challenge=claims_challenge,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )
