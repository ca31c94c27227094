"""Describing which managed identity to use: msal's dict forms and classes.

An identity is a mapping ``{"ManagedIdentityIdType": ..., "Id": ...}``:
``SystemAssigned`` (``Id`` unused), or ``ClientId`` / ``ResourceId`` / ``ObjectId`` with a
non-empty ``Id``. The classes below are equal to those dicts, so a configuration loaded
from JSON and an object built in code are interchangeable. msal's classes are
``UserDict`` subclasses; these are ``dict`` subclasses (with ``UserDict``'s ``data``
attribute), so msal's own ``ManagedIdentityClient`` accepts them too and ``json.dumps``
takes them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from ._errors import ManagedIdentityError

ID_TYPE = "ManagedIdentityIdType"
ID = "Id"

SYSTEM_ASSIGNED = "SystemAssigned"
CLIENT_ID = "ClientId"
RESOURCE_ID = "ResourceId"
OBJECT_ID = "ObjectId"
USER_ASSIGNED_TYPES = (CLIENT_ID, RESOURCE_ID, OBJECT_ID)

#: The cache ``client_id`` of a system-assigned identity described without an ``Id`` key.
SYSTEM_ASSIGNED_CACHE_ID = "SYSTEM_ASSIGNED_MANAGED_IDENTITY"


class ManagedIdentity(dict[str, Any]):
    """Base of the two identity classes (a dict with ``ManagedIdentityIdType`` and ``Id``)."""

    ID_TYPE = ID_TYPE
    ID = ID
    CLIENT_ID = CLIENT_ID
    RESOURCE_ID = RESOURCE_ID
    OBJECT_ID = OBJECT_ID
    SYSTEM_ASSIGNED = SYSTEM_ASSIGNED

    def __init__(self, identifier: Optional[str] = None, id_type: Optional[str] = None) -> None:
        super().__init__({ID_TYPE: id_type, ID: identifier})

    @property
    def data(self) -> dict[str, Any]:
        """The mapping itself (``UserDict`` compatibility)."""
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"

    @classmethod
    def is_managed_identity(cls, unknown: Any) -> bool:
        """Whether ``unknown`` describes a managed identity."""
        try:
            describe_identity(unknown)
        except ManagedIdentityError:
            return False
        return True

    @classmethod
    def is_system_assigned(cls, unknown: Any) -> bool:
        """Whether ``unknown`` describes the system-assigned identity."""
        return cls.is_managed_identity(unknown) and unknown.get(ID_TYPE) == SYSTEM_ASSIGNED

    @classmethod
    def is_user_assigned(cls, unknown: Any) -> bool:
        """Whether ``unknown`` describes a user-assigned identity."""
        return cls.is_managed_identity(unknown) and unknown.get(ID_TYPE) != SYSTEM_ASSIGNED


class SystemAssignedManagedIdentity(ManagedIdentity):
    """The system-assigned identity: ``{"ManagedIdentityIdType": "SystemAssigned", "Id": None}``."""

    def __init__(self) -> None:
        super().__init__(id_type=SYSTEM_ASSIGNED)


class UserAssignedManagedIdentity(ManagedIdentity):
    """A user-assigned identity named by exactly one of ``client_id``, ``resource_id``,
    ``object_id`` (``ManagedIdentityError``, a ``ValueError``, otherwise)."""

    def __init__(
        self,
        *,
        client_id: Optional[str] = None,
        resource_id: Optional[str] = None,
        object_id: Optional[str] = None,
    ) -> None:
        given = [
            (id_type, value)
            for id_type, value in (
                (CLIENT_ID, client_id),
                (RESOURCE_ID, resource_id),
                (OBJECT_ID, object_id),
            )
            if value
        ]
        if len(given) != 1:
            raise ManagedIdentityError(
                "You shall specify one of the three parameters: client_id, resource_id, object_id"
            )
        id_type, value = given[0]
        if not isinstance(value, str):
            raise ManagedIdentityError(f"the {id_type} of a managed identity must be a string")
        super().__init__(identifier=value, id_type=id_type)


@dataclass(frozen=True)
class IdentitySpec:
    """A validated identity: its type, its id (None for system-assigned) and cache id."""

    id_type: str
    id: Optional[str]
    cache_client_id: Optional[str]

    @property
    def is_user_assigned(self) -> bool:
        return self.id_type != SYSTEM_ASSIGNED

    def selector(self, names: Mapping[str, str]) -> dict[str, str]:
        """The query parameter naming a user-assigned identity (``names``: type -> name)."""
        if not self.is_user_assigned or self.id is None:
            return {}
        name = names.get(self.id_type)
        return {name: self.id} if name else {}

    def describe(self) -> str:
        """A log-safe description."""
        return "system-assigned" if not self.is_user_assigned else f"user-assigned {self.id_type}"


def describe_identity(managed_identity: Any) -> IdentitySpec:
    """Validate an identity mapping; ``ManagedIdentityError`` if it is not one.

    The cache ``client_id`` follows msal exactly so that caches are shared: the ``Id``
    value when the mapping has an ``Id`` key (``None`` for ``SystemAssignedManagedIdentity()``),
    else ``"SYSTEM_ASSIGNED_MANAGED_IDENTITY"``.
    """
    if not isinstance(managed_identity, Mapping):
        raise ManagedIdentityError(f"Incorrect managed_identity: {managed_identity!r}")
    id_type = managed_identity.get(ID_TYPE)
    identifier = managed_identity.get(ID)
    if id_type == SYSTEM_ASSIGNED:
        if identifier is not None and not isinstance(identifier, str):
            raise ManagedIdentityError(f"Incorrect managed_identity: {dict(managed_identity)!r}")
        cache_id = identifier if ID in managed_identity else SYSTEM_ASSIGNED_CACHE_ID
        return IdentitySpec(SYSTEM_ASSIGNED, None, cache_id)
    if id_type in USER_ASSIGNED_TYPES and isinstance(identifier, str) and identifier.strip():
        return IdentitySpec(id_type, identifier, identifier)
    raise ManagedIdentityError(f"Incorrect managed_identity: {dict(managed_identity)!r}")
