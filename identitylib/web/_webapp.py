"""Signing users in to a web app, and tokens for them: the framework-neutral core.

:class:`WebAppAuth` (blocking: Flask, Django) and :class:`AsyncWebAppAuth` (asyncio:
FastAPI, Starlette) take a confidential client's settings, as
``ConfidentialClientApplication`` does, and give a web adapter what it needs, each method
taking the request's session (any mutable mapping of JSON values):

* :meth:`~WebAppAuth.sign_in_url`: where to send a browser to sign in (or to consent to
  more scopes, or to satisfy a claims challenge), remembering where it came from;
* :meth:`~WebAppAuth.keep_form_post` and :meth:`~WebAppAuth.complete_sign_in`: the
  return from the provider;
* :meth:`~WebAppAuth.user`: the signed-in user, from the session alone;
* :meth:`~WebAppAuth.token_for_user`: a token for a downstream API, or
  :class:`SignInRequired`;
* :meth:`~WebAppAuth.sign_out_url`: forget the user (session and token cache) and the
  provider's sign-out URL;
* :meth:`~WebAppAuth.csrf_token` / :meth:`~WebAppAuth.csrf_valid` for the sign-out form.

The session holds no token, code or secret. Tokens live in the application's token cache,
partitioned per user (``TokenCache`` in memory for one process, ``RedisTokenCache`` for
many); pending sign-ins in a :class:`MemorySignInStore` or :class:`RedisSignInStore`.
Both classes run the same operations (``_operations.py``) with a blocking or an asyncio
driver.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from . import _operations, _session
from ._operations import SignedIn, SignInOptions
from ._session import Session, User
from ._steps import WebFlow, run_async, run_sync
from ._store import MemorySignInStore, SignInStore

#: ``response_mode`` of sign-ins: the code arrives in a POST body, never in a URL.
FORM_POST = "form_post"


class _WebAppBase:
    """What the blocking and the asyncio classes share: settings and the pure parts."""

    def __init__(
        self,
        client_id: str,
        client_credential: Any = None,
        *,
        authority: Optional[str] = None,
        oidc_authority: Optional[str] = None,
        scopes: Sequence[str] = (),
        user_flows: Optional[Mapping[str, str]] = None,
        token_cache: Any = None,
        sign_in_store: Optional[SignInStore] = None,
        response_mode: str = FORM_POST,
        application_factory: Callable[..., Any],
        **app_options: Any,
    ) -> None:
        if not client_id or not isinstance(client_id, str):
            raise ValueError("client_id must be the web app's application (client) id")
        if authority is None and oidc_authority is None:
            raise ValueError("Pass authority= (Entra ID, B2C, External ID) or oidc_authority=")
        if response_mode not in (FORM_POST, "query"):
            raise ValueError("response_mode must be 'form_post' (recommended) or 'query'")
        self.client_id = client_id
        self.scopes = list(scopes)
        self.response_mode = response_mode
        self.store: SignInStore = sign_in_store or MemorySignInStore()
        self._user_flows = dict(user_flows or {})
        self._factory = application_factory
        self._app_args: dict[str, Any] = dict(app_options)
        self._app_args["client_credential"] = client_credential
        if token_cache is not None:
            self._app_args["token_cache"] = token_cache
        self._authority = authority
        self._oidc_authority = oidc_authority
        self._apps: dict[Optional[str], Any] = {}
        self._lock = threading.Lock()
        self.application = self._make(None)
        if token_cache is None:  # every user flow's app shares the main app's cache
            self._app_args["token_cache"] = self.application.token_cache

    def _make(self, user_flow: Optional[str]) -> Any:
        if user_flow is None:
            args = {"authority": self._authority, "oidc_authority": self._oidc_authority}
        elif user_flow in self._user_flows:
            args = {"authority": self._user_flows[user_flow]}
        else:
            raise ValueError(f"unknown user flow {user_flow!r}: name it in user_flows=")
        app = self._factory(
            self.client_id, **{k: v for k, v in args.items() if v is not None}, **self._app_args
        )
        self._apps[user_flow] = app
        return app

    def app_for(self, user_flow: Optional[str] = None) -> Any:
        """The confidential client application of a B2C user flow (None: the main one)."""
        app = self._apps.get(user_flow)
        if app is None:
            with self._lock:
                app = self._apps.get(user_flow) or self._make(user_flow)
        return app

    @property
    def user_flows(self) -> list[str]:
        """The names of the B2C user flows besides sign-up/sign-in (``user_flows=``)."""
        return list(self._user_flows)

    def user(self, session: Mapping[str, Any]) -> Optional[User]:
        """The signed-in user (from the session alone: no I/O), or None."""
        return _session.user_of(session)

    def csrf_token(self, session: Session) -> str:
        """The session's token for state-changing forms (sign-out)."""
        return _session.csrf_token(session)

    def csrf_valid(self, session: Mapping[str, Any], token: Optional[str]) -> bool:
        """Whether a submitted form carries the session's CSRF token."""
        return _session.csrf_valid(session, token)

    def _begin(
        self,
        session: Session,
        redirect_uri: str,
        return_to: str,
        scopes: Optional[Sequence[str]],
        claims_challenge: Optional[str],
        prompt: Optional[str],
        login_hint: Optional[str],
        domain_hint: Optional[str],
        user_flow: Optional[str],
    ) -> WebFlow[str]:
        if user_flow is not None and user_flow not in self._user_flows:
            raise ValueError(f"unknown user flow {user_flow!r}")
        wanted = list(dict.fromkeys([*self.scopes, *(scopes or ())]))
        options = SignInOptions(
            wanted, claims_challenge, prompt, login_hint, domain_hint, user_flow
        )
        return _operations.begin_sign_in(
            session,
            redirect_uri=redirect_uri,
            return_to=_session.safe_return_url(return_to),
            options=options,
            response_mode=self.response_mode,
        )

    def _sign_out(self, session: Session, post_logout_redirect_uri: str) -> WebFlow[str]:
        return _operations.sign_out(
            session, client_id=self.client_id, post_logout_redirect_uri=post_logout_redirect_uri
        )


class WebAppAuth(_WebAppBase):
    """Sign-in, sign-out and tokens for the users of a web app (blocking API).

    Parameters: the web app's ``client_id`` and ``client_credential`` (a secret, a
    certificate dict or an assertion, as for ``ConfidentialClientApplication``),
    ``authority`` (Entra ID tenant, B2C sign-up/sign-in user flow, External ID) or
    ``oidc_authority`` (any OpenID Connect provider); ``scopes`` asked for at every sign-in
    (downstream APIs the app calls; ``openid profile offline_access`` are always asked);
    ``user_flows``: B2C user flows besides sign-up/sign-in, by name (e.g.
    ``{"edit_profile": ".../B2C_1_edit", "reset_password": ".../B2C_1_reset"}``);
    ``token_cache`` (default: in memory; ``RedisTokenCache`` for several processes);
    ``sign_in_store`` (default: :class:`MemorySignInStore`; :class:`RedisSignInStore` when
    the return may reach another process); ``response_mode`` (``form_post``); any other
    keyword goes to ``ConfidentialClientApplication`` (``verify``, ``http_client``,
    ``client_capabilities``, ...).
    """

    def __init__(self, client_id: str, client_credential: Any = None, **options: Any) -> None:
        from identitylib import ConfidentialClientApplication

        options.setdefault("application_factory", ConfidentialClientApplication)
        super().__init__(client_id, client_credential, **options)

    def sign_in_url(
        self,
        session: Session,
        *,
        redirect_uri: str,
        return_to: str = "/",
        scopes: Optional[Sequence[str]] = None,
        claims_challenge: Optional[str] = None,
        prompt: Optional[str] = None,
        login_hint: Optional[str] = None,
        domain_hint: Optional[str] = None,
        user_flow: Optional[str] = None,
    ) -> str:
        """Start a sign-in; the provider's URL to redirect the browser to. ``return_to``
        (a path of this app; anything else becomes ``/``) is where the user lands after."""
        operation = self._begin(
            session,
            redirect_uri,
            return_to,
            scopes,
            claims_challenge,
            prompt,
            login_hint,
            domain_hint,
            user_flow,
        )
        return run_sync(operation, self.app_for, self.store)

    def keep_form_post(self, form: Mapping[str, str]) -> str:
        """Keep a ``form_post`` response on the server; returns its ``state`` for the GET
        that completes the sign-in in the browser's session."""
        return run_sync(_operations.keep_form_post(form), self.app_for, self.store)

    def complete_sign_in(
        self,
        session: Session,
        *,
        state: Optional[str],
        response: Optional[Mapping[str, str]] = None,
    ) -> SignedIn:
        """Finish the sign-in ``state`` (``response``: the query of a ``query``-mode return;
        None: the response kept by :meth:`keep_form_post`). Raises :class:`SignInFailed`."""
        operation = _operations.complete_sign_in(session, state, response)
        return run_sync(operation, self.app_for, self.store)

    def token_for_user(
        self, session: Session, scopes: Sequence[str], *, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """A token result for the signed-in user; raises :class:`SignInRequired` when only
        a new sign-in (or consent) can give one."""
        operation = _operations.token_for_user(session, scopes, claims_challenge)
        return run_sync(operation, self.app_for, self.store)

    def sign_out_url(self, session: Session, *, post_logout_redirect_uri: str) -> str:
        """Forget the user (session, token cache); the provider's sign-out URL."""
        return run_sync(self._sign_out(session, post_logout_redirect_uri), self.app_for, self.store)


class AsyncWebAppAuth(_WebAppBase):
    """:class:`WebAppAuth` for asyncio frameworks, on ``identitylib.aio``: the same
    parameters (``sign_in_store`` needs an asyncio client when it is Redis), coroutines."""

    def __init__(self, client_id: str, client_credential: Any = None, **options: Any) -> None:
        from identitylib.aio import ConfidentialClientApplication

        options.setdefault("application_factory", ConfidentialClientApplication)
        super().__init__(client_id, client_credential, **options)

    async def sign_in_url(
        self,
        session: Session,
        *,
        redirect_uri: str,
        return_to: str = "/",
        scopes: Optional[Sequence[str]] = None,
        claims_challenge: Optional[str] = None,
        prompt: Optional[str] = None,
        login_hint: Optional[str] = None,
        domain_hint: Optional[str] = None,
        user_flow: Optional[str] = None,
    ) -> str:
        """See :meth:`WebAppAuth.sign_in_url`."""
        operation = self._begin(
            session,
            redirect_uri,
            return_to,
            scopes,
            claims_challenge,
            prompt,
            login_hint,
            domain_hint,
            user_flow,
        )
        return await run_async(operation, self.app_for, self.store)

    async def keep_form_post(self, form: Mapping[str, str]) -> str:
        """See :meth:`WebAppAuth.keep_form_post`."""
        return await run_async(_operations.keep_form_post(form), self.app_for, self.store)

    async def complete_sign_in(
        self,
        session: Session,
        *,
        state: Optional[str],
        response: Optional[Mapping[str, str]] = None,
    ) -> SignedIn:
        """See :meth:`WebAppAuth.complete_sign_in`."""
        operation = _operations.complete_sign_in(session, state, response)
        return await run_async(operation, self.app_for, self.store)

    async def token_for_user(
        self, session: Session, scopes: Sequence[str], *, claims_challenge: Optional[str] = None
    ) -> dict[str, Any]:
        """See :meth:`WebAppAuth.token_for_user`."""
        operation = _operations.token_for_user(session, scopes, claims_challenge)
        return await run_async(operation, self.app_for, self.store)

    async def sign_out_url(self, session: Session, *, post_logout_redirect_uri: str) -> str:
        """See :meth:`WebAppAuth.sign_out_url`."""
        operation = self._sign_out(session, post_logout_redirect_uri)
        return await run_async(operation, self.app_for, self.store)

    async def aclose(self) -> None:
        """Close the HTTP clients of the applications."""
        for app in list(self._apps.values()):
            await app.aclose()
