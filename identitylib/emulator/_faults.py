"""Fault injection: make the emulator slow, failing, throttling or demanding, on purpose.

One ``Faults`` object belongs to an emulator; tests change it while the server runs.
HTTP-level faults (latency, injected statuses) are applied by the server before the
model sees a request; token-level faults (lifetimes, MFA) are read by the model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Optional

#: Longest a request is held (seconds) when a test never releases it.
HOLD_LIMIT = 30.0
HOLD_POLL = 0.05


@dataclass
class InjectedFailure:
    """Answer the next ``count`` matching requests with ``status`` instead of the real reply."""

    status: int
    count: int = 1
    path_contains: str = ""
    retry_after: Optional[int] = None
    body: Optional[dict[str, Any]] = None
    text: Optional[str] = None
    #: Close the connection without an answer (``status`` is then unused).
    drop: bool = False


@dataclass
class Faults:
    """The faults in force. Thread-safe; ``reset()`` returns to normal behaviour."""

    latency: float = 0.0  #: seconds to wait before every answer
    access_token_lifetime: Optional[int] = None  #: overrides the configured lifetime
    refresh_in: Optional[int] = None  #: adds ``refresh_in`` to token responses
    mfa_required: bool = False  #: user-token requests get interaction_required + claims
    #: the demo API (``/demo-api/me``) answers 401 with a claims challenge until the
    #: token carries the authentication context ``acrs`` it asks for
    api_claims_challenge: bool = False
    #: the federation server (WS-Trust) issues SAML 2.0 assertions instead of SAML 1.1
    federation_saml2: bool = False
    _failures: list[InjectedFailure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    #: the path part of held requests (None: nothing is held), see :meth:`hold`
    _hold_path: Optional[str] = None
    _gate: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    _holding: int = 0

    def inject(
        self,
        status: int,
        *,
        count: int = 1,
        path_contains: str = "",
        retry_after: Optional[int] = None,
        body: Optional[dict[str, Any]] = None,
        text: Optional[str] = None,
    ) -> None:
        """Fail the next ``count`` requests whose path contains ``path_contains``."""
        with self._lock:
            self._failures.append(
                InjectedFailure(status, count, path_contains, retry_after, body, text)
            )

    def drop(self, *, count: int = 1, path_contains: str = "") -> None:
        """Read the next ``count`` requests whose path contains ``path_contains`` in full,
        then close the connection without answering: the request was received, and the
        client cannot know whether it was acted on (a server that crashed, a proxy that gave
        up)."""
        with self._lock:
            self._failures.append(InjectedFailure(0, count, path_contains, drop=True))

    def hold(self, *, path_contains: str = "") -> None:
        """Keep every request whose path contains ``path_contains`` unanswered until
        :meth:`release` (or :meth:`reset`, or the emulator stopping, or
        :data:`HOLD_LIMIT` seconds), then answer it normally: a request in flight that a
        test can see (:attr:`holding`) for as long as it needs."""
        with self._lock:
            self._gate.clear()
            self._hold_path = path_contains

    def release(self) -> None:
        """Answer the held requests and hold no more."""
        with self._lock:
            self._hold_path = None
            self._gate.set()

    @property
    def holding(self) -> int:
        """How many requests are being held right now."""
        with self._lock:
            return self._holding

    def wait_if_held(self, path: str, stopping: threading.Event) -> None:
        """Hold a request to ``path`` while :meth:`hold` says so (the server calls this)."""
        with self._lock:
            if self._hold_path is None or self._hold_path not in path:
                return
            self._holding += 1
        try:
            for _ in range(int(HOLD_LIMIT / HOLD_POLL)):
                if self._gate.wait(HOLD_POLL) or stopping.is_set():
                    return
        finally:
            with self._lock:
                self._holding -= 1

    def take_failure(self, path: str) -> Optional[InjectedFailure]:
        """The injected failure for a request to ``path``, consuming one use of it."""
        with self._lock:
            for failure in self._failures:
                if failure.path_contains in path:
                    failure.count -= 1
                    if failure.count <= 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def reset(self) -> None:
        """No faults."""
        with self._lock:
            self.latency = 0.0
            self.access_token_lifetime = None
            self.refresh_in = None
            self.mfa_required = False
            self.api_claims_challenge = False
            self.federation_saml2 = False
            self._failures.clear()
            self._hold_path = None
            self._gate.set()
