"""The web-app authorization code flow (two steps, state kept in a flow dict)."""

from __future__ import annotations

from ._core import AppCore


class AuthCodeMixin(AppCore):
    """``initiate_auth_code_flow``, ``acquire_token_by_auth_code_flow``,
    ``get_authorization_request_url``, ``acquire_token_by_authorization_code``."""
