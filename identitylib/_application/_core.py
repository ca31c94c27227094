"""What every method mixin of the application classes may rely on."""

from __future__ import annotations

from typing import Any, TypeVar

from identitylib._authority import Authority
from identitylib._flows._state import AppState
from identitylib._protocol._messages import Flow

T = TypeVar("T")


class AppCore:
    """Attributes set by ``ClientApplication.__init__``, declared for the mixins."""

    client_id: str
    authority: Authority
    token_cache: Any
    _state: AppState

    def _run(self, flow: Flow[T]) -> T:  # pragma: no cover
        raise NotImplementedError
