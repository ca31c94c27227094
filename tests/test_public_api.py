"""identitylib's public surface matches msal's names and parameters (``import ... as msal``)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import identitylib

msal = pytest.importorskip("msal")
pytestmark = pytest.mark.msal

#: msal names whose identitylib counterpart comes with a later piece of work.
PENDING_NAMES = {
    "ManagedIdentityClient",
    "SystemAssignedManagedIdentity",
    "UserAssignedManagedIdentity",
    "ManagedIdentityError",
    "ArcPlatformNotSupportedError",
    "PopAuthScheme",
}
PENDING_METHODS = {
    "acquire_token_on_behalf_of",
    "acquire_token_by_user_federated_identity_credential",
    "is_pop_supported",
}
CLASSES = [
    "ClientApplication",
    "PublicClientApplication",
    "ConfidentialClientApplication",
    "TokenCache",
    "SerializableTokenCache",
]


def public_names(module: Any) -> set[str]:
    return {n for n in dir(module) if not n.startswith("_") and n[0].isupper()}


def test_every_msal_name_exists() -> None:
    missing = public_names(msal) - public_names(identitylib) - PENDING_NAMES
    assert not missing


def test_prompt_values() -> None:
    for name in ("NONE", "LOGIN", "CONSENT", "SELECT_ACCOUNT", "CREATE"):
        assert getattr(identitylib.Prompt, name) == getattr(msal.Prompt, name)


def _parameters(function: Any) -> list[str]:
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


@pytest.mark.parametrize("class_name", CLASSES)
def test_methods_and_parameters_match(class_name: str) -> None:
    ours, theirs = getattr(identitylib, class_name), getattr(msal, class_name)
    for name, member in inspect.getmembers(theirs, inspect.isfunction):
        if name.startswith("_") or name in PENDING_METHODS:
            continue
        assert hasattr(ours, name), f"{class_name}.{name} is missing"
        expected = _parameters(member)
        actual = _parameters(getattr(ours, name))
        # Every msal parameter exists here, in msal's order (identitylib may add keywords).
        assert [p for p in actual if p in expected] == expected, f"{class_name}.{name}"


def test_constructor_parameters_match() -> None:
    for class_name in CLASSES[:3]:
        expected = _parameters(getattr(msal, class_name).__init__)
        actual = _parameters(getattr(identitylib, class_name).__init__)
        assert set(expected) <= set(actual) | {"kwargs"}, class_name
