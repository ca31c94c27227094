"""Transport-neutral HTTP messages and the generator protocol that flows follow."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar, Union

from identitylib._log import safe_repr

T = TypeVar("T")


@dataclass(init=False)
class HttpRequest:
    """An HTTP request a flow wants sent. ``data`` is form-encoded by the transport;
    ``content`` is a body sent as it is (the SOAP envelope of a WS-Trust request), instead
    of ``data``.

    ``one_time``: the request carries a credential the server accepts once (an authorization
    code, a refresh token that may rotate), or one that must not be tried twice (a password
    sent to a federation server, where every failed try counts towards a lockout). A
    transport never sends such a request again once the server may have read it (see
    ``_transport/_policy.py``).

    Its fields are final (mypy refuses an assignment) slots, set by ``__init__`` as plain
    attributes: a flow makes one per token request, and a frozen dataclass sets each
    field, or its ``__dict__``, through ``object.__setattr__``.
    """

    # (declared, not made by ``dataclass(slots=True)``: Python 3.9 has no such option)
    __slots__ = ("content", "data", "headers", "method", "one_time", "params", "url")

    def __repr__(self) -> str:  # every field; secret form fields and headers as '***'
        return safe_repr(self, hidden=("content",))

    method: Final[str]
    url: Final[str]
    params: Final[Mapping[str, str] | None]
    data: Final[Mapping[str, str] | None]
    headers: Final[Mapping[str, str]]
    one_time: Final[bool]
    content: Final[bytes | None]

    def __init__(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        one_time: bool = False,
        content: bytes | None = None,
    ) -> None:
        # No ``headers``: none (an empty dict).
        self.method = method
        self.url = url
        self.params = params
        self.data = data
        self.headers = {} if headers is None else headers
        self.one_time = one_time
        self.content = content

    @property
    def body(self) -> Mapping[str, str] | bytes | None:
        """What a transport sends as the body: ``content`` when set, else the form ``data``."""
        return self.data if self.content is None else self.content


@dataclass(init=False)
class HttpResponse:
    """What a transport got back: status, decoded body text and lower-cased headers (final
    slots, as :class:`HttpRequest`'s: one per answer)."""

    __slots__ = ("headers", "status_code", "text")

    status_code: Final[int]
    text: Final[str]
    headers: Final[Mapping[str, str]]

    def __init__(
        self, status_code: int, text: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status_code = status_code
        self.text = text
        self.headers = {} if headers is None else headers

    def __repr__(self) -> str:  # the body may hold tokens: its length only
        return safe_repr(self, hidden=("text",))

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class Wait:
    """A pause a flow asks for (device-code polling); the driver sleeps, then sends WAITED."""

    seconds: float


@dataclass(frozen=True)
class CacheHook:
    """Open (``entering``) or close the access of a token cache with access hooks: the
    driver runs the hooks (and holds the cache's lock) there, the flow never does; hooks
    that are coroutines only the asyncio driver can await. The driver then sends WAITED.
    Flows yield it through ``_flows._cache_hooks.in_cache``."""

    cache: Any
    partition_key: str | None
    client_id: str
    is_app_cache: bool
    entering: bool


#: What a driver sends back into a flow after a :class:`Wait` or a :class:`CacheHook`.
WAITED = HttpResponse(0, "")

#: What a flow may yield: a request to send, a pause, or a cache access to open or close.
Step = Union[HttpRequest, Wait, CacheHook]

#: A flow yields steps, is sent the responses, and returns its result.
#: A transport failure is thrown into the flow at the ``yield`` so it may recover.
Flow = Generator[Step, HttpResponse, T]
