"""The ``claims`` request parameter: client capabilities and the emulator's MFA challenge.

MFA model (deliberately simple): when ``Faults.mfa_required`` or ``User.mfa_required`` is
set, a user token is only issued for a sign-in that satisfied :data:`MFA_CLAIMS` -- i.e. a
fresh sign-in (``/authorize``, ROPC, device login) whose request ``claims`` carried that
challenge (its ``capolids`` value ``c1``), recorded as ``amr: ["pwd", "mfa"]``. Refresh
tokens and OBO assertions inherit the ``amr`` of the sign-in they came from. Anything else
gets ``interaction_required`` AADSTS50079, ``suberror: basic_action`` and ``claims``.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ._errors import OAuthError, malformed

#: The policy id the emulator's challenge names.
MFA_POLICY_ID = "c1"
#: The challenge sent in ``claims`` and expected back in the next sign-in's ``claims``.
MFA_CLAIMS = json.dumps(
    {"access_token": {"capolids": {"essential": True, "values": [MFA_POLICY_ID]}}},
    separators=(",", ":"),
)
PASSWORD_ONLY = ("pwd",)
WITH_MFA = ("pwd", "mfa")


def parse_claims(text: Optional[str]) -> dict[str, Any]:
    """The ``claims`` parameter as a JSON object ({} when absent); malformed → OAuthError."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise malformed("The 'claims' parameter is not valid JSON.") from None
    if not isinstance(value, dict):
        raise malformed("The 'claims' parameter must be a JSON object.")
    return value


def _access_token_claims(claims: dict[str, Any]) -> dict[str, Any]:
    section = claims.get("access_token")
    return section if isinstance(section, dict) else {}


def _values(request: Any) -> list[str]:
    if not isinstance(request, dict):
        return []
    values = request.get("values")
    if isinstance(values, list):
        return [str(v) for v in values]
    value = request.get("value")
    return [str(value)] if value is not None else []


def satisfies_mfa(claims: dict[str, Any]) -> bool:
    """True when ``claims`` answers the emulator's MFA challenge."""
    return MFA_POLICY_ID in _values(_access_token_claims(claims).get("capolids"))


def sign_in_amr(claims: dict[str, Any]) -> tuple[str, ...]:
    """The ``amr`` a fresh password sign-in earns given its request ``claims``."""
    return WITH_MFA if satisfies_mfa(claims) else PASSWORD_ONLY


def client_capabilities(*claims: dict[str, Any]) -> list[str]:
    """The lower-cased ``xms_cc`` values declared in any of ``claims``."""
    found: list[str] = []
    for item in claims:
        for value in _values(_access_token_claims(item).get("xms_cc")):
            if value.lower() not in found:
                found.append(value.lower())
    return found


def require_mfa(mfa_demanded: bool, amr: tuple[str, ...] | list[str]) -> None:
    """Raise the MFA claims challenge when MFA is demanded and ``amr`` lacks ``mfa``."""
    if mfa_demanded and "mfa" not in amr:
        raise OAuthError(
            "interaction_required",
            50079,
            "Due to a configuration change made by your administrator, or because you moved "
            "to a new location, you must enroll in multi-factor authentication to access "
            "this resource.",
            suberror="basic_action",
            claims=MFA_CLAIMS,
        )


def requested_acrs(claims: dict[str, Any]) -> tuple[str, ...]:
    """The authentication context ids (``access_token.acrs``) that ``claims`` asks for."""
    found: list[str] = []
    for value in _values(_access_token_claims(claims).get("acrs")):
        if value not in found:
            found.append(value)
    return tuple(found)


def acrs_claims(values: tuple[str, ...] | list[str]) -> str:
    """The claims request for authentication contexts ``values`` (a challenge's JSON)."""
    wanted: dict[str, Any] = {"essential": True}
    if len(values) == 1:
        wanted["value"] = values[0]
    else:
        wanted["values"] = list(values)
    return json.dumps({"access_token": {"acrs": wanted}}, separators=(",", ":"))


def require_acrs(asked: dict[str, Any], satisfied: tuple[str, ...], *, enforced: bool) -> None:
    """While a policy demands authentication contexts (``enforced``: the demo API's
    ``Faults.api_claims_challenge``), a token request whose ``claims`` ask for contexts its
    sign-in did not satisfy needs the user back at the sign-in page:
    ``interaction_required``. Without such a policy, asking is no error (and grants
    nothing: the token carries the contexts of its sign-in)."""
    missing = [value for value in requested_acrs(asked) if value not in satisfied]
    if enforced and missing:
        raise OAuthError(
            "interaction_required",
            50076,
            "Due to a configuration change made by your administrator, or because you moved "
            "to a new location, you must satisfy the conditional access policy "
            f"(authentication context {', '.join(missing)}) to access this resource.",
            claims=acrs_claims(missing),
        )
