"""``ConfidentialClientApplication``: web apps, web APIs and daemons that hold a credential."""

from __future__ import annotations

import warnings
from typing import Any, Optional

from identitylib._authority._hosts import aliases_of
from identitylib._cache import app_partition_key
from identitylib._flows import client_credentials
from identitylib._flows._results import cache_access
from identitylib._protocol._scopes import validate_scopes

from ._base import ClientApplication


class ConfidentialClientApplication(ClientApplication):
    """An app that can keep a secret, a certificate or a client assertion."""

    def _check_credential(self) -> None:
        if self._state.credential is None:
            raise ValueError(
                "A confidential client application needs client_credential: a secret string, "
                "a certificate dict or a client assertion; use PublicClientApplication otherwise"
            )

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
        self._state.claims(claims_challenge, forwarded_client_claims)  # ValueError before I/O
        return self._run(
            client_credentials.acquire_token_for_client(
                self._state,
                scope_list,
                claims_challenge=claims_challenge,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
                fmi_path=fmi_path,
                forwarded_client_claims=forwarded_client_claims,
            )
        )

    def remove_tokens_for_client(self) -> None:
        """Remove the app-only access tokens this app cached, in every tenant of its cloud."""
        cache = self.token_cache
        indexed = getattr(cache, "_app_access_tokens", None)
        realm = self.authority.expected_realm or self.authority.parsed.tenant
        partition = app_partition_key(self.client_id, realm)
        with cache_access(cache, partition, self.client_id, is_app_cache=True):
            for environment in sorted(aliases_of(self.authority.environment)):
                if indexed is not None:
                    entries = indexed(self.client_id, environment)
                else:  # a foreign cache object (e.g. msal's): its own search
                    query = {
                        "client_id": self.client_id,
                        "environment": environment,
                        "home_account_id": None,
                    }
                    entries = list(cache.search("AccessToken", query=query))
                for entry in entries:
                    cache.remove_at(entry)
