"""Class attributes MSAL Python's application classes expose, with MSAL's values.

Apps and SDKs read them (azure-identity passes ``ATTEMPT_REGION_DISCOVERY`` as
``azure_region=``); the blocking and the asyncio application classes both inherit them.
"""

from __future__ import annotations


class MsalNames:
    """MSAL's public class constants, and ``is_pop_supported``."""

    #: MSAL's telemetry ids of its API methods (identitylib sends no telemetry header).
    ACQUIRE_TOKEN_SILENT_ID = "84"
    ACQUIRE_TOKEN_BY_REFRESH_TOKEN = "85"
    ACQUIRE_TOKEN_BY_USERNAME_PASSWORD_ID = "301"
    ACQUIRE_TOKEN_ON_BEHALF_OF_ID = "523"
    ACQUIRE_TOKEN_BY_DEVICE_FLOW_ID = "622"
    ACQUIRE_TOKEN_FOR_CLIENT_ID = "730"
    ACQUIRE_TOKEN_BY_AUTHORIZATION_CODE_ID = "832"
    ACQUIRE_TOKEN_INTERACTIVE = "169"
    ACQUIRE_TOKEN_BY_USER_FIC_ID = "950"
    GET_ACCOUNTS_ID = "902"
    REMOVE_ACCOUNT_ID = "903"

    #: ``azure_region=ATTEMPT_REGION_DISCOVERY`` detects the region (``REGION_NAME``, IMDS).
    ATTEMPT_REGION_DISCOVERY = True
    #: ``azure_region=DISABLE_MSAL_FORCE_REGION``: no region, whatever ``MSAL_FORCE_REGION`` says.
    DISABLE_MSAL_FORCE_REGION = False

    def is_pop_supported(self) -> bool:
        """Whether this app can get proof-of-possession tokens: never, as they need an
        authentication broker (MSAL: only with a broker on Windows or macOS)."""
        return False


class PublicNames:
    """MSAL's class constants of ``PublicClientApplication`` (both APIs share them)."""

    #: Pass as ``parent_window_handle`` from a console app (accepted for compatibility).
    CONSOLE_WINDOW_HANDLE = object()
    DEVICE_FLOW_CORRELATION_ID = "_correlation_id"
