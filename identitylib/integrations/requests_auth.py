"""``requests`` authentication with an identitylib application.

::

    import requests
    from identitylib.integrations.requests_auth import BearerAuth

    auth = BearerAuth(app, ["api://my-api/.default"])
    requests.get("https://api.example.com/items", auth=auth)
"""

from __future__ import annotations

from typing import Any

import requests
from requests.auth import AuthBase

from identitylib._protocol._challenge import parse_claims_challenge

from ._common import ProviderAuth, TokenAcquisitionError

__all__ = ["BearerAuth", "TokenAcquisitionError"]

_RETRIED = "_identitylib_claims_retry"


class BearerAuth(ProviderAuth, AuthBase):
    """Attaches ``Authorization: Bearer <token>`` to each request.

    The token comes from ``app`` silently first (see
    :class:`~identitylib.integrations.TokenProvider` for which method serves which kind
    of application): an app-only token for a confidential client, the cached user's
    token for ``account`` / ``username`` (or the only cached account) otherwise. With
    ``interactive=True`` a public client signs the user in when it must. A web API
    passes ``user_assertion`` (the token it received) to call downstream on behalf of
    its caller.

    When the response is a 401 whose ``WWW-Authenticate`` carries a claims challenge,
    a fresh token is acquired with that ``claims_challenge`` and the request is sent
    once more (only once; a request whose body is a stream is not retried). A token
    that cannot be had raises :class:`~identitylib.integrations.TokenAcquisitionError`.
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.provider.acquire()["access_token"]
        request.headers["Authorization"] = f"Bearer {token}"
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, _RETRIED, False):
            return response
        claims = parse_claims_challenge(response.headers.get("WWW-Authenticate", ""))
        if claims is None or not _replayable(request):
            return response
        token = self.provider.acquire(claims_challenge=claims)["access_token"]
        retry = request.copy()
        setattr(retry, _RETRIED, True)
        retry.headers["Authorization"] = f"Bearer {token}"
        response.content  # noqa: B018 - read it all, so the connection can be reused
        response.close()
        connection = getattr(response, "connection", None)
        if connection is None:  # pragma: no cover - always set by requests' adapters
            return response
        kwargs.pop("hooks", None)
        retried: requests.Response = connection.send(retry, **kwargs)
        retried.history.append(response)
        retried.request = retry
        return retried


def _replayable(request: requests.PreparedRequest) -> bool:
    return request.body is None or isinstance(request.body, (bytes, str))
