"""The browser tests' helpers wait for what a user waits for; their Chromium's driver
listens on a port of the xdist worker's own."""

from __future__ import annotations

from typing import Any

import pytest

from tests._ports import worker_index, worker_slice
from tests._servers import require_module

from .conftest import page_json


class _Body:
    def __init__(self, text: str) -> None:
        self.text = text


class _DocumentArriving:
    """A driver whose current document first has no body, then an empty one, then JSON: a
    page whose URL is already shown while its response is still arriving."""

    def __init__(self) -> None:
        self.looks = 0

    def find_element(self, by: str, value: str) -> _Body:
        from selenium.common.exceptions import NoSuchElementException

        assert (by, value) == ("tag name", "body")
        self.looks += 1
        if self.looks == 1:
            raise NoSuchElementException("no body yet")
        return _Body("" if self.looks == 2 else '{"page": "stock"}')


@pytest.fixture(autouse=True)
def _selenium() -> None:
    require_module("selenium")


def test_page_json_waits_until_the_page_shows_its_json() -> None:
    driver = _DocumentArriving()
    assert page_json(driver) == {"page": "stock"}
    assert driver.looks == 3


def test_chromedriver_listens_on_a_port_of_this_xdist_worker(chromium: Any) -> None:
    assert chromium.service.port in worker_slice(worker_index())
