"""Builders of the confidential client's own methods: app-only tokens, on-behalf-of."""

from __future__ import annotations

from typing import Any, Optional

from identitylib._cache import app_partition_key
from identitylib._cache._own import indexed_app_tokens
from identitylib._flows import client_credentials
from identitylib._flows import on_behalf_of as obo_flow
from identitylib._flows._cache_hooks import in_cache
from identitylib._log import hide, warn_caller
from identitylib._protocol._request import check_ssh_cert_data
from identitylib._protocol._scopes import reject_reserved, validate_scopes

from ._core import AppCore
from ._plan import Answer, Call, Defer, Plan, run

_FORCE_REFRESH = (
    "acquire_token_for_client() has no force_refresh: it uses a cached token while "
    "valid; pass claims_challenge to bypass the cache when a resource demands it"
)


def _check_claims_text(forwarded_client_claims: object) -> None:
    if forwarded_client_claims is not None and not isinstance(forwarded_client_claims, str):
        raise ValueError("forwarded_client_claims must be a JSON object string")


class ClientCalls(AppCore):
    """The builders of ``acquire_token_for_client``, ``acquire_token_on_behalf_of`` and
    ``remove_tokens_for_client``."""

    def _client_scopes(self, scopes: object, fmi_path: object) -> list[str]:
        scope_list = validate_scopes(scopes)
        if not scope_list:
            raise ValueError(
                "scopes must name at least one scope, e.g. ['api://<app id>/.default']"
            )
        if not self.hits.app_tokens:  # (== the tenant is one of SHARED_TENANTS)
            warn_caller(
                "Use a specific tenant (GUID or domain) in the authority for client credentials; "
                "'common' and 'organizations' cannot identify the app's tenant",
                DeprecationWarning,
            )
        if fmi_path is not None and not isinstance(fmi_path, str):
            raise ValueError(f"fmi_path must be a string, got {type(fmi_path).__name__}")
        return scope_list

    def acquire_token_for_client(
        self,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        fmi_path: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> Plan[dict[str, Any]]:
        """Cache first (the memo, then the flow's lookup), else the client credentials grant."""
        on_hit = None
        missed: Any = False
        if not (claims_challenge or fmi_path or forwarded_client_claims or kwargs):
            hits = self.hits
            missed = hits.lane_missed(scopes)  # (the scopes the lane found valid, if so)
            hit = None if missed else hits.app_token(scopes)
            if hit is None and type(scopes) is list and self.hits.app_tokens:
                hit, on_hit = self.remembered(("client", *scopes))
            if hit is not None:
                return Answer(hit)
        if kwargs and kwargs.pop("force_refresh", None) is not None:
            raise ValueError(_FORCE_REFRESH)
        if type(missed) is list and self.hits.app_tokens and fmi_path is None:
            scope_list: list[str] = missed  # (no tenant to warn about, no fmi_path to check)
        else:
            scope_list = self._client_scopes(scopes, fmi_path)
        if forwarded_client_claims is not None:
            _check_claims_text(forwarded_client_claims)
        state = self.state  # this call's (and its refreshes') cache, whatever is assigned later
        if claims_challenge or forwarded_client_claims:  # (capabilities alone: none to fail)
            state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        data = headers = None
        if kwargs:  # (a plain call has none to look at)
            data = kwargs.pop("data", None)
            check_ssh_cert_data(data)
            headers = kwargs.pop("headers", None)
        shared = not (claims_challenge or data or headers)
        key = (
            ("client", id(state.token_cache), tuple(scope_list), fmi_path, forwarded_client_claims)
            if shared
            else None
        )

        def make_flow(defer: Defer) -> Any:
            return client_credentials.acquire_token_for_client(
                state,
                scope_list,
                claims_challenge=claims_challenge,
                data=data,
                headers=headers,
                fmi_path=fmi_path,
                forwarded_client_claims=forwarded_client_claims,
                region=self.region if self.region_choice else None,  # (none: no call)
                on_hit=on_hit,
                defer_refresh=defer,
            )

        return Call(make_flow, key=key)

    def region(self) -> Optional[str]:
        """The region of the regional token endpoint, None for the central one.

        Called by the flow only when it is about to request a token (never on a cache
        hit). ``azure_region=True`` detects it then: env ``REGION_NAME``, else IMDS, asked
        at most once per process with a short timeout (a blocking call of at most ~2 s).
        """
        from identitylib._authority._region import resolve_region

        return resolve_region(self.region_choice)

    def _obo_request(self, user_assertion: object, scopes: object) -> tuple[str, list[str]]:
        """(the assertion stripped, hidden: '***' in the locals a crash reporter prints;
        the scopes validated) of an on-behalf-of call."""
        assertion = hide(user_assertion.strip()) if isinstance(user_assertion, str) else ""
        if not assertion:
            raise ValueError(
                "user_assertion must be the incoming access token (a non-empty string), as "
                "taken from the request's 'Authorization: Bearer ...' header"
            )
        scope_list = validate_scopes(scopes)
        reject_reserved(scope_list)
        if not scope_list:
            raise ValueError(
                "scopes must name the downstream API's scopes, e.g. ['User.Read'] or "
                "['api://<downstream app id>/.default']"
            )
        return assertion, scope_list

    def acquire_token_on_behalf_of(
        self,
        user_assertion: str,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> Plan[dict[str, Any]]:
        """Cache first (bound to the assertion), else the on-behalf-of grant."""
        on_hit = None
        if not (claims_challenge or forwarded_client_claims or kwargs):
            hit = (
                None
                if self.hits.lane_missed(scopes)
                else self.hits.assertion_token(user_assertion, scopes)
            )
            if hit is None and type(scopes) is list and isinstance(user_assertion, str):
                hit, on_hit = self.remembered(("obo", user_assertion, *scopes))
            if hit is not None:
                return Answer(hit)
        assertion, scope_list = self._obo_request(user_assertion, scopes)  # (hidden)
        hashed = self.hits.hashed(user_assertion, assertion)  # the hit path's, when it made one
        if forwarded_client_claims is not None:
            _check_claims_text(forwarded_client_claims)
        state = self.state  # this call's (and its refreshes') cache, whatever is assigned later
        if claims_challenge or forwarded_client_claims:  # (capabilities alone: none to fail)
            state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        data = headers = None
        if kwargs:  # (a plain call has none to look at)
            data = kwargs.pop("data", None)
            check_ssh_cert_data(data)
            headers = kwargs.pop("headers", None)
        # (``user_assertion``: hidden by the public methods, after their cache lane)
        shared = not (claims_challenge or data or headers)
        key = (
            ("obo", id(state.token_cache), assertion, tuple(scope_list), forwarded_client_claims)
            if shared
            else None
        )

        def make_flow(defer: Defer) -> Any:
            return obo_flow.acquire_token_on_behalf_of(
                state,
                assertion,
                scope_list,
                claims_challenge=claims_challenge,
                forwarded_client_claims=forwarded_client_claims,
                data=data,
                headers=headers,
                on_hit=on_hit,
                defer_refresh=defer,
                hashed_assertion=hashed,
            )

        return Call(make_flow, key=key)

    def remove_tokens_for_client(self) -> Plan[None]:
        """Remove this app's app-only access tokens, in every tenant of its cloud."""
        cache = self.token_cache
        realm = self.authority.expected_realm or self.authority.parsed.tenant
        partition = app_partition_key(self.client_id, realm)
        client_id, environments = self.client_id, self.authority.cache_environments

        def remove() -> None:
            for environment in environments:
                entries = indexed_app_tokens(cache, client_id, environment)
                if entries is None:  # a foreign cache object (e.g. msal's): its own search
                    query = {
                        "client_id": client_id,
                        "environment": environment,
                        "home_account_id": None,
                    }
                    entries = list(cache.search("AccessToken", query=query))
                for entry in entries:
                    cache.remove_at(entry)

        return run(in_cache(cache, partition, client_id, True, remove))
