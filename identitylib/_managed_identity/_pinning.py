"""A ``requests`` session that trusts one server certificate, named by its SHA-1 thumbprint.

Service Fabric's managed-identity endpoint presents a self-signed certificate; the
platform tells the process its thumbprint (``IDENTITY_SERVER_THUMBPRINT``). The adapter
here makes urllib3 compare the peer certificate's fingerprint right after the TLS
handshake, before a byte of the request (and its ``Secret`` header) is sent, and ignores
CA bundles and host names: the thumbprint is the only trust anchor. Mismatches raise
``requests.exceptions.SSLError``.
"""

from __future__ import annotations

import copy
from typing import Any

import requests
import requests.adapters

from identitylib._credential._keys import sha1_thumbprint_hex

from ._errors import ManagedIdentityError


def normalise_thumbprint(value: str) -> str:
    """Lower-case hex without separators; ManagedIdentityError unless 40 hex digits."""
    text = sha1_thumbprint_hex(str(value))
    if text is None:
        raise ManagedIdentityError(
            "IDENTITY_SERVER_THUMBPRINT must be a SHA-1 certificate thumbprint (40 hex digits)"
        )
    return text


class ThumbprintPinningAdapter(requests.adapters.HTTPAdapter):
    """An ``HTTPAdapter`` whose HTTPS connections accept only the pinned certificate."""

    def __init__(self, thumbprint: str, **kwargs: Any) -> None:
        self.thumbprint = normalise_thumbprint(thumbprint)
        super().__init__(**kwargs)

    def _pinning(self) -> dict[str, Any]:
        return {"assert_fingerprint": self.thumbprint, "cert_reqs": "CERT_NONE"}

    def init_poolmanager(self, *args: Any, **pool_kwargs: Any) -> None:
        pool_kwargs.update(self._pinning())
        super().init_poolmanager(*args, **pool_kwargs)

    def proxy_manager_for(self, proxy: Any, **proxy_kwargs: Any) -> Any:
        proxy_kwargs.update(self._pinning())
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> Any:
        # requests >= 2.32.2: per-request TLS settings; the caller's verify= never applies.
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, False, cert
        )
        kwargs: dict[str, Any] = {
            name: value
            for name, value in pool_kwargs.items()
            if name not in ("ssl_context", "ca_certs", "ca_cert_dir")
        }
        kwargs.update(self._pinning())
        return host_params, kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, False, cert)  # type: ignore[no-untyped-call]


def pin(session: requests.Session, thumbprint: str, template: Any = None) -> None:
    """Make ``session``'s HTTPS connections trust only the certificate with ``thumbprint``.

    ``template`` (the app's ``requests.Session``, if it gave one) lends its default
    headers and its HTTPS adapter's retry setting; anything else is refused.
    """
    max_retries: Any = 0
    if template is not None:
        if not isinstance(template, requests.Session):
            raise ManagedIdentityError(
                "Service Fabric managed identity needs a requests.Session as http_client "
                "(or none): its server certificate is pinned by thumbprint"
            )
        session.headers.update(template.headers)
        adapter = template.get_adapter("https://localhost")
        if isinstance(adapter, requests.adapters.HTTPAdapter):
            max_retries = copy.deepcopy(adapter.max_retries)
    adapter = ThumbprintPinningAdapter(thumbprint, max_retries=max_retries)
    for prefix in list(session.adapters):
        session.adapters.pop(prefix)
    session.mount("https://", adapter)


def pinned_session(thumbprint: str, template: Any = None) -> requests.Session:
    """A session for the pinned endpoint only, which never uses a proxy (the endpoint is
    local) nor the environment's CA settings (see :func:`pin` for ``template``)."""
    session = requests.Session()
    session.trust_env = False
    pin(session, thumbprint, template)
    return session
