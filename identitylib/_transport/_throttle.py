"""Answering an identical failing token request locally for a short while (as msal does).

An app that retries a failing token request in a tight loop must not hammer the server.
After a POST ends (retries included) with one of these answers, the *identical* request
(same method, URL, query and form fields) made again within the window gets the same
answer replayed from memory, with no network traffic:

* HTTP 429: for its ``Retry-After`` (5 s when absent or unusable, at most an hour).
* HTTP 400 without ``Retry-After`` (``invalid_grant``, ``interaction_required``,
  ``invalid_client``, ...): 60 s for a public client, 5 s for a confidential client (a
  request carrying ``client_secret``, ``client_assertion`` or an ``Authorization``
  header), whose answers can change as soon as an administrator fixes a setting. Not a
  400 whose OAuth error says to try again (``temporarily_unavailable``, ``server_error``),
  nor device code polling (``authorization_pending`` is a 400): its pace is the
  device-code flow's business.

Never throttled: 5xx answers (transient by nature: the transport already retried once, and
an app's own retry deserves a fresh attempt, not a replay), successes, redirects, GETs, and
requests with a raw body (a WS-Trust envelope: it holds a password, and its message id and
timestamps make each one unique anyway).

Records live in the app's ``http_cache`` when given (so they survive a restart, as msal's
do), otherwise in the transport's memory. Keys are ``identitylib-throttle`` followed by
the method, the URL and a SHA-256 digest of the query, the form fields and any
``Authorization`` header; a request carrying
a ``password`` (ROPC) is remembered in memory only, so a digest of a password is never
written to a persisted ``http_cache``. Bodies larger than :data:`MAX_REPLAY_BODY` are not
remembered. The in-memory store keeps at most :data:`MAX_MEMORY_RECORDS` records.

Those are the rules of :data:`TOKEN_RULE`, the default. A :class:`ThrottleRule` given as
``rule=`` says otherwise which requests are throttled and for how long (the managed-identity
client's, ``identitylib/_managed_identity/_throttle.py``); storage, keys, expiry and the
memory bound stay the same.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from identitylib._log import get_logger, safe_url
from identitylib._protocol._messages import HttpRequest, HttpResponse

from ._policy import header, parse_retry_after

logger = get_logger(__name__)

PREFIX = "identitylib-throttle "
#: Window after a 400 answer to a public client (no client credential in the request).
PUBLIC_CLIENT_SECONDS = 60.0
#: Window after a 400 answer to a confidential client.
CONFIDENTIAL_CLIENT_SECONDS = 5.0
#: Window after a 429 without a usable ``Retry-After``.
DEFAULT_RETRY_AFTER = 5.0
#: Longest window, whatever ``Retry-After`` says.
MAX_SECONDS = 3600.0
#: Largest response body remembered for replay, in characters.
MAX_REPLAY_BODY = 64 * 1024
#: How many records the in-memory store keeps (oldest dropped first).
MAX_MEMORY_RECORDS = 1024

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: OAuth errors that say "try again": never replayed, whatever the status.
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
_CONFIDENTIAL_FIELDS = ("client_secret", "client_assertion")


def request_key(request: HttpRequest) -> str:
    """The throttling key of a request: method, URL and a digest of its fields."""
    # A digest, never the fields: the key may be persisted in the app's http_cache.
    digest = hashlib.sha256()
    for part in (request.params, request.data):
        digest.update(repr(sorted((str(k), str(v)) for k, v in (part or {}).items())).encode())
        digest.update(b"\x00")
    digest.update(str(header(request.headers, "authorization") or "").encode())
    return f"{PREFIX}{request.method.upper()} {request.url} {digest.hexdigest()}"


def is_confidential(request: HttpRequest) -> bool:
    """Whether the request authenticates a confidential client."""
    data = request.data or {}
    return any(name in data for name in _CONFIDENTIAL_FIELDS) or (
        header(request.headers, "authorization") is not None
    )


def is_token_post(request: HttpRequest) -> bool:
    """Whether :data:`TOKEN_RULE` may throttle the request: a form POST."""
    return request.method.upper() == "POST" and request.content is None


#: The only answers the token rule remembers.
THROTTLED_STATUSES = frozenset({400, 429})


def throttle_seconds(request: HttpRequest, response: HttpResponse, now: float) -> float:
    """How long the identical request should be answered locally (0: not at all)."""
    status = response.status_code
    if status not in THROTTLED_STATUSES or not is_token_post(request):
        return 0.0  # (a success, every token response: decided first)
    retry_after = header(response.headers, "retry-after")
    if status == 429:
        seconds = parse_retry_after(retry_after, now)
        return min(MAX_SECONDS, DEFAULT_RETRY_AFTER if seconds is None else seconds)
    if status == 400 and retry_after is None:
        if (request.data or {}).get("grant_type") == DEVICE_CODE_GRANT:
            return 0.0
        if _oauth_error(response) in TRANSIENT_ERRORS:
            return 0.0
        return CONFIDENTIAL_CLIENT_SECONDS if is_confidential(request) else PUBLIC_CLIENT_SECONDS
    return 0.0


def _oauth_error(response: HttpResponse) -> Optional[str]:
    if len(response.text) > MAX_REPLAY_BODY:
        return None
    try:
        body = json.loads(response.text)
    except (ValueError, RecursionError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


@dataclass(frozen=True)
class ThrottleRule:
    """Which requests a :class:`Throttle` answers locally (``applies``), and for how many
    seconds after an answer (``seconds(request, response, now)``, 0: not remembered);
    ``statuses``: the only statuses whose answers ``seconds`` may remember (None: any)."""

    applies: Callable[[HttpRequest], bool]
    seconds: Callable[[HttpRequest, HttpResponse, float], float]
    statuses: Optional[frozenset[int]] = None


#: The token requests' rule (see the module docstring).
TOKEN_RULE = ThrottleRule(is_token_post, throttle_seconds, THROTTLED_STATUSES)


class Throttle:
    """Remembered failing answers, per request key, until their window ends.

    Two attributes let a transport leave out the calls that cannot do anything (the path
    of every successful request): ``may_replay`` is False while nothing can be replayed
    (no ``http_cache``, and nothing recorded yet: :meth:`check` would answer None), and
    ``statuses`` names the only statuses :meth:`record` may remember (None: any). A
    subclass whose own :meth:`check` may answer what :meth:`record` did not store sets
    ``may_replay`` True (and ``statuses`` None if its ``record`` keeps other answers).
    """

    def __init__(
        self,
        http_cache: Optional[MutableMapping[Any, Any]] = None,
        *,
        clock: Callable[[], float] = time.time,
        rule: ThrottleRule = TOKEN_RULE,
    ) -> None:
        self._rule = rule
        self._persisted = http_cache
        self._memory: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        #: False while :meth:`check` answers None whatever it is asked (set once for good).
        self.may_replay = http_cache is not None
        #: The statuses whose answers :meth:`record` may remember (None: any).
        self.statuses: Optional[frozenset[int]] = rule.statuses

    @property
    def uses_http_cache(self) -> bool:
        """Whether records may go to an app's ``http_cache``, whose access may block (a
        ``shelve`` on disk): asyncio callers then run :meth:`check` and :meth:`record` in a
        worker thread."""
        return self._persisted is not None

    def _store_for(self, request: HttpRequest) -> MutableMapping[Any, Any]:
        if self._persisted is not None and "password" not in (request.data or {}):
            return self._persisted
        return self._memory

    def check(self, request: HttpRequest) -> Optional[HttpResponse]:
        """The remembered answer for this request if its window is still open."""
        if self._persisted is None and not self._memory:
            return None  # Nothing remembered anywhere: the path of every request.
        if not self._rule.applies(request):
            return None
        store = self._store_for(request)
        if store is self._memory and not store:
            return None  # Nothing remembered: no key to compute (the path of every request).
        key = request_key(request)
        now = self._clock()
        try:
            with self._lock:
                record = store.get(key)
        except Exception as exc:  # a shelve or a custom mapping may fail
            logger.warning("Could not read http_cache: %s", type(exc).__name__)
            return None
        response = _from_record(record, now)
        if response is None and record is not None:
            self._forget(store, key)
        if response is not None:
            logger.info(
                "HTTP %s %s answered locally: the identical request failed moments ago (HTTP %s)",
                request.method,
                safe_url(request.url),
                response.status_code,
            )
        return response

    def record(self, request: HttpRequest, response: HttpResponse) -> None:
        """Remember ``response`` for ``request`` if it deserves throttling."""
        statuses = self.statuses
        if statuses is not None and response.status_code not in statuses:
            return  # (every success of a token request: decided first)
        now = self._clock()
        seconds = self._rule.seconds(request, response, now) if self._rule.applies(request) else 0.0
        if seconds <= 0 or len(response.text) > MAX_REPLAY_BODY:
            return
        store = self._store_for(request)
        record = {
            "expires_at": now + seconds,
            "status": response.status_code,
            "text": response.text,
            "headers": dict(response.headers),
        }
        try:
            with self._lock:
                store[request_key(request)] = record
                self.may_replay = True
                if store is self._memory and len(self._memory) > MAX_MEMORY_RECORDS:
                    self._memory.pop(next(iter(self._memory)))
        except Exception as exc:
            logger.warning("Could not write http_cache: %s", type(exc).__name__)

    def _forget(self, store: MutableMapping[Any, Any], key: str) -> None:
        try:
            with self._lock:
                store.pop(key, None)
        except Exception as exc:
            logger.warning("Could not update http_cache: %s", type(exc).__name__)


class NoThrottle(Throttle):
    """A throttle that never answers locally nor remembers anything, for transports whose
    callers throttle a whole call rather than each request (managed identity, whose IMDS
    retries are its flow's: ``_managed_identity/_throttle.py``)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses = frozenset()

    def check(self, request: HttpRequest) -> Optional[HttpResponse]:
        """Never a remembered answer."""
        return None

    def record(self, request: HttpRequest, response: HttpResponse) -> None:
        """Remember nothing."""


def _from_record(record: Any, now: float) -> Optional[HttpResponse]:
    if not isinstance(record, Mapping):
        return None
    expires_at, status = record.get("expires_at"), record.get("status")
    text, headers = record.get("text"), record.get("headers")
    if (
        not isinstance(expires_at, (int, float))
        or isinstance(status, bool)
        or not isinstance(status, int)
        or not isinstance(text, str)
        or not isinstance(headers, Mapping)
        or expires_at <= now
        or expires_at > now + MAX_SECONDS  # a record from the future is not believed
    ):
        return None
    return HttpResponse(status, text, {str(k): str(v) for k, v in headers.items()})
