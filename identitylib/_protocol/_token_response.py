"""Turning a token endpoint's HTTP response into a normalised result or an error result.

Whatever the server sends, the answer is a dict: the normalised success body, or an error
dict with ``error`` and ``error_description``. Nothing here raises on bad input.
"""

from __future__ import annotations

import functools
import json
import json.scanner
import math
from typing import Any
from urllib.parse import urlsplit

from ._errors import INVALID_RESPONSE, error_result
from ._jwt import decode_client_info, decode_jwt_claims
from ._messages import HttpResponse

#: Longest lifetime believed from a server; longer values are clamped to it (7 days).
MAX_LIFETIME = 7 * 24 * 3600
#: Lifetime assumed when a successful response carries no ``expires_in``.
DEFAULT_LIFETIME = 600
#: Largest body parsed as JSON, in characters (the transport also stops reading there).
MAX_BODY = 1 << 20
#: Header the transport adds to a response whose body it cut at ``MAX_BODY`` bytes.
TRUNCATED_HEADER = "x-identitylib-body-truncated"
#: The ``token_type`` every token response may carry (RFC 6750), lower-cased.
BEARER = "bearer"
#: Longest refused ``token_type`` quoted in an error description.
MAX_SHOWN_TYPE = 40
#: What ``json.loads`` calls for a str (a text that starts with a byte-order mark is not
#: JSON either way), and its scanner: a body that is one JSON value from its first to its
#: last character (every server's) is scanned by it alone.
_DECODER = json.JSONDecoder()
_decode = _DECODER.decode
_scan = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]


def parse_json_object(response: HttpResponse, what: str) -> dict[str, Any] | str:
    """Decode a JSON object body; return a description of the problem instead on failure."""
    text = response.text
    if len(text) > MAX_BODY or TRUNCATED_HEADER in response.headers:
        return f"the {what} response body is larger than {MAX_BODY} bytes"
    if 300 <= response.status_code < 400:
        return (
            f"the {what} answered with a redirect (HTTP {response.status_code} to "
            f"{_location_host(response)}), which is not followed"
        )
    try:  # (``json.loads``, in line: the scanner alone reads a body that is one value and
        # nothing else, every server's; else the decoder, its value or its error)
        try:
            body, end = _scan(text, 0)
        except (StopIteration, ValueError):
            end = -1
        if end != len(text):
            body = _decode(text)
    except (json.JSONDecodeError, RecursionError):
        content_type = response.headers.get("content-type", "unknown content type")
        return (
            f"the {what} answered HTTP {response.status_code} with a body that is not JSON "
            f"({content_type})"
        )
    if not isinstance(body, dict):
        return f"the {what} answered HTTP {response.status_code} with JSON that is not an object"
    return body


def _location_host(response: HttpResponse) -> str:
    location = response.headers.get("location", "")
    try:
        host = urlsplit(location).hostname if location else None
    except ValueError:
        host = None
    return host or "an unusable location"


def coerce_seconds(value: Any) -> int | None:
    """An int number of seconds from an int, float or numeric string; None otherwise."""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if math.isfinite(number) else None
    return None


def _error_body(body: dict[str, Any], status: int, correlation_id: str | None) -> dict[str, Any]:
    error = body.get("error")
    if not isinstance(error, str) or not error:
        return error_result(
            INVALID_RESPONSE,
            f"the token endpoint answered HTTP {status} with a non-string 'error' member",
            correlation_id=correlation_id,
        )
    result = dict(body)
    if not isinstance(result.get("error_description"), str):
        result["error_description"] = f"{error} (HTTP {status})"
    if correlation_id and not result.get("correlation_id"):
        result["correlation_id"] = correlation_id
    return result


def _normalise_lifetimes(body: dict[str, Any]) -> str | None:
    if "expires_in" not in body:
        expires_in: int | None = DEFAULT_LIFETIME
    else:
        expires_in = body["expires_in"]
        if type(expires_in) is not int:  # (an int, the usual answer, is taken as it is)
            expires_in = coerce_seconds(expires_in)
    if expires_in is None or expires_in < 0:
        return f"'expires_in' is not a non-negative number of seconds: {body.get('expires_in')!r}"
    if expires_in > MAX_LIFETIME:
        expires_in = MAX_LIFETIME
    body["expires_in"] = expires_in
    ext = body.get("ext_expires_in")
    if type(ext) is not int:
        ext = coerce_seconds(ext)
    body["ext_expires_in"] = (
        expires_in if ext is None or ext < 0 else ext if ext <= MAX_LIFETIME else MAX_LIFETIME
    )
    if "refresh_in" in body:
        refresh_in = coerce_seconds(body["refresh_in"])
        if refresh_in is None or refresh_in < 0 or refresh_in >= body["expires_in"]:
            del body["refresh_in"]
        else:
            body["refresh_in"] = refresh_in
    return None


def _check_strings(body: dict[str, Any]) -> str | None:
    for name in ("access_token", "refresh_token", "id_token", "token_type", "client_info", "foci"):
        if name in body and not isinstance(body[name], str):
            return f"'{name}' is a {type(body[name]).__name__}, not a string"
    if "scope" in body and not isinstance(body["scope"], str):
        if isinstance(body["scope"], list) and all(isinstance(s, str) for s in body["scope"]):
            body["scope"] = " ".join(body["scope"])
        else:
            return f"'scope' is a {type(body['scope']).__name__}, not a string"
    return None


def token_type_problem(token_type: str, requested: str | None = None) -> str | None:
    """What is wrong with a response's ``token_type``, or None when it may be used.

    A client must not use a token whose type it does not understand (RFC 6749 §7.1):
    ``Bearer`` is accepted in any letter case, and so is the type the request asked for
    (``requested``, the ``token_type`` request field: ``pop``, ``ssh-cert``); anything
    else is refused. A missing ``token_type`` is left to the caller (it means Bearer).
    """
    kind = token_type.lower()
    if kind == BEARER or (requested and kind == requested.lower()):
        return None
    shown = token_type if len(token_type) <= MAX_SHOWN_TYPE else token_type[:MAX_SHOWN_TYPE] + "..."
    asked = f"a bearer or {requested!r} token" if requested else "a bearer token"
    return f"'token_type' is {shown!r}, a type the request did not ask for ({asked})"


@functools.lru_cache(maxsize=256)
def _client_info_problem(client_info: str) -> str | None:
    """What is wrong with a ``client_info`` string, None if nothing (checked once per
    string: a user's every token response carries the same one)."""
    try:
        decode_client_info(client_info)
    except ValueError as exc:
        return f"'client_info' is malformed: {exc}"
    return None


def parse_token_response(
    response: HttpResponse,
    *,
    correlation_id: str | None = None,
    requested_token_type: str | None = None,
) -> dict[str, Any]:
    """Return the normalised token response body, or an error result.

    Normalisations: ``expires_in``, ``ext_expires_in`` and ``refresh_in`` become ints
    (numeric strings accepted, lifetimes clamped to :data:`MAX_LIFETIME`, a missing
    ``expires_in`` means :data:`DEFAULT_LIFETIME`); a missing or empty ``token_type`` means
    ``Bearer``; ``id_token_claims`` is added from a decoded (not validated) ``id_token``.
    A ``token_type`` other than Bearer and ``requested_token_type`` (the ``token_type``
    field of the request, if any) is an error (:func:`token_type_problem`).
    """
    body = parse_json_object(response, "token endpoint")
    if isinstance(body, str):
        return error_result(INVALID_RESPONSE, body, correlation_id=correlation_id)
    if "error" in body or not 200 <= response.status_code < 300:  # (not .is_success)
        if "error" not in body:
            return error_result(
                INVALID_RESPONSE,
                f"the token endpoint answered HTTP {response.status_code} without an OAuth error",
                correlation_id=correlation_id,
            )
        return _error_body(body, response.status_code, correlation_id)
    problem = _check_strings(body)
    token_type = body.get("token_type")
    if problem is None and token_type and token_type != "Bearer":  # (Bearer: no problem)
        problem = token_type_problem(token_type, requested_token_type)
    if problem is None and not body.get("access_token") and not body.get("id_token"):
        problem = "the response has neither an 'access_token' nor an 'id_token'"
    if problem is None and body.get("access_token"):
        problem = _normalise_lifetimes(body)
    if problem is None and body.get("id_token"):
        try:
            body["id_token_claims"] = decode_jwt_claims(body["id_token"])
        except ValueError as exc:
            problem = f"'id_token' is not a usable JWT: {exc}"
    if problem is None and body.get("client_info"):
        problem = _client_info_problem(body["client_info"])
    if problem is not None:
        return error_result(
            INVALID_RESPONSE, f"Malformed token response: {problem}", correlation_id=correlation_id
        )
    if not token_type:
        body["token_type"] = "Bearer"
    return body
