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


FRAMEWORKS = ("flask", "werkzeug", "django", "starlette", "fastapi", "uvicorn")


@pytest.mark.parametrize("statement", ["import identitylib", "import identitylib.web"])
def test_importing_the_package_imports_no_web_framework(statement: str) -> None:
    assert imported_after(statement, FRAMEWORKS) == ""
