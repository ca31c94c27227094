"""``PublicClientApplication``: desktop, mobile and CLI apps that hold no secret."""

from __future__ import annotations

from typing import Any, Optional

from ._base import ClientApplication
from ._device import DeviceFlowMixin
from ._interactive import InteractiveMixin
from ._sign_in import SignInMixin


class PublicClientApplication(SignInMixin, InteractiveMixin, DeviceFlowMixin, ClientApplication):
    """An app that signs users in and cannot keep a credential (desktop, CLI, device)."""

    #: Pass as ``parent_window_handle`` from a console app (accepted for compatibility).
    CONSOLE_WINDOW_HANDLE = object()
    DEVICE_FLOW_CORRELATION_ID = "_correlation_id"

    def __init__(
        self,
        client_id: str,
        client_credential: Any = None,
        *,
        enable_broker_on_windows: Optional[bool] = None,
        enable_broker_on_mac: Optional[bool] = None,
        enable_broker_on_linux: Optional[bool] = None,
        enable_broker_on_wsl: Optional[bool] = None,
        **kwargs: Any,
    ) -> None:
        if client_credential is not None:
            raise ValueError(
                "A public client application holds no credential: drop client_credential, "
                "or use ConfidentialClientApplication for a web app, web API or daemon"
            )
        self._broker_requested = any(
            (
                enable_broker_on_windows,
                enable_broker_on_mac,
                enable_broker_on_linux,
                enable_broker_on_wsl,
            )
        )
        super().__init__(client_id, None, **kwargs)
