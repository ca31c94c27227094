"""``grant_type=user_fic``: a user's tokens for an app presenting a federated credential.

The app authenticates as for any confidential grant and sends
``user_federated_identity_credential``: a token this emulator signed (typically a
managed identity's token for ``api://AzureADTokenExchange``), unexpired, app-only, whose
issuer, subject and audience match one of the app's ``federated_credentials``. The user
is named by ``username`` (UPN) or ``user_id`` (object id), exactly one of them. The user's
tokens carry ``amr`` ``["fed"]``.

Entra documents the federated credential's errors for client assertions
(``invalid_client``, AADSTS700211/700212/700213, 700024, 700229); for this grant the
emulator answers them as ``invalid_grant``, the credential being the grant [unconfirmed].
"""

from __future__ import annotations

from typing import Any

from identitylib.emulator._challenges import client_capabilities, parse_claims
from identitylib.emulator._client_auth import CLOCK_SKEW, PUBLIC
from identitylib.emulator._config import App, FederatedCredential, User
from identitylib.emulator._context import TokenRequest
from identitylib.emulator._errors import OAuthError, malformed
from identitylib.emulator._grants._issue import issue_user_tokens
from identitylib.emulator._grants.on_behalf_of import verified_claims
from identitylib.emulator._resources import parse_user_scopes

GRANT_TYPE = "user_fic"
#: The ``amr`` of the user's tokens: signed in through a federated assertion.
FEDERATED_AMR = ("fed",)


def _no_match(code: int, what: str, value: object, client: App) -> OAuthError:
    return OAuthError(
        "invalid_grant",
        code,
        f"No matching federated identity record found for presented assertion {what} "
        f"'{value}'. Please check your federated identity credential Subject, Audience and "
        f"Issuer against the presented assertion on app '{client.client_id}'.",
    )


def matching_credential(payload: dict[str, Any], client: App, now: float) -> FederatedCredential:
    """The app's federated credential that ``payload`` (a verified token) satisfies."""
    if "scp" in payload and payload.get("idtyp") != "app":
        raise OAuthError(
            "invalid_grant",
            700229,
            "A user-delegated token cannot be used as a federated identity credential.",
        )
    exp, nbf = payload.get("exp"), payload.get("nbf", 0)
    if (
        not isinstance(exp, (int, float))
        or not isinstance(nbf, (int, float))
        or now >= exp
        or now < nbf - CLOCK_SKEW
    ):
        raise OAuthError(
            "invalid_grant",
            700024,
            f"The federated identity credential is not within its valid time range. Current "
            f"time: {int(now)}, valid from {nbf}, expiry time {exp}.",
        )
    issuer, subject, audience = payload.get("iss"), payload.get("sub"), payload.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    candidates = [c for c in client.federated_credentials if c.issuer == issuer]
    if not candidates:
        raise _no_match(700211, "issuer", issuer, client)
    candidates = [c for c in candidates if set(c.audiences) & set(map(str, audiences))]
    if not candidates:
        raise _no_match(700212, "audience", audience, client)
    for credential in candidates:
        if credential.subject == subject:
            return credential
    raise _no_match(700213, "subject", subject, client)


def _named_user(req: TokenRequest) -> tuple[str | None, str | None]:
    """``(username, user_id)``: exactly one of them is given."""
    username, object_id = req.get("username"), req.get("user_id")
    if (username is None) == (object_id is None):
        raise malformed("Send exactly one of 'username' and 'user_id' to name the user.")
    return username, object_id


def _user(req: TokenRequest, username: str | None, object_id: str | None) -> User:
    directory = req.state.directory
    user = directory.user(username) if username else directory.user_by_object_id(str(object_id))
    if user is None:
        raise OAuthError(
            "invalid_grant",
            50034,
            f"The user account {username or object_id} does not exist in the directory.",
        )
    return user


def grant(req: TokenRequest) -> dict[str, Any]:
    """Exchange the app's federated credential for the named user's tokens."""
    if req.azpacr == PUBLIC:
        raise OAuthError(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    credential = req.require("user_federated_identity_credential")
    username, object_id = _named_user(req)
    matching_credential(verified_claims(req.state.keys, credential), req.client, req.now)
    user = _user(req, username, object_id)
    sign_in = req.state.sign_in(user, req.tenant, FEDERATED_AMR, int(req.now))
    claims = parse_claims(req.get("claims"))
    scope_text = req.require("scope")
    scopes = parse_user_scopes(req.state.directory, scope_text)
    return issue_user_tokens(
        req, sign_in, scopes, scope_text, capabilities=client_capabilities(claims)
    )
