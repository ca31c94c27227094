"""``identitylib login | token | accounts | logout``: tokens from the command line.

The signed-in accounts live in a persistent token cache, encrypted by the platform
(DPAPI on Windows, Keychain on macOS, libsecret on Linux) in the platform's usual place;
a plain-text file (readable by its owner only) is used only with ``--plaintext``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Callable, Optional, TextIO

from identitylib._application._sign_in import INTERACTION_ERRORS, browser_available
from identitylib._interactive import BrowserInteractionTimeoutError
from identitylib.exceptions import MsalError

ENV_CLIENT_ID = "IDENTITYLIB_CLIENT_ID"
ENV_AUTHORITY = "IDENTITYLIB_AUTHORITY"
ENV_CACHE = "IDENTITYLIB_CACHE"
PUBLIC_CLOUD = "https://login.microsoftonline.com"
CACHE_FILE = "token_cache.bin"
#: Exit statuses: success, a failed sign-in or token request, a usage or set-up problem.
OK, FAILED, USAGE = 0, 1, 2


class CliError(Exception):
    """A problem to report in one line on stderr, with an exit status."""

    def __init__(self, message: str, status: int = USAGE) -> None:
        super().__init__(message)
        self.status = status


# --- where the cache lives -------------------------------------------------------------


def default_cache_path(
    platform: Optional[str] = None, environ: Optional[Mapping[str, str]] = None
) -> str:
    """The platform's usual place for the CLI's token cache.

    ``%LOCALAPPDATA%\\identitylib`` on Windows, ``~/Library/Caches/identitylib`` on macOS,
    ``$XDG_CACHE_HOME/identitylib`` (default ``~/.cache/identitylib``) elsewhere; the file
    is ``token_cache.bin`` in that directory.
    """
    platform = sys.platform if platform is None else platform
    env = os.environ if environ is None else environ
    home = os.path.expanduser("~")
    if platform.startswith("win"):
        base = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif platform == "darwin":
        base = os.path.join(home, "Library", "Caches")
    else:
        base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "identitylib", CACHE_FILE)


def open_cache(path: str, *, plaintext: bool) -> Any:
    """The persistent token cache at ``path``: encrypted, or plain text when allowed."""
    from identitylib._persistence import (
        PersistedTokenCache,
        PersistenceUnavailableError,
        build_persistence,
    )

    try:
        persistence = build_persistence(path, encrypt=True, allow_unencrypted=plaintext)
    except PersistenceUnavailableError as error:
        raise CliError(
            "no encrypted token storage is available on this machine (on Linux it needs "
            "libsecret and a D-Bus session: the gnome-keyring or KWallet service, and "
            "PyGObject). Pass --plaintext to keep the cache in a file only you can read "
            f"({path}).\n  detail: {error}"
        ) from error
    except ImportError as error:
        raise CliError(
            'the token cache needs msal-extensions: pip install "identitylib[persistence]"'
            f" ({error})"
        ) from error
    return PersistedTokenCache(persistence)


# --- progress on stderr ---------------------------------------------------------------

SPINNER = "|/-\\"


def _format_left(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


@contextmanager
def progress(
    render: Callable[[str], str], stream: Optional[TextIO] = None, period: float = 0.2
) -> Iterator[None]:
    """Redraw ``render(spinner_char)`` on one line of ``stream`` while the block runs.

    Only when the stream is a terminal: redirected output gets no control characters.
    """
    out = sys.stderr if stream is None else stream
    if not _is_tty(out):
        yield
        return
    stop = threading.Event()

    def draw() -> None:
        for char in itertools.cycle(SPINNER):
            out.write("\r\x1b[K" + render(char))
            out.flush()
            if stop.wait(period):
                break
        out.write("\r\x1b[K")
        out.flush()

    painter = threading.Thread(target=draw, name="identitylib-progress", daemon=True)
    painter.start()
    try:
        yield
    finally:
        stop.set()
        painter.join(2)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def show_device_message(flow: Mapping[str, Any]) -> None:
    """Print the device-code instructions to stderr (what the user must do)."""
    print(flow["message"], file=sys.stderr, flush=True)


def show_address(url: str) -> None:
    """``--no-browser``: print the sign-in address for the user to open."""
    print(f"To sign in, open this address in a browser:\n{url}", file=sys.stderr, flush=True)


# --- the application ------------------------------------------------------------------


def _authority(args: argparse.Namespace) -> str:
    if args.authority:
        return str(args.authority)
    if args.tenant:
        return f"{PUBLIC_CLOUD}/{args.tenant}"
    return os.environ.get(ENV_AUTHORITY) or f"{PUBLIC_CLOUD}/organizations"


def build_app(args: argparse.Namespace) -> Any:
    """The ``PublicClientApplication`` of the options, over the persistent cache."""
    import identitylib

    client_id = args.client_id or os.environ.get(ENV_CLIENT_ID)
    if not client_id:
        raise CliError(f"which app? pass --client-id or set {ENV_CLIENT_ID}")
    cache_path = args.cache or os.environ.get(ENV_CACHE) or default_cache_path()
    cache = open_cache(cache_path, plaintext=args.plaintext)
    try:
        return identitylib.PublicClientApplication(
            client_id, authority=_authority(args), token_cache=cache
        )
    except (ValueError, MsalError) as error:
        raise CliError(f"cannot use authority {_authority(args)!r}: {error}") from error


def _pick_account(app: Any, username: Optional[str]) -> Optional[dict[str, Any]]:
    accounts: list[dict[str, Any]] = app.get_accounts(username=username)
    if username:
        return accounts[0] if accounts else None
    return accounts[0] if len(accounts) == 1 else None


def sign_in(app: Any, args: argparse.Namespace, scopes: list[str]) -> dict[str, Any]:
    """A new sign-in: the browser, or the device code flow (asked for, or no browser)."""
    device = args.device_code or (not args.no_browser and not browser_available())
    if device:
        flow = app.initiate_device_flow(scopes)
        if "user_code" not in flow:
            return dict(flow)
        flow["expires_at"] = min(  # the flow stops polling then
            float(flow.get("expires_at") or time.time() + int(flow["expires_in"])),
            time.time() + args.timeout,
        )
        show_device_message(flow)

        def countdown(char: str) -> str:
            left = _format_left(float(flow.get("expires_at") or 0) - time.time())
            return f"{char} Waiting for you to sign in (the code expires in {left})"

        with progress(countdown):
            return dict(app.acquire_token_by_device_flow(flow))
    options: dict[str, Any] = {
        "login_hint": getattr(args, "username", None),
        "auth_uri_callback": show_address,  # where no browser opens, or with --no-browser
        "timeout": args.timeout,
    }
    if not args.no_browser:
        print("Opening the browser to sign in...", file=sys.stderr, flush=True)
    spinner = progress(lambda char: f"{char} Waiting for the sign-in in the browser")
    with _no_browser(args.no_browser), spinner:
        return dict(app.acquire_token_interactive(scopes, **options))


@contextmanager
def _no_browser(active: bool) -> Iterator[None]:
    """With ``active``, the interactive flow finds no browser and shows the address."""
    if not active:
        yield
        return
    from identitylib._interactive import _browser

    original = _browser.open_browser
    _browser.open_browser = lambda url: False
    try:
        yield
    finally:
        _browser.open_browser = original


def _failed(result: Mapping[str, Any]) -> int:
    description = str(result.get("error_description") or "").splitlines()
    detail = f": {description[0]}" if description else ""
    print(f"error: {result.get('error', 'unknown_error')}{detail}", file=sys.stderr)
    return FAILED


def _account_view(account: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "username": account.get("username"),
        "home_account_id": account.get("home_account_id"),
        "environment": account.get("environment"),
        "tenant_id": account.get("realm"),
    }


# --- the commands ---------------------------------------------------------------------


def run_login(args: argparse.Namespace) -> int:
    """``identitylib login``."""
    app = build_app(args)
    result = sign_in(app, args, list(args.scope or []))
    if "access_token" not in result and "id_token_claims" not in result:
        return _failed(result)
    claims = result.get("id_token_claims") or {}
    who = claims.get("preferred_username") or claims.get("name") or "the user"
    print(f"Signed in as {who}.", file=sys.stderr)
    return OK


def run_token(args: argparse.Namespace) -> int:
    """``identitylib token``: a token from the cache when it can, else a new sign-in."""
    scopes = [scope for group in args.scope for scope in group.split()]
    app = build_app(args)
    account = _pick_account(app, args.username)
    result: Optional[dict[str, Any]] = None
    if account is not None:
        result = app.acquire_token_silent_with_error(scopes, account)
    needs_sign_in = result is None or result.get("error") in INTERACTION_ERRORS
    if needs_sign_in:
        if args.no_interaction:
            print(
                "error: no usable token in the cache; run `identitylib login` first",
                file=sys.stderr,
            )
            return FAILED
        result = sign_in(app, args, scopes)
    assert result is not None
    if "access_token" not in result:
        return _failed(result)
    if args.output == "json":
        now = int(time.time())
        claims = result.get("id_token_claims") or {}
        view = {
            "access_token": result["access_token"],
            "token_type": result.get("token_type", "Bearer"),
            "expires_in": int(result.get("expires_in", 0)),
            "expires_on": now + int(result.get("expires_in", 0)),
            "scope": result.get("scope", " ".join(scopes)),
            "token_source": result.get("token_source"),
            "username": (account or {}).get("username") or claims.get("preferred_username"),
        }
        print(json.dumps(view, indent=2))
    else:
        print(result["access_token"])
    return OK


def run_accounts(args: argparse.Namespace) -> int:
    """``identitylib accounts``: the accounts signed in to this app."""
    accounts = [_account_view(a) for a in build_app(args).get_accounts()]
    if args.output == "json":
        print(json.dumps(accounts, indent=2))
    elif not accounts:
        print("No accounts are signed in.", file=sys.stderr)
    else:
        for account in accounts:
            print(f"{account['username']}\t{account['home_account_id']}\t{account['environment']}")
    return OK


def run_logout(args: argparse.Namespace) -> int:
    """``identitylib logout``: forget the tokens of one account (``--username``) or all."""
    app = build_app(args)
    accounts = app.get_accounts(username=args.username)
    if not accounts:
        who = args.username or "any account"
        print(f"Not signed in as {who}.", file=sys.stderr)
        return FAILED if args.username else OK
    for account in accounts:
        app.remove_account(account)
        print(f"Signed out {account.get('username')}.", file=sys.stderr)
    return OK


# --- the parsers ----------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("app and cache")
    group.add_argument(
        "--client-id", help=f"the app (public client) id (default: ${ENV_CLIENT_ID})"
    )
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--authority",
        help=f"authority URL (default: ${ENV_AUTHORITY}, else {PUBLIC_CLOUD}/organizations)",
    )
    where.add_argument("--tenant", help=f"tenant id or domain, for {PUBLIC_CLOUD}/<tenant>")
    group.add_argument(
        "--cache",
        metavar="PATH",
        help=f"token cache file (default: ${ENV_CACHE}, else {default_cache_path()})",
    )
    group.add_argument(
        "--plaintext",
        action="store_true",
        help="allow a plain-text cache file (readable by you only) where no encrypted "
        "storage is available",
    )
    return common


def _sign_in_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device-code",
        action="store_true",
        help="sign in with a code on another device (automatic where no browser exists)",
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a browser: print the sign-in address to open yourself",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for a sign-in (default 300; a device code also expires)",
    )


def add_parsers(subparsers: Any) -> None:
    """Register ``login``, ``token``, ``accounts`` and ``logout``."""
    common = _common()
    login = subparsers.add_parser(
        "login",
        parents=[common],
        help="sign in and keep the account in the token cache",
        description="Sign in with the browser, or with a device code (--device-code, and "
        "automatically where no browser can open).",
    )
    login.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help="a scope to consent to at sign-in (repeatable; default: sign-in only)",
    )
    _sign_in_options(login)
    login.set_defaults(run=guarded(run_login))

    token = subparsers.add_parser(
        "token",
        parents=[common],
        help="print an access token (from the cache when it can)",
        description="Print an access token for the scopes: from the cache when it holds "
        "one (or a refresh token for one), else after a sign-in.",
    )
    token.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="SCOPE",
        help="scope(s) of the token (repeatable, or space-separated)",
    )
    token.add_argument("--username", help="the account (default: the only signed-in one)")
    token.add_argument("--output", choices=("token", "json"), default="token", help="print format")
    token.add_argument(
        "--no-interaction",
        action="store_true",
        help="fail instead of signing in when the cache cannot serve the token",
    )
    _sign_in_options(token)
    token.set_defaults(run=guarded(run_token))

    accounts = subparsers.add_parser(
        "accounts", parents=[common], help="list the signed-in accounts"
    )
    accounts.add_argument("--output", choices=("text", "json"), default="text")
    accounts.set_defaults(run=guarded(run_accounts))

    logout = subparsers.add_parser(
        "logout", parents=[common], help="remove accounts and their tokens from the cache"
    )
    logout.add_argument("--username", help="only this account (default: every account)")
    logout.set_defaults(run=guarded(run_logout))


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``run`` reporting CliError and Ctrl+C in one line instead of a traceback."""

    def safely(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except CliError as error:
            print(f"identitylib: {error}", file=sys.stderr)
            return error.status
        except BrowserInteractionTimeoutError as error:
            print(f"error: timed out: {error}", file=sys.stderr)
            return FAILED
        except ValueError as error:  # e.g. reserved or malformed scopes
            print(f"identitylib: {error}", file=sys.stderr)
            return USAGE
        except KeyboardInterrupt:
            print("\nCancelled.", file=sys.stderr)
            return 130

    return safely
