"""The device code flow (``initiate_device_flow``, ``acquire_token_by_device_flow``)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Optional

from identitylib._protocol._scopes import decorate, validate_scopes

from ._core import AppCore
from ._plan import Plan, run


class DeviceFlowCalls(AppCore):
    """The builders of ``initiate_device_flow`` and ``acquire_token_by_device_flow``."""

    def initiate_device_flow(
        self,
        scopes: Optional[list[str]] = None,
        *,
        claims_challenge: Optional[str] = None,
        **kwargs: Any,
    ) -> Plan[dict[str, Any]]:
        scope_list = decorate(validate_scopes(scopes or []), self.state.exclude_scopes)
        self.state.claims(claims_challenge)  # ValueError before any I/O
        from identitylib._flows import device_code as device_flow  # loaded on first use

        return run(
            device_flow.initiate_device_flow(
                self.state,
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
    ) -> Plan[dict[str, Any]]:
        exit_condition = kwargs.pop("exit_condition", None)
        if exit_condition is not None and not callable(exit_condition):
            raise TypeError("exit_condition must be a callable taking the flow dict")
        if not isinstance(flow, MutableMapping):
            raise ValueError("flow must be the dict returned by initiate_device_flow()")
        self.state.claims(claims_challenge)  # ValueError before any I/O
        from identitylib._flows import device_code as device_flow  # loaded on first use

        return run(
            device_flow.acquire_token_by_device_flow(
                self.state,
                flow,
                claims_challenge=claims_challenge,
                exit_condition=exit_condition,
                data=kwargs.pop("data", None),
                headers=kwargs.pop("headers", None),
            )
        )
