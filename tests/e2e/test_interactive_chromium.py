"""acquire_token_interactive with a real browser: headless Chromium driven by Selenium.

Chromium opens the auth URI on the emulator, the user's name and password are typed into
its sign-in page, and the page's ``form_post`` script delivers the answer to the loopback
listener. Needs Debian's ``chromium`` and ``chromium-driver`` (.ci/setup.d/20-chromium.sh)
and the ``selenium`` package; without them the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import identitylib
from identitylib._interactive import _browser
from identitylib.emulator import DEMO_API_URI, DEMO_CLI_ID, Emulator
from tests._chromium import WAIT, headless_chromium

ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"
API_SCOPES = [f"{DEMO_API_URI}/access_as_user"]


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    yield from headless_chromium()


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


class InteractiveCall:
    """``acquire_token_interactive`` on a thread, its browser launcher handing the URL over."""

    def __init__(self, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.urls: queue.Queue[str] = queue.Queue()
        self.outcome: dict[str, Any] = {}
        monkeypatch.setattr(_browser, "open_browser", self._launch)
        self.app = identitylib.PublicClientApplication(DEMO_CLI_ID, authority=emu.authority())
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _launch(self, url: str) -> bool:
        self.urls.put(url)
        return True

    def _run(self) -> None:
        try:
            self.outcome["result"] = self.app.acquire_token_interactive(
                API_SCOPES, timeout=2 * WAIT
            )
        except BaseException as exc:
            self.outcome["error"] = exc

    def auth_uri(self) -> str:
        return self.urls.get(timeout=WAIT)

    def result(self) -> dict[str, Any]:
        self.thread.join(3 * WAIT)
        assert not self.thread.is_alive()
        if "error" in self.outcome:
            raise self.outcome["error"]
        result: dict[str, Any] = self.outcome["result"]
        return result


def fill_in_sign_in_page(driver: Any, url: str, button: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    username = WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.NAME, "username"))
    username.clear()
    username.send_keys(ALICE)
    driver.find_element(By.NAME, "password").send_keys(ALICE_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, f"button[name='action'][value='{button}']").click()


def wait_for_listener_page(driver: Any, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(
        lambda d: d.current_url.startswith("http://localhost:") and text in d.page_source
    )


def test_chromium_signs_in_and_lands_on_the_listener(
    driver: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = InteractiveCall(emu, monkeypatch)
    url = call.auth_uri()
    assert parse_qs(urlsplit(url).query)["response_mode"] == ["form_post"]
    fill_in_sign_in_page(driver, url, "signin")
    wait_for_listener_page(driver, "Authentication complete")
    assert urlsplit(driver.current_url).query == ""  # the code came in a POST body
    result = call.result()
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE
    accounts = list(call.app.token_cache.search("Account", query={}))
    assert [a["username"] for a in accounts] == [ALICE]
    assert list(call.app.token_cache.search("RefreshToken", query={}))


def test_chromium_user_cancels(driver: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    call = InteractiveCall(emu, monkeypatch)
    fill_in_sign_in_page(driver, call.auth_uri(), "decline")
    wait_for_listener_page(driver, "Authentication failed")
    result = call.result()
    assert result["error"] == "access_denied"
    assert "access_token" not in result
