"""The device code flow (``initiate_device_flow``, ``acquire_token_by_device_flow``)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Optional

from identitylib._flows import device_code as device_flow
from identitylib._protocol._scopes import decorate, validate_scopes

from ._core import AppCore


class DeviceFlowMixin(AppCore):
    """``initiate_device_flow``, ``acquire_token_by_device_flow``."""

    def initiate_device_flow(
        self,
        scopes: Optional[list[str]] = None,
        *,
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Start a device code sign-in; show ``flow["message"]`` to the user.

        Returns MSAL's device flow dict: the server's fields (``user_code``,
        ``device_code``, ``verification_uri``, ``expires_in``, ``interval``, ``message``)
        plus ``expires_at`` and ``_correlation_id``. ``message`` is always present (written
        in Entra's words if the server sent none) and v1 answers (``verification_url``,
        numbers as strings) are normalised. On failure it is an error dict without
        ``user_code``: check for that key before polling.
        """
        scope_list = decorate(validate_scopes(scopes or []), self._state.exclude_scopes)
        self._state.claims(claims_challenge)  # ValueError before any I/O
        return self._run(
            device_flow.initiate_device_flow(
                self._state,
                scope_list,
                claims_challenge=claims_challenge,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )

    def acquire_token_by_device_flow(
        self,
        flow: MutableMapping[str, Any],
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Wait for the user to sign in on another device; return a token or error dict.

        Blocks, polling every ``flow["interval"]`` seconds (never more often than once a
        second, 5 s more after each ``slow_down``), until the user approves or declines,
        the code expires, ``flow["expires_at"]`` is set to 0 (e.g. from another thread),
        or ``exit_condition(flow)`` (keyword argument) returns True; then the last error
        (usually ``authorization_pending``) is returned. The wait happens in slices of at
        most one second, so stopping takes effect within a second.
        """
        exit_condition = kwargs.pop("exit_condition", None)
        if exit_condition is not None and not callable(exit_condition):
            raise TypeError("exit_condition must be a callable taking the flow dict")
        if not isinstance(flow, MutableMapping):
            raise ValueError("flow must be the dict returned by initiate_device_flow()")
        self._state.claims(claims_challenge)  # ValueError before any I/O
        return self._run(
            device_flow.acquire_token_by_device_flow(
                self._state,
                flow,
                claims_challenge=claims_challenge,
                exit_condition=exit_condition,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )
