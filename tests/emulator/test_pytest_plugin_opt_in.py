"""The emulator's pytest plugin loads only in a project that asks for it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests._servers import unavailable

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "identitylib.emulator.pytest_plugin"
PREFIXED = {"identitylib_emulator", "identitylib_emulator_tls", "identitylib_fresh_emulator"}


def _installed_metadata_registers_the_plugin(project: Path) -> bool:
    """Whether a pytest run in ``project`` would find the plugin as an installed entry
    point (an install made before it went): asked of a fresh interpreter, as pytest is."""
    probe = (  # every distribution's entry points, as pytest reads them
        "from importlib.metadata import distributions\n"
        f"print(any(p.group == 'pytest11' and p.value == {PLUGIN!r}\n"
        "          for d in distributions() for p in d.entry_points))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return answer.stdout.strip() == "True"


def _fixtures_offered(project: Path, *, autoload: bool = True) -> set[str]:
    """The names ``pytest --fixtures`` lists in ``project`` that mention an emulator."""
    (project / "test_nothing.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider",
         "--rootdir", str(project), str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return set(re.findall(r"^(\w*emulator\w*)\b", result.stdout, flags=re.MULTILINE))


def test_the_package_declares_no_pytest_entry_point() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "pytest11" not in pyproject
    assert PLUGIN not in pyproject


def test_a_project_that_does_not_opt_in_sees_no_emulator_fixture(tmp_path: Path) -> None:
    if _installed_metadata_registers_the_plugin(tmp_path):
        unavailable("an identitylib install without the old pytest11 entry point")
    # Autoloading stays on: a project's run loads every installed pytest11 entry point.
    assert _fixtures_offered(tmp_path) == set()


def test_a_project_that_opts_in_gets_the_prefixed_fixtures_only(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(f"pytest_plugins = [{PLUGIN!r}]\n", encoding="utf-8")
    # Only what the conftest asks for (an install made before the entry point went would
    # register the module a second time under its old name).
    assert _fixtures_offered(tmp_path, autoload=False) == PREFIXED


def test_a_project_can_opt_in_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(f"[pytest]\naddopts = -p {PLUGIN}\n", encoding="utf-8")
    assert _fixtures_offered(tmp_path, autoload=False) == PREFIXED
