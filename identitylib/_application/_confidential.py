"""``ConfidentialClientApplication``: web apps, web APIs and daemons that hold a credential."""

from __future__ import annotations

from typing import Any, Optional

from identitylib._log import hide
from identitylib._telemetry import cache_lane

from ._base import ClientApplication
from ._calls import ConfidentialCalls
from ._lanes import client_lane, obo_lane

#: ``background_refresh`` when not given: a token inside its refresh window is served at
#: once while one background refresh per cache key renews it.
BACKGROUND_REFRESH_DEFAULT = True


class ConfidentialClientApplication(ClientApplication):
    """An app that can keep a secret, a certificate or a client assertion."""

    _core_class = ConfidentialCalls
    _core: ConfidentialCalls

    def _start_running(
        self, background_refresh: Optional[bool], timing: bool, flight_limit: float
    ) -> None:
        if background_refresh is None:
            background_refresh = BACKGROUND_REFRESH_DEFAULT
        super()._start_running(background_refresh, timing, flight_limit)

    @cache_lane(client_lane)
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
        return self._perform(
            self._core.acquire_token_for_client(
                scopes, claims_challenge, fmi_path, forwarded_client_claims, **kwargs
            )
        )

    @cache_lane(obo_lane)
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
        user_assertion = hide(user_assertion)  # '***' in crash reports' locals (see _log)
        return self._perform(
            self._core.acquire_token_on_behalf_of(
                user_assertion, scopes, claims_challenge, forwarded_client_claims, **kwargs
            )
        )

    def acquire_token_by_user_federated_identity_credential(
        self,
        scopes: list[str],
        assertion: str,
        username: Optional[str] = None,
        user_object_id: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A user's tokens for ``scopes``, in exchange for a federated credential the app
        holds (``assertion``, e.g. an agent's token for ``api://AzureADTokenExchange``):
        the ``user_fic`` grant.

        Name the user by ``username`` (UPN) or by ``user_object_id``, not both. Every call
        asks the server; the tokens are cached as the user's, with an account, so
        :meth:`acquire_token_silent` serves and refreshes them afterwards. Tokens obtained
        with ``forwarded_client_claims`` (a JSON object string, merged into the request's
        ``claims``) are served only to silent calls that pass the same claims.
        ``ValueError`` before any request for an empty assertion, neither or both user
        identifiers, reserved scopes (``openid``, ``profile``, ``offline_access``) or
        malformed claims. Returns a token dict or an error dict.
        """
        assertion = hide(assertion)  # '***' in crash reports' locals (see _log)
        return self._perform(
            self._core.acquire_token_by_user_federated_identity_credential(
                scopes,
                assertion,
                username,
                user_object_id,
                claims_challenge,
                forwarded_client_claims,
                **kwargs,
            )
        )

    def remove_tokens_for_client(self) -> None:
        """Remove the app-only access tokens this app cached, in every tenant of its cloud
        (those another MSAL library cached for the same app too).
        """
        self._perform(self._core.remove_tokens_for_client())
