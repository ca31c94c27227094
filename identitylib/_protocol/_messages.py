"""Transport-neutral HTTP messages and the generator protocol that flows follow."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from identitylib._log import safe_repr

T = TypeVar("T")


@dataclass(frozen=True, init=False)
class HttpRequest:
    """An HTTP request a flow wants sent. ``data`` is form-encoded by the transport;
    ``content`` is a body sent as it is (the SOAP envelope of a WS-Trust request), instead
    of ``data``.

    ``one_time``: the request carries a credential the server accepts once (an authorization
    code, a refresh token that may rotate), or one that must not be tried twice (a password
    sent to a federation server, where every failed try counts towards a lockout). A
    transport never sends such a request again once the server may have read it (see
    ``_transport/_policy.py``).
    """

    def __repr__(self) -> str:  # every field; secret form fields and headers as '***'
        return safe_repr(self, hidden=("content",))

    method: str
    url: str
    params: Mapping[str, str] | None = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    one_time: bool = False
    content: bytes | None = None

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
        # The fields in one step (a frozen dataclass's own __init__ sets them one by one):
        # a flow makes one per token request. No ``headers``: none (an empty dict).
        object.__setattr__(
            self,
            "__dict__",
            {
                "method": method,
                "url": url,
                "params": params,
                "data": data,
                "headers": {} if headers is None else headers,
                "one_time": one_time,
                "content": content,
            },
        )

    @property
    def body(self) -> Mapping[str, str] | bytes | None:
        """What a transport sends as the body: ``content`` when set, else the form ``data``."""
        return self.data if self.content is None else self.content


@dataclass(frozen=True, init=False)
class HttpResponse:
    """What a transport got back: status, decoded body text and lower-cased headers."""

    status_code: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def __init__(
        self, status_code: int, text: str, headers: Mapping[str, str] | None = None
    ) -> None:
        # The fields in one step, as HttpRequest's: one per answer.
        object.__setattr__(
            self,
            "__dict__",
            {
                "status_code": status_code,
                "text": text,
                "headers": {} if headers is None else headers,
            },
        )

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
