"""Transport-neutral HTTP messages and the generator protocol that flows follow."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, Union

T = TypeVar("T")


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request a flow wants sent. ``data`` is form-encoded by the transport."""

    method: str
    url: str
    params: Mapping[str, str] | None = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpResponse:
    """What a transport got back: status, decoded body text and lower-cased headers."""

    status_code: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class Wait:
    """A pause a flow asks for (device-code polling); the driver sleeps, then sends WAITED."""

    seconds: float


#: What a driver sends back into a flow after a :class:`Wait`.
WAITED = HttpResponse(0, "")

#: What a flow may yield: a request to send, or a pause.
Step = Union[HttpRequest, Wait]

#: A flow yields steps, is sent the responses, and returns its result.
#: A transport failure is thrown into the flow at the ``yield`` so it may recover.
Flow = Generator[Step, HttpResponse, T]
