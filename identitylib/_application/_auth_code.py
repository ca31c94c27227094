"""The web-app authorization code flow (two steps, state kept in a flow dict)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any, Optional

from identitylib._authority import Authority, parse_authority
from identitylib._flows import auth_code
from identitylib._log import hide, hide_secrets, warn_caller
from identitylib._protocol._errors import is_error
from identitylib._protocol._scopes import decorate, validate_scopes
from identitylib._protocol.grants import authorization_code as grant

from ._core import AppCore
from ._plan import Plan, run


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


def _request_url(url: str) -> Callable[[dict[str, Any]], str]:
    """The URL from the result of ``authorization_request_url`` (a ValueError on error)."""

    def finish(result: dict[str, Any]) -> str:
        if is_error(result):
            reason = result.get("error_description") or result["error"]
            raise ValueError(f"Cannot build an authorization URL for {url}: {reason}")
        return str(result["auth_uri"])

    return finish


class AuthCodeCalls(AppCore):
    """The builders of ``initiate_auth_code_flow``, ``acquire_token_by_auth_code_flow``,
    ``get_authorization_request_url``, ``acquire_token_by_authorization_code``."""

    def _user_scopes(self, scopes: object, name: str = "scopes") -> list[str]:
        """The caller's scopes plus the OIDC ones (minus ``exclude_scopes``)."""
        return decorate(validate_scopes(scopes, name=name), self.state.exclude_scopes)

    def _browser_flow(self, scopes: list[str], **options: Any) -> Plan[dict[str, Any]]:
        """:func:`auth_code.initiate`, whose discovery failure is a ValueError."""
        url = self.authority.parsed.url

        def started(flow: dict[str, Any]) -> dict[str, Any]:
            if is_error(flow):
                reason = flow.get("error_description") or flow["error"]
                raise ValueError(f"Cannot start a sign-in with the authority {url}: {reason}")
            return flow

        return run(auth_code.initiate(self.state, scopes, **options), started)

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
    ) -> Plan[dict[str, Any]]:
        """Check the arguments; the flow dict (a discovery failure: ValueError)."""
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
        self.state.claims(claims_challenge)  # ValueError now for malformed JSON
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
    ) -> Plan[dict[str, Any]]:
        """Check the response against its flow (ValueError) and redeem its code."""
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
        return run(
            auth_code.redeem_auth_response(
                self.state,
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
    ) -> Plan[str]:
        """Deprecated (a warning): the URL of an authorization request."""
        warn_caller(
            "get_authorization_request_url() is deprecated: use initiate_auth_code_flow(), "
            "which adds PKCE, state and nonce protection",
            DeprecationWarning,
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
        self.state.claims(claims_challenge)
        authority: Authority = self.authority
        other = kwargs.pop("authority", None)
        if other:
            warn_caller(
                "authority= in get_authorization_request_url() is honoured for compatibility "
                "but tokens are still redeemed with the app's own authority",
                UserWarning,
            )
            authority = self.authority.sibling(
                parse_authority(other, validate_authority=self.authority.parsed.validate)
            )
        return run(
            auth_code.authorization_request_url(
                self.state,
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
            ),
            _request_url(authority.parsed.url),
        )

    def acquire_token_by_authorization_code(
        self,
        code: str,
        scopes: list[str],
        redirect_uri: Optional[str] = None,
        nonce: Optional[str] = None,
        claims_challenge: Optional[str] = None,
        forwarded_client_claims: Optional[str] = None,
        **kwargs: Any,
    ) -> Plan[dict[str, Any]]:
        """Deprecated (a warning): redeem a code obtained without a flow dict."""
        if not isinstance(scopes, list):
            raise AssertionError("scopes must be a list of scope strings")
        warn_caller(
            "acquire_token_by_authorization_code() is deprecated: use "
            "initiate_auth_code_flow() and acquire_token_by_auth_code_flow()",
            DeprecationWarning,
        )
        if not isinstance(code, str) or not code:
            raise ValueError("code must be the authorization code string")
        code = hide(code)
        decorated = self._user_scopes(scopes)
        _check_optional_str(redirect_uri, "redirect_uri")
        _check_optional_str(nonce, "nonce")
        if forwarded_client_claims is not None and not isinstance(forwarded_client_claims, str):
            raise ValueError("forwarded_client_claims must be a JSON object string")
        claims = self.state.claims(claims_challenge, forwarded_client_claims)
        return run(
            auth_code.redeem_code(
                self.state,
                code,
                decorated,
                redirect_uri=redirect_uri,
                nonce=nonce,
                claims=claims,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )
