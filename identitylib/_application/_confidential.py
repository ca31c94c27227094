"""``ConfidentialClientApplication``: web apps, web APIs and daemons that hold a credential."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Optional

from identitylib._cache import app_partition_key
from identitylib._cache._own import indexed_app_tokens
from identitylib._flows import client_credentials
from identitylib._flows import on_behalf_of as obo_flow
from identitylib._flows._results import cache_hit_result, in_cache
from identitylib._flows._single_flight import coalesced
from identitylib._log import hide
from identitylib._protocol._request import check_ssh_cert_data
from identitylib._protocol._scopes import reject_reserved, validate_scopes

from ._base import ClientApplication
from ._user_fic import UserFicMixin

#: ``background_refresh`` when not given: a token inside its refresh window is served at
#: once while one background refresh per cache key renews it.
BACKGROUND_REFRESH_DEFAULT = True


class ConfidentialClientApplication(ClientApplication, UserFicMixin):
    """An app that can keep a secret, a certificate or a client assertion."""

    def _check_credential(self) -> None:
        if self._state.credential is None:
            raise ValueError(
                "A confidential client application needs client_credential: a secret string, "
                "a certificate dict or a client assertion; use PublicClientApplication otherwise"
            )
        if self._background_refresh is None:
            self._background_refresh = BACKGROUND_REFRESH_DEFAULT
        # The fast path of acquire_token_for_client skips the warning for these tenants.
        self._cc_fast = self.authority.parsed.tenant.lower() not in ("common", "organizations")

    def acquire_token_for_client(
        self,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        fmi_path: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Acquire an app-only token for ``scopes`` (e.g. ``["https://graph.microsoft.com/.default"]``).

        The token cache is looked up first; a token past its ``refresh_on`` is refreshed
        and still served if the refresh fails. Returns a token dict or an error dict.
        """
        hits = self._hits
        if (
            hits.enabled
            and self._cc_fast
            and not (claims_challenge or fmi_path or forwarded_client_claims or kwargs)
            and type(scopes) is list
        ):
            now = self._state.now()
            memo_key = ("client", *scopes)
            entry = hits.get(memo_key, now) or hits.find(
                now,
                scopes,
                environment=self._state.environment,
                client_id=self.client_id,
                realm=self.authority.expected_realm,
                memo_key=memo_key,
            )
            if entry is not None:
                return cache_hit_result(entry, now)
            on_hit: Any = lambda found: hits.remember(memo_key, found)  # noqa: E731
        else:
            on_hit = None
        if kwargs.pop("force_refresh", None) is not None:
            raise ValueError(
                "acquire_token_for_client() has no force_refresh: it uses a cached token while "
                "valid; pass claims_challenge to bypass the cache when a resource demands it"
            )
        scope_list = validate_scopes(scopes)
        if not scope_list:
            raise ValueError(
                "scopes must name at least one scope, e.g. ['api://<app id>/.default']"
            )
        if self.authority.parsed.tenant.lower() in ("common", "organizations"):
            warnings.warn(
                "Use a specific tenant (GUID or domain) in the authority for client credentials; "
                "'common' and 'organizations' cannot identify the app's tenant",
                DeprecationWarning,
                stacklevel=2,
            )
        if fmi_path is not None and not isinstance(fmi_path, str):
            raise ValueError(f"fmi_path must be a string, got {type(fmi_path).__name__}")
        if forwarded_client_claims is not None and not isinstance(forwarded_client_claims, str):
            raise ValueError("forwarded_client_claims must be a JSON object string")
        state = self._state  # this call's (and its refreshes') cache, whatever is assigned later
        state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        data = kwargs.pop("data", None)
        check_ssh_cert_data(data)
        headers = kwargs.pop("headers", None)
        key = (
            None
            if claims_challenge or data or headers
            else (
                "client",
                id(state.token_cache),
                tuple(scope_list),
                fmi_path,
                forwarded_client_claims,
            )
        )

        def make_flow(defer: Optional[Callable[[], None]] = None) -> Any:
            return client_credentials.acquire_token_for_client(
                state,
                scope_list,
                claims_challenge=claims_challenge,
                data=data,
                headers=headers,
                fmi_path=fmi_path,
                forwarded_client_claims=forwarded_client_claims,
                region=self._region,
                on_hit=on_hit,
                defer_refresh=defer,
            )

        defer = self._deferred_refresh(key, make_flow)
        return self._run(coalesced(self._flights, key, lambda: make_flow(defer)))

    def _region(self) -> str | None:
        """The region of the regional token endpoint, None for the central one.

        Called by the flow only when it is about to request a token (never on a cache
        hit). ``azure_region=True`` detects it then: env ``REGION_NAME``, else IMDS, asked
        at most once per process with a short timeout (a blocking call of at most ~2 s).
        """
        from identitylib._authority._region import resolve_region

        return resolve_region(self._region_choice)

    def acquire_token_on_behalf_of(
        self,
        user_assertion: str,
        scopes: list[str],
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Exchange the access token a web API received (``user_assertion``) for a token to
        a downstream API (``scopes``), on behalf of the same user (the OBO flow).

        The tokens are cached bound to the assertion: a repeat call with the same
        assertion and scopes is served from the cache with no request, an expired token
        is renewed with the refresh token obtained with that assertion, and tokens
        obtained with one user's assertion are never served for another.
        ``claims_challenge`` (e.g. from :func:`identitylib.parse_claims_challenge`)
        bypasses the cached access token. Returns a token dict or an error dict; an
        ``interaction_required`` error carrying ``claims`` is to be relayed to the caller
        as a 401 claims challenge. (MSAL Python does not look in its cache here.)
        """
        hits = self._hits
        if (
            hits.enabled
            and not (claims_challenge or forwarded_client_claims or kwargs)
            and type(scopes) is list
            and isinstance(user_assertion, str)
        ):
            now = self._state.now()
            memo_key = ("obo", user_assertion, *scopes)
            entry = hits.get(memo_key, now) or hits.find(
                now,
                scopes,
                environment=self._state.environment,
                client_id=self.client_id,
                realm=self.authority.expected_realm,
                memo_key=memo_key,
                user_assertion=user_assertion,
            )
            if entry is not None:
                return cache_hit_result(entry, now)
            on_hit: Any = lambda found: hits.remember(memo_key, found)  # noqa: E731
        else:
            on_hit = None
        if not isinstance(user_assertion, str) or not user_assertion.strip():
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
        if forwarded_client_claims is not None and not isinstance(forwarded_client_claims, str):
            raise ValueError("forwarded_client_claims must be a JSON object string")
        state = self._state  # this call's (and its refreshes') cache, whatever is assigned later
        state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        data = kwargs.pop("data", None)
        check_ssh_cert_data(data)
        headers = kwargs.pop("headers", None)
        # After the cache-hit path: '***' in the locals a crash reporter prints.
        user_assertion = hide(user_assertion)
        assertion = hide(user_assertion.strip())
        if on_hit is not None:
            memo_key = ("obo", user_assertion, *scopes)
        key = (
            None
            if claims_challenge or data or headers
            else (
                "obo",
                id(state.token_cache),
                assertion,
                tuple(scope_list),
                forwarded_client_claims,
            )
        )

        def make_flow(defer: Optional[Callable[[], None]] = None) -> Any:
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
            )

        defer = self._deferred_refresh(key, make_flow)
        return self._run(coalesced(self._flights, key, lambda: make_flow(defer)))

    def remove_tokens_for_client(self) -> None:
        """Remove the app-only access tokens this app cached, in every tenant of its cloud
        (those another MSAL library cached for the same app too)."""
        cache = self.token_cache
        realm = self.authority.expected_realm or self.authority.parsed.tenant
        partition = app_partition_key(self.client_id, realm)

        def remove() -> None:
            for environment in self.authority.cache_environments:
                entries = indexed_app_tokens(cache, self.client_id, environment)
                if entries is None:  # a foreign cache object (e.g. msal's): its own search
                    query = {
                        "client_id": self.client_id,
                        "environment": environment,
                        "home_account_id": None,
                    }
                    entries = list(cache.search("AccessToken", query=query))
                for entry in entries:
                    cache.remove_at(entry)

        self._run(in_cache(cache, partition, self.client_id, True, remove))
