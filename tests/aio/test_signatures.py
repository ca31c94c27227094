"""Every public method of the blocking classes has an asyncio twin with the same
parameters: names, kinds (positional, keyword-only, ``**kwargs``), defaults and
annotations, compared with :func:`inspect.signature`. Both call the same builder, so a
parameter the blocking method gains must be written out in the twin too."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import pytest

import identitylib
from identitylib import aio

CLASSES = ["PublicClientApplication", "ConfidentialClientApplication", "ManagedIdentityClient"]

#: Methods the asyncio classes keep synchronous, and why.
SYNC_IN_BOTH = {
    # Pure: always False (proof-of-possession needs a broker); no I/O to await.
    "is_pop_supported": "answers a constant, no I/O",
    # Pure: a snapshot of counters kept in memory (identitylib extension, telemetry).
    "get_token_totals": "reads in-memory counters, no I/O",
}


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def shape(method: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in inspect.signature(method).parameters.values()
    ]


def twins() -> list[tuple[str, str]]:
    return [
        (class_name, name)
        for class_name in CLASSES
        for name in sorted(public_methods(getattr(identitylib, class_name)))
    ]


@pytest.mark.parametrize(("class_name", "name"), twins())
def test_the_async_twin_takes_the_same_parameters(class_name: str, name: str) -> None:
    blocking = public_methods(getattr(identitylib, class_name))[name]
    twin = public_methods(getattr(aio, class_name)).get(name)
    assert twin is not None, f"identitylib.aio.{class_name} has no {name}"
    assert shape(twin) == shape(blocking)
    assert inspect.signature(twin).return_annotation == (
        inspect.signature(blocking).return_annotation
    )


@pytest.mark.parametrize(("class_name", "name"), twins())
def test_the_async_twin_is_a_coroutine_unless_allowed(class_name: str, name: str) -> None:
    twin = public_methods(getattr(aio, class_name))[name]
    assert inspect.iscoroutinefunction(twin) is (name not in SYNC_IN_BOTH)
