"""Scope validation and the decoration MSAL applies to user flows."""

from __future__ import annotations

from collections.abc import Collection, Iterable

#: Scopes the library adds to user flows itself; apps may not pass them.
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})


def validate_scopes(scopes: object, *, name: str = "scopes") -> list[str]:
    """Return ``scopes`` as a list of strings or raise ValueError/TypeError saying why."""
    if isinstance(scopes, str):
        raise ValueError(
            f"{name} must be a list of scope strings, not a single string; "
            f"write [{scopes!r}] instead of {scopes!r}"
        )
    if not isinstance(scopes, (list, set, tuple, frozenset)):
        raise ValueError(
            f"{name} must be a list, tuple or set of strings, got {type(scopes).__name__}"
        )
    result: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str):
            raise TypeError(f"every scope must be a string, got {type(scope).__name__}")
        stripped = scope.strip()
        if stripped:
            result.append(stripped)
    return result


def reject_reserved(scopes: Iterable[str]) -> None:
    """Raise ValueError if an app passed one of the reserved OIDC scopes."""
    for scope in scopes:  # (a loop: no generator frame nor sort for the usual none)
        if scope.lower() in RESERVED_SCOPES:
            break
    else:
        return
    reserved = sorted(s for s in scopes if s.lower() in RESERVED_SCOPES)
    if reserved:
        raise ValueError(
            f"Remove the reserved scopes {reserved} from your request: the library adds "
            f"{sorted(RESERVED_SCOPES)} to user sign-in requests itself"
        )


class WireOrdered(list[str]):
    """A list of scopes known to be de-duplicated and sorted, as :func:`decorate` makes
    them: :func:`to_wire` joins it as it is."""

    __slots__ = ()


def decorate(
    scopes: Collection[str], exclude: Collection[str] = (), *, checked: bool = False
) -> list[str]:
    """Add the reserved OIDC scopes (minus ``exclude``) to a user flow's scopes
    (``checked``: the caller has rejected reserved ones already, see
    :func:`reject_reserved`), sorted and de-duplicated (a :class:`WireOrdered`)."""
    if not checked:
        reject_reserved(scopes)
    decorated = set(scopes) | RESERVED_SCOPES
    if exclude:
        decorated.difference_update(exclude)
    ordered = WireOrdered(decorated)
    ordered.sort()
    return ordered


def to_wire(scopes: Iterable[str]) -> str:
    """Scopes as sent on the wire: de-duplicated, sorted, space-joined (a list of one
    scope, the usual app-token request: that scope, nothing to sort; a
    :class:`WireOrdered` list, a user flow's decorated scopes: joined as it is)."""
    if type(scopes) is WireOrdered:
        return " ".join(scopes)
    if type(scopes) is list and len(scopes) == 1 and type(scopes[0]) is str:
        return scopes[0]
    return " ".join(sorted(set(scopes)))


def from_wire(scope: str) -> list[str]:
    """Split a space-separated scope string."""
    return scope.split()
