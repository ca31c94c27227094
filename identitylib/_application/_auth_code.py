"""The web-app authorization code flow (two steps, state kept in a flow dict)."""

from __future__ import annotations

import hmac
import warnings
from collections.abc import Mapping
from typing import Any, Optional

from identitylib._authority import Authority, parse_authority
from identitylib._flows import auth_code
from identitylib._log import hide, hide_secrets
from identitylib._protocol._errors import is_error
from identitylib._protocol._scopes import decorate, validate_scopes
from identitylib._protocol.grants import authorization_code as grant

from ._core import AppCore


def check_max_age(max_age: object) -> Optional[int]:
    """``max_age`` must be None or a number of seconds (an int, at least 0)."""
    if max_age is None:
        return None
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ValueError(f"max_age must be a number of seconds (an int >= 0), got {max_age!r}")
    return max_age


def _check_optional_str(value: object, name: str) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")


class AuthCodeMixin(AppCore):
    """``initiate_auth_code_flow``, ``acquire_token_by_auth_code_flow``,
    ``get_authorization_request_url``, ``acquire_token_by_authorization_code``."""

    def _user_scopes(self, scopes: object, name: str = "scopes") -> list[str]:
        """The caller's scopes plus the OIDC ones (minus ``exclude_scopes``)."""
        return decorate(validate_scopes(scopes, name=name), self._state.exclude_scopes)

    def _browser_flow(self, scopes: list[str], **options: Any) -> dict[str, Any]:
        """Run :func:`auth_code.initiate`; a discovery failure is a ValueError here."""
        flow = self._run(auth_code.initiate(self._state, scopes, **options))
        if is_error(flow):
            raise ValueError(
                "Cannot start a sign-in with the authority "
                f"{self.authority.parsed.url}: {flow.get('error_description') or flow['error']}"
            )
        return flow

    def initiate_auth_code_flow(
        self,
        scopes: list[str],
        redirect_uri: Optional[str] = None,
        state: Optional[str] = None,
        prompt: Optional[str] = None,
        login_hint: Optional[str] = None,
        domain_hint: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        max_age: Optional[int] = None,
        response_mode: Optional[str] = None,
    ) -> dict[str, Any]:
        """Start a sign-in: return the auth code flow dict, with the ``auth_uri`` to visit.

        Keep the dict (e.g. in the web session), send the user's browser to
        ``flow["auth_uri"]``, then pass the dict and what the browser brought back to
        :meth:`acquire_token_by_auth_code_flow`. The dict is JSON-serialisable and holds
        ``state``, ``redirect_uri``, ``scope``, ``auth_uri``, ``code_verifier`` (PKCE
        S256), ``nonce`` (the URL carries its SHA-256), ``claims_challenge`` and
        ``max_age`` when given.

        ``response_mode`` may be ``"form_post"`` (recommended: the code arrives in a POST
        body, not in the URL) or ``"query"``; None leaves the server's default (query).
        The authority's endpoints are discovered on first use; a discovery failure raises
        ValueError.
        """
        decorated = self._user_scopes(scopes)
        for name, value in (
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("prompt", prompt),
            ("login_hint", login_hint),
            ("domain_hint", domain_hint),
        ):
            _check_optional_str(value, name)
        if response_mode is not None and response_mode not in grant.RESPONSE_MODES:
            raise ValueError(
                f"response_mode must be one of {list(grant.RESPONSE_MODES)} or None, got "
                f"{response_mode!r} (a URL fragment never reaches a server)"
            )
        self._state.claims(claims_challenge)  # ValueError now for malformed JSON
        return self._browser_flow(
            decorated,
            redirect_uri=redirect_uri,
            csrf_state=state,
            prompt=prompt,
            login_hint=login_hint,
            domain_hint=domain_hint,
            claims_challenge=claims_challenge,
            max_age=check_max_age(max_age),
            response_mode=response_mode,
        )

    def acquire_token_by_auth_code_flow(
        self,
        auth_code_flow: dict[str, Any],
        auth_response: dict[str, Any],
        scopes: Optional[list[str]] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Check the authorization response against its flow and redeem its code.

        ``auth_response`` is what came back to the redirect URI (the query parameters, or
        the POSTed form with ``response_mode="form_post"``). Raises ValueError when it does
        not belong to ``auth_code_flow`` (missing or different ``state``: possibly a
        forged request), when ``scopes`` are not among the flow's, or when it has neither
        a ``code`` nor an ``error``. As with msal, a flow dict built by hand needs only
        ``state`` and ``code_verifier``; its ``redirect_uri``, ``scope`` and ``nonce``
        are sent and checked when present. Returns the token result, or an error dict: the
        authorization error, the server's, or ``invalid_id_token`` when the ID token fails
        its checks (nonce, audience, issuer, lifetime; ``max_age`` against ``auth_time``).

        Unlike MSAL, ``auth_code_flow`` is not modified (MSAL pops its
        ``claims_challenge``), so redeeming a flow twice sends the same request twice.
        """
        if not isinstance(auth_code_flow, Mapping):
            raise ValueError("auth_code_flow must be the dict initiate_auth_code_flow() returned")
        if not isinstance(auth_response, Mapping):
            raise ValueError(
                "auth_response must be a dict of the parameters sent to the redirect URI"
            )
        expected_state = auth_code_flow.get("state")
        if not isinstance(expected_state, str) or not expected_state:
            raise ValueError(
                "state missing from auth_code_flow: pass the dict initiate_auth_code_flow() "
                "returned (e.g. it was lost from the web session)"
            )
        # Secret values as '***' in the locals a crash reporter prints (see _log.hide).
        auth_code_flow = hide_secrets(auth_code_flow)
        auth_response = response = hide_secrets(grant.normalise_response(auth_response))
        received_state = response.get("state", "")
        if not hmac.compare_digest(received_state.encode(), expected_state.encode()):
            raise ValueError(
                "state mismatch: this auth response does not answer this auth code flow "
                "(a forged request, or a flow from another sign-in); start a new sign-in"
            )
        # A flow built by hand may hold only state and code_verifier (msal accepts it): no
        # scope then means no scope parameter, and the cache records the granted scopes.
        flow_scopes = auth_code_flow.get("scope", [])
        if not isinstance(flow_scopes, list) or not all(isinstance(s, str) for s in flow_scopes):
            raise ValueError("auth_code_flow's 'scope' is not a list: pass the flow dict unchanged")
        if scopes:
            redeem_scopes = self._user_scopes(scopes)
            if set(redeem_scopes) - set(flow_scopes):
                raise ValueError(f"scopes must be None or a subset of {flow_scopes}")
        else:
            redeem_scopes = list(flow_scopes)
        if not response.get("code") and not response.get("error"):
            raise ValueError('auth_response must contain either "code" or "error"')
        if response.get("code") and not isinstance(auth_code_flow.get("code_verifier"), str):
            raise ValueError("auth_code_flow has no code_verifier: pass the flow dict unchanged")
        return self._run(
            auth_code.redeem_auth_response(
                self._state,
                auth_code_flow,
                response,
                redeem_scopes,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )

    def get_authorization_request_url(
        self,
        scopes: list[str],
        login_hint: Optional[str] = None,
        state: Optional[str] = None,
        redirect_uri: Optional[str] = None,
        response_type: str = "code",
        prompt: Optional[str] = None,
        nonce: Optional[str] = None,
        domain_hint: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> str:
        """Deprecated: the URL of an authorization request (no PKCE; ``nonce`` sent as is).

        Use :meth:`initiate_auth_code_flow`, which adds PKCE, state and nonce for you.
        """
        warnings.warn(
            "get_authorization_request_url() is deprecated: use initiate_auth_code_flow(), "
            "which adds PKCE, state and nonce protection",
            DeprecationWarning,
            stacklevel=2,
        )
        decorated = self._user_scopes(scopes)
        for name, value in (
            ("login_hint", login_hint),
            ("state", state),
            ("redirect_uri", redirect_uri),
            ("response_type", response_type),
            ("prompt", prompt),
            ("nonce", nonce),
            ("domain_hint", domain_hint),
        ):
            _check_optional_str(value, name)
        self._state.claims(claims_challenge)
        authority: Authority = self.authority
        other = kwargs.pop("authority", None)
        if other:
            warnings.warn(
                "authority= in get_authorization_request_url() is honoured for compatibility "
                "but tokens are still redeemed with the app's own authority",
                UserWarning,
                stacklevel=2,
            )
            authority = self.authority.sibling(
                parse_authority(other, validate_authority=self.authority.parsed.validate)
            )
        result = self._run(
            auth_code.authorization_request_url(
                self._state,
                authority,
                decorated,
                response_type=response_type,
                csrf_state=state,
                redirect_uri=redirect_uri,
                nonce=nonce,
                claims_challenge=claims_challenge,
                login_hint=login_hint,
                prompt=prompt,
                domain_hint=domain_hint,
            )
        )
        if is_error(result):
            raise ValueError(
                f"Cannot build an authorization URL for {authority.parsed.url}: "
                f"{result.get('error_description') or result['error']}"
            )
        return str(result["auth_uri"])

    def acquire_token_by_authorization_code(
        self,
        code: str,
        scopes: list[str],
        redirect_uri: Optional[str] = None,
        nonce: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Deprecated: redeem an authorization code obtained without a flow dict.

        ``scopes`` must be a list (AssertionError otherwise, as in MSAL). When ``nonce``
        is given the ID token must carry it, else the result is an ``invalid_id_token``
        error (MSAL raises ValueError). Use :meth:`acquire_token_by_auth_code_flow`.
        """
        if not isinstance(scopes, list):
            raise AssertionError("scopes must be a list of scope strings")
        warnings.warn(
            "acquire_token_by_authorization_code() is deprecated: use "
            "initiate_auth_code_flow() and acquire_token_by_auth_code_flow()",
            DeprecationWarning,
            stacklevel=2,
        )
        if not isinstance(code, str) or not code:
            raise ValueError("code must be the authorization code string")
        code = hide(code)
        decorated = self._user_scopes(scopes)
        _check_optional_str(redirect_uri, "redirect_uri")
        _check_optional_str(nonce, "nonce")
        if forwarded_client_claims is not None and not isinstance(forwarded_client_claims, str):
            raise ValueError("forwarded_client_claims must be a JSON object string")
        claims = self._state.claims(claims_challenge, forwarded_client_claims)
        return self._run(
            auth_code.redeem_code(
                self._state,
                code,
                decorated,
                redirect_uri=redirect_uri,
                nonce=nonce,
                claims=claims,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )
