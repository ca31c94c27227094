"""Building token-endpoint requests: common body fields and client headers."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Mapping

from identitylib._log import PLAIN_FIELDS, SECRET_FIELDS, Secret, hide
from identitylib._version import __version__

from ._messages import HttpRequest

SKU = "identitylib.Python"

#: Clears the version and variant bits of a 128-bit number; ``_V4`` sets them to a random
#: (version 4, RFC 4122 variant) UUID's.
_V4_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_V4 = (0x4000 << 64) | (0x8000 << 48)
#: The request ids' own generator: seeded from the system's entropy, again in a forked child,
#: and out of reach of an app's ``random.seed()`` (which would make processes repeat ids).
_ids = random.Random()  # noqa: S311 (an id, not a secret: see new_request_id)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)
_random_bits = _ids.getrandbits


def new_request_id() -> str:
    """A random (version 4) UUID in its canonical form, as ``str(uuid.uuid4())`` makes it,
    without building a ``UUID`` object.

    A correlation id only has to be unique, not unpredictable (it is sent in the clear and
    logged): its 122 random bits come from a generator of this module's own (``_ids``),
    without the system call of ``os.urandom`` per request. It is seeded from the system's
    entropy, seeded again in a forked child (forked workers do not repeat each other's
    ids), and an app seeding the ``random`` module does not make its ids repeat.
    """
    digits = (_random_bits(128) & _V4_MASK | _V4).to_bytes(16, "big").hex()  # (faster
    # than formatting the int)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def client_headers(
    correlation_id: str, *, app_name: str | None = None, app_version: str | None = None
) -> dict[str, str]:
    """Headers sent with every token and device-code request."""
    headers = {
        "Accept": "application/json",
        "x-client-sku": SKU,
        "x-client-ver": __version__,
        "x-client-os": sys.platform,
        "x-ms-lib-capability": "retry-after, h429",
        "client-request-id": correlation_id,
    }
    if app_name:
        headers["x-app-name"] = app_name
    if app_version:
        headers["x-app-ver"] = app_version
    return headers


def form_fields(*parts: Mapping[str, object] | None) -> dict[str, str]:
    """Merge body field mappings left to right, dropping None and empty values.

    The values of secret fields are :class:`~identitylib._log.Secret` (``'***'`` in a
    repr: a crash reporter printing the flow's locals does not show them).
    """
    merged: dict[str, str] = {}
    for part in parts:
        if not part:
            continue
        for name, value in part.items():
            if value is None or value == "":
                merged.pop(name, None)
            elif name in PLAIN_FIELDS:  # (most fields: told without lower-casing)
                merged[name] = value if type(value) is str else str(value)
            elif name in SECRET_FIELDS or name.lower() in SECRET_FIELDS:
                merged[name] = value if type(value) is Secret else hide(str(value))
            else:
                merged[name] = str(value)
    return merged


def grant_fields(
    extra: Mapping[str, object] | None,
    grant: Mapping[str, str | None],
    client_auth: Mapping[str, object],
) -> dict[str, str]:
    """``form_fields(extra, grant, client_auth)`` of a grant's own fields ``grant``, which
    the grant writes itself: its names, its values strings (secret ones hidden, see
    :func:`~identitylib._log.hide`) or None. Without ``extra`` (the usual request) they are
    taken in one step; the app's ``data=`` and the credential's fields are checked as
    :func:`form_fields` checks them."""
    if extra:
        return form_fields(extra, grant, client_auth)
    merged: dict[str, str] = {}
    for name, text in grant.items():  # (a loop: a comprehension costs a frame)
        if text is not None and text != "":
            merged[name] = text
    for name, value in client_auth.items():
        if value is None or value == "":
            merged.pop(name, None)
        elif name in SECRET_FIELDS or name.lower() in SECRET_FIELDS:
            merged[name] = value if type(value) is Secret else hide(str(value))
        else:
            merged[name] = str(value)
    return merged


#: Grants whose request carries a credential the server accepts once, so the request is never
#: sent twice (RFC 6749 §4.1.2: a code is single use; §10.4: refresh tokens may rotate).
#: A device-code poll also sends ``code`` (MSAL's duplicate of ``device_code``): not one-time.
ONE_TIME_GRANTS = frozenset({"authorization_code", "refresh_token"})


def token_request(
    token_endpoint: str, fields: Mapping[str, str], headers: Mapping[str, str]
) -> HttpRequest:
    """A POST of form ``fields`` to the token endpoint (``one_time`` for the grants of
    :data:`ONE_TIME_GRANTS`). The request holds ``fields`` and ``headers`` themselves,
    not copies: the caller made them for it and changes neither afterwards."""
    return HttpRequest(
        "POST",
        token_endpoint,
        None,
        fields,
        headers,
        fields.get("grant_type") in ONE_TIME_GRANTS,
    )


#: ``data["token_type"]`` of an SSH certificate request.
SSH_CERT = "ssh-cert"


def check_ssh_cert_data(data: object) -> None:
    """Refuse an SSH certificate request (``data={"token_type": "ssh-cert", ...}``) that
    lacks ``req_cnf`` (the public key, a JWK) or ``key_id`` (its name, which keys the
    cached certificate), as MSAL does: ValueError."""
    if data is None or not isinstance(data, Mapping) or data.get("token_type") != SSH_CERT:
        return  # (None first: the usual case, without the ABC's isinstance check)
    if not data.get("req_cnf"):
        raise ValueError(
            "An SSH certificate request (data={'token_type': 'ssh-cert', ...}) needs 'req_cnf': "
            "the public key as a JWK string (RFC 7517)"
        )
    if not data.get("key_id"):
        raise ValueError(
            "An SSH certificate request (data={'token_type': 'ssh-cert', ...}) needs 'key_id': "
            "the id of the key in 'req_cnf', under which the certificate is cached"
        )
