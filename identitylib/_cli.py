"""The ``identitylib`` command line (also ``python -m identitylib``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Optional

from identitylib._version import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from identitylib import _cli_commands, _demo
    from identitylib.emulator import _cli_emulator

    parser = argparse.ArgumentParser(
        prog="identitylib",
        description="OAuth 2.0 / OpenID Connect tokens, MSAL-compatible: sign in, print "
        "tokens from a persistent encrypted cache, and run a local identity provider "
        "emulator for offline development.",
    )
    parser.add_argument("--version", action="version", version=f"identitylib {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _cli_commands.add_parsers(subparsers)
    _cli_emulator.add_parser(subparsers)
    _demo.add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    return int(run(args))
