"""Everything a flow needs to know about the application it runs for."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from identitylib._authority import Authority
from identitylib._cache._own import has_access_hooks
from identitylib._credential import ClientCredential
from identitylib._protocol._claims import merge_claims
from identitylib._protocol._request import client_headers, new_request_id


@dataclass
class AppState:
    """Configuration and collaborators of one application object (shared by sync and async)."""

    client_id: str
    authority: Authority
    token_cache: Any
    credential: ClientCredential | None = None
    client_capabilities: Sequence[str] = ()
    exclude_scopes: frozenset[str] = frozenset()
    app_name: str | None = None
    app_version: str | None = None
    enable_pii_log: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: The credential's form fields, secrets hidden, kept from the first token request
    #: on when they are the same for every request (``ClientCredential.fixed_fields``).
    fixed_auth: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    #: The client headers before and after ``client-request-id``: the same for every
    #: request of the app (made on first use).
    _header_parts: tuple[dict[str, str], dict[str, str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    #: Whether ``token_cache`` has access hooks, once asked (see :meth:`cache_has_hooks`).
    _cache_hooks: bool | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def environment(self) -> str:
        """The cache ``environment`` of this app's authority (see ``Authority.environment``)."""
        return self.authority.environment

    @property
    def cache_environments(self) -> tuple[str, ...]:
        """Where MSAL libraries cache this app's tokens (``Authority.cache_environments``)."""
        return self.authority.cache_environments

    #: Whether the clock (``now``) of any state was replaced (tests do; see
    #: :func:`unchanged_clocks`).
    clocks_replaced: ClassVar[bool] = False

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "now":
            note_replaced_clock()
        object.__setattr__(self, name, value)

    #: Current time (a seam for tests): ``time.time`` itself, no frame of ours around it.
    now = staticmethod(time.time)

    #: A fresh ``client-request-id`` (a random UUID): ``new_request_id`` itself.
    new_correlation_id = staticmethod(new_request_id)

    def headers(
        self, correlation_id: str, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Client headers for a token request, plus any ``headers=`` the app passed (a new
        dict each time, from the parts every request of the app shares)."""
        parts = self._header_parts
        if parts is None:
            parts = self._header_parts = _header_parts(self.app_name, self.app_version)
        head, tail = parts
        if extra:
            return {**head, "client-request-id": correlation_id, **tail, **extra}
        return {**head, "client-request-id": correlation_id, **tail}

    def cache_has_hooks(self) -> bool:
        """Whether ``token_cache`` has access hooks (``_cache._own.has_access_hooks``),
        asked once per state: what decides it (the cache's class, the hooks it was made
        with) does not change afterwards, and another cache is another state."""
        hooks = self._cache_hooks
        if hooks is None:
            hooks = self._cache_hooks = has_access_hooks(self.token_cache)
        return hooks

    def claims(
        self, claims_challenge: str | None, forwarded_client_claims: str | None = None
    ) -> str | None:
        """The ``claims`` parameter: capabilities merged with a challenge and forwarded claims
        (None, without a merge, when there is none of them: most calls)."""
        if not (claims_challenge or forwarded_client_claims or self.client_capabilities):
            return None
        return merge_claims(claims_challenge, self.client_capabilities, forwarded_client_claims)


_CLOCK = AppState.now


def _header_parts(
    app_name: str | None, app_version: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """``client_headers`` split around its ``client-request-id``."""
    head: dict[str, str] = {}
    tail: dict[str, str] = {}
    part = head
    for name, value in client_headers("", app_name=app_name, app_version=app_version).items():
        if name == "client-request-id":
            part = tail
        else:
            part[name] = value
    return head, tail


def note_replaced_clock() -> None:
    """A state's clock (an ``AppState``'s, or another state's whose cache hits the same
    path answers: a managed identity client's) was replaced: hits read it from now on."""
    AppState.clocks_replaced = True


def unchanged_clocks() -> bool:
    """Whether every state's ``now()`` is ``time.time()``: no state's clock was replaced,
    nor the class's. Until one is, a cache hit reads the time itself, without fetching
    its app's state from memory (see ``_hit_memo.HitMemo``): the same time either way."""
    return not AppState.clocks_replaced and AppState.now is _CLOCK
