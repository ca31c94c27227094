"""The documentation site builds with ``mkdocs build --strict``; its quickstart runs."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from tests._servers import unavailable

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = re.compile(r"## Quickstart[^\n]*\n.*?```python\n(.*?)```", re.DOTALL)


def _quickstart(path: Path) -> str:
    found = QUICKSTART.search(path.read_text(encoding="utf-8"))
    assert found, f"no quickstart code block in {path.name}"
    return found.group(1)


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            unavailable(f"{module} (pip install -e '.[docs]')")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "api" / "identitylib" / "index.html").exists()


def test_the_quickstart_runs_as_copied(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(_quickstart(ROOT / "docs" / "index.md"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["token from identity_provider", "token from cache"]


def test_the_readme_quickstart_is_the_docs_quickstart() -> None:
    assert _quickstart(ROOT / "README.md") == _quickstart(ROOT / "docs" / "index.md")
