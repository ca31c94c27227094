from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._hostile import HostileServer, running


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    yield from running()
