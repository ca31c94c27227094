"""The browser tests' helpers wait for what a user waits for."""

from __future__ import annotations

import pytest

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
