"""The device code flow (``initiate_device_flow``, ``acquire_token_by_device_flow``)."""

from __future__ import annotations

from ._core import AppCore


class DeviceFlowMixin(AppCore):
    """``initiate_device_flow``, ``acquire_token_by_device_flow``."""
