"""The device code flow: starting it, and polling until the user signs in.

Polling sleeps through :class:`~identitylib._protocol._messages.Wait` steps of at most one
second, so the flow stays free of I/O and an ``exit_condition`` (or ``flow["expires_at"] = 0``
from another thread) stops it within a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Callable, Optional

from identitylib._flows._state import AppState
from identitylib._log import get_logger
from identitylib._protocol._messages import Flow, Wait
from identitylib._protocol.grants import device_code

from ._user_tokens import client_auth_fields, redeem

logger = get_logger(__name__)

#: Polls allowed beyond one per second of the flow's lifetime.
EXTRA_POLLS = 3

ExitCondition = Callable[[MutableMapping[str, Any]], bool]


def device_authorization_endpoint(state: AppState) -> Flow[str]:
    """The authority's device authorization endpoint (ValueError when it has none)."""
    metadata = yield from state.authority.metadata_flow()
    endpoint = metadata.device_authorization_endpoint
    if not endpoint:
        raise ValueError(
            f"The authority {state.authority.parsed.url} publishes no "
            "device_authorization_endpoint, so it does not support the device code flow"
        )
    return endpoint


def initiate_device_flow(
    state: AppState,
    scopes: Sequence[str],
    *,
    claims_challenge: Optional[str] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> Flow[dict[str, Any]]:
    """Ask for a user code; return MSAL's device flow dict, or an error dict."""
    endpoint = yield from device_authorization_endpoint(state)
    correlation_id = state.new_correlation_id()
    request = device_code.device_authorization_request(
        endpoint,
        client_id=state.client_id,
        scopes=scopes,
        claims=state.claims(claims_challenge),
        headers=state.headers(correlation_id, headers),
        extra=data,
    )
    response = yield request
    return device_code.parse_device_authorization(
        response, now=state.now(), correlation_id=correlation_id
    )


def _stopped(
    state: AppState, flow: MutableMapping[str, Any], exit_condition: ExitCondition
) -> bool:
    return state.now() >= device_code.expires_at_of(flow) or bool(exit_condition(flow))


def acquire_token_by_device_flow(
    state: AppState,
    flow: MutableMapping[str, Any],
    *,
    claims_challenge: Optional[str] = None,
    exit_condition: Optional[ExitCondition] = None,
    data: Optional[Mapping[str, Any]] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> Flow[dict[str, Any]]:
    """Poll until the user signs in, declines, the code expires or ``exit_condition`` says stop.

    The first poll is sent at once; then the flow waits ``interval`` seconds (at least
    :data:`~identitylib._protocol.grants.device_code.MIN_INTERVAL`, plus 5 after each
    ``slow_down``) between polls. The flow's ``expires_at`` is a hard deadline, and the
    number of polls is bounded by the lifetime the flow had when polling began. When it
    stops early the last error is returned. ``flow`` is updated as MSAL updates it
    (``interval`` after ``slow_down``, ``latest_attempt_at``).
    """
    device_code_value = flow.get("device_code")
    if not isinstance(device_code_value, str) or not device_code_value:
        raise ValueError(
            "The device flow has no device_code: initiate_device_flow() failed "
            f"({flow.get('error')}: {flow.get('error_description')}); check that the flow "
            "has a 'user_code' before calling acquire_token_by_device_flow()"
        )
    should_exit: ExitCondition = exit_condition or (lambda _flow: False)
    metadata = yield from state.authority.metadata_flow()
    correlation_id = str(flow.get(device_code.CORRELATION_ID) or state.new_correlation_id())
    claims = state.claims(claims_challenge)
    lifetime = max(0.0, device_code.expires_at_of(flow) - state.now())
    max_polls = int(lifetime // device_code.MIN_INTERVAL) + EXTRA_POLLS
    last: dict[str, Any] = {}
    for _ in range(max_polls):
        fields = device_code.poll_fields(
            client_id=state.client_id,
            device_code=device_code_value,
            client_auth=client_auth_fields(state, metadata),
            claims=claims,
            extra=data,
        )
        flow["latest_attempt_at"] = state.now()
        result = yield from redeem(
            state,
            metadata,
            fields=fields,
            grant_type=device_code.GRANT_TYPE,
            scopes=[],
            correlation_id=correlation_id,
            headers=headers,
        )
        error = result.get("error")
        if error not in device_code.RETRIABLE_ERRORS:
            return result
        last = result
        interval = device_code.interval_of(flow.get("interval"))
        if error == "slow_down":
            interval += device_code.SLOW_DOWN_STEP
            flow["interval"] = interval
        logger.debug("Device code not redeemed yet (%s); polling again in %d s", error, interval)
        next_poll = state.now() + interval
        for _slice in range(math.ceil(interval)):
            if _stopped(state, flow, should_exit):
                return last
            remaining = next_poll - state.now()
            if remaining <= 0:
                break
            yield Wait(min(1.0, remaining))
        if _stopped(state, flow, should_exit):
            return last
    return last
