"""Version of the identitylib package."""

__version__ = "0.1.0"
