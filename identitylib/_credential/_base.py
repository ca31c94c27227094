"""The :class:`ClientCredential` interface and the shared-secret credential."""

from __future__ import annotations

import abc
from typing import ClassVar, Literal

from identitylib.exceptions import MsalError

__all__ = [
    "CLIENT_ASSERTION_TYPE_JWT",
    "ClientAssertionError",
    "ClientCredential",
    "ClientSecret",
    "CredentialKind",
]

#: ``client_assertion_type`` of RFC 7523 section 2.2 (a JWT used for client authentication).
CLIENT_ASSERTION_TYPE_JWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

CredentialKind = Literal["secret", "certificate", "assertion"]


class ClientAssertionError(MsalError, ValueError):
    """No client assertion could be produced for a token request.

    Raised by :meth:`ClientCredential.auth_fields` when an app-supplied assertion callable
    raised or returned something that is not a JWT string, or when signing failed. The
    message names the problem and never contains credential material; the original
    exception, if any, is chained as ``__cause__``.
    """


class ClientCredential(abc.ABC):
    """How a confidential client authenticates itself to a token endpoint.

    Build one with :func:`~identitylib._credential.parse_client_credential`. Instances are
    immutable after construction and safe to share between threads.
    """

    __slots__ = ()

    #: ``"secret"``, ``"certificate"`` or ``"assertion"``; for logs and telemetry.
    kind: ClassVar[CredentialKind]
    #: Whether :meth:`auth_fields` gives the same fields for every request (a secret, a
    #: fixed assertion): a flow may then ask once and keep them for the app's life.
    fixed_fields: ClassVar[bool] = False

    @abc.abstractmethod
    def auth_fields(
        self,
        *,
        client_id: str,
        token_endpoint: str,
        is_adfs: bool = False,
        fmi_path: str | None = None,
    ) -> dict[str, str]:
        """Return the form fields that authenticate the client in a token request body.

        ``client_id`` and ``token_endpoint`` become the ``iss``/``sub`` and ``aud`` of a
        signed assertion (and are handed to a context-taking assertion callable, together
        with ``fmi_path`` when given). ``is_adfs`` makes certificate credentials fall back to
        RS256 with a SHA-1 ``x5t``, the only form AD FS accepts.

        Raises :class:`ClientAssertionError` when no assertion could be produced.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind!r}>"


class ClientSecret(ClientCredential):
    """A shared secret, sent as the ``client_secret`` body field (``client_secret_post``)."""

    kind: ClassVar[CredentialKind] = "secret"
    fixed_fields: ClassVar[bool] = True
    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def auth_fields(
        self,
        *,
        client_id: str,
        token_endpoint: str,
        is_adfs: bool = False,
        fmi_path: str | None = None,
    ) -> dict[str, str]:
        return {"client_secret": self._secret}
