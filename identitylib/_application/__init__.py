"""The application classes, thin shells around shared state and I/O-free flows."""

from ._base import ClientApplication
from ._confidential import ConfidentialClientApplication
from ._public import PublicClientApplication

__all__ = ["ClientApplication", "ConfidentialClientApplication", "PublicClientApplication"]
