"""``import identitylib`` stays light: heavy modules load when a feature needs them.

Import time is measured by bench/run.py (workload 9); this checks what is imported, in a
fresh interpreter, so that a stray top-level import is caught by the test suite.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

DEFERRED = (
    "asyncio",
    "cryptography",
    "jwt",
    "httpx",
    "h11",
    "redis",
    "msal_extensions",
    "msgspec",
)


@pytest.mark.parametrize(
    "statement",
    [
        "import identitylib",
        "import identitylib; identitylib.ConfidentialClientApplication('c', 's', "
        "authority='https://login.microsoftonline.com/contoso.onmicrosoft.com')",
    ],
)
def test_importing_the_package_defers_heavy_modules(statement: str) -> None:
    assert imported_after(statement, DEFERRED) == ""


def imported_after(statement: str, modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a fresh interpreter has imported after ``statement``."""
    code = f"import sys; {statement}; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return output.stdout.strip()


#: Needed only to send a request with identitylib's own session (or for WS-Trust XML).
HTTP_STACK = ("requests", "urllib3", "http.client", "xml.sax")

AUTHORITY = "https://login.microsoftonline.com/0b1a5c0e-0000-4000-8000-000000000001"
SERVE_FROM_CACHE = (
    "import identitylib, time; cache = identitylib.TokenCache(); "
    "cache.add({'client_id': 'c', 'scope': ['api://a/.default'], "
    f"'token_endpoint': '{AUTHORITY}/oauth2/v2.0/token', "
    "'response': {'access_token': 'at', 'token_type': 'Bearer', 'expires_in': 3600}}); "
    "app = identitylib.ConfidentialClientApplication('c', 's', token_cache=cache, "
    f"authority='{AUTHORITY}'); "
    "assert app.acquire_token_for_client(['api://a/.default'])['token_source'] == 'cache'"
)


@pytest.mark.parametrize("statement", ["import identitylib", SERVE_FROM_CACHE])
def test_a_token_served_from_the_cache_loads_no_http_stack(statement: str) -> None:
    assert imported_after(statement, HTTP_STACK) == ""


def test_the_own_session_is_made_when_first_used() -> None:
    statement = (
        "import identitylib; app = identitylib.PublicClientApplication('c'); "
        "assert 'requests' not in sys.modules; session = app.http_client"
    )
    assert imported_after(statement, ("requests",)) == "requests"


def test_importing_the_package_loads_no_token_machinery() -> None:
    """The applications, the cache and the flows load when a name is first used."""
    machinery = ("identitylib._application", "identitylib._cache", "identitylib._flows")
    assert imported_after("import identitylib", machinery) == ""
    assert imported_after("import identitylib; identitylib.TokenCache", machinery) == (
        "identitylib._cache"
    )


FRAMEWORKS = ("flask", "werkzeug", "django", "starlette", "fastapi", "uvicorn")


@pytest.mark.parametrize("statement", ["import identitylib", "import identitylib.web"])
def test_importing_the_package_imports_no_web_framework(statement: str) -> None:
    assert imported_after(statement, FRAMEWORKS) == ""


def test_a_token_served_from_a_persisted_file_imports_no_write_machinery(tmp_path) -> None:
    """The cross-process lock and temporary files are only needed to write: a process that
    serves its token from the file never imports portalocker (which imports redis where it
    is installed) nor tempfile."""
    path = tmp_path / "cache.json"
    lock_module = ("portalocker", "tempfile")
    write = SERVE_FROM_CACHE.replace("cache = identitylib.TokenCache()", (
        f"cache = identitylib.PersistedTokenCache({str(path)!r})"
    ))  # fmt: skip
    assert imported_after(write, lock_module) == "portalocker tempfile"  # (written)
    assert path.exists()
    serve = (
        f"import identitylib; cache = identitylib.PersistedTokenCache({str(path)!r}); "
        "app = identitylib.ConfidentialClientApplication('c', 's', token_cache=cache, "
        f"authority='{AUTHORITY}'); "
        "assert app.acquire_token_for_client(['api://a/.default'])['token_source'] == 'cache'"
    )
    assert imported_after(serve, lock_module) == ""
