"""``tests._servers.require_module``: a missing test dependency skips locally and fails under CI."""

from __future__ import annotations

import json

import pytest

from tests._servers import require_module

MISSING = "identitylib_tests_no_such_module"


def test_an_installed_module_is_returned() -> None:
    assert require_module("json") is json


def test_a_missing_module_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        require_module(MISSING)


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_a_missing_module_fails_under_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=MISSING):
        require_module(MISSING)
