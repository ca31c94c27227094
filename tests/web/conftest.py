"""Fixtures of the web tests: the emulator, headless Chromium, and servers on loopback.

* ``emu``: one emulator for the module (plain HTTP on 127.0.0.1; the web apps run on
  ``localhost``, another site, as a provider and an app are in real life).
* ``chromium``: a headless Chromium driven by Selenium (Debian's ``chromium`` and
  ``chromium-driver``); missing, it skips locally and fails under CI=true.
* :func:`serve_wsgi`: runs a WSGI app (Flask, Django) on a free loopback port in a thread.
* :func:`serve_asgi`: runs an ASGI app (Starlette, FastAPI) with uvicorn the same way.
"""

from __future__ import annotations

import base64
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from identitylib.emulator import DEMO_WEB_ID, Emulator
from tests._chromium import WAIT, headless_chromium
from tests._servers import require_module


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean_emulator(request: pytest.FixtureRequest) -> None:
    if "emu" in request.fixturenames:
        emulator: Emulator = request.getfixturevalue("emu")
        emulator.faults.reset()
        emulator.reset_requests()
        emulator.reset_logouts()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium (module-scoped; tests delete its cookies as they need)."""
    yield from headless_chromium()


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI ``app`` on 127.0.0.1 (threaded); yields ``http://localhost:<port>``."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on 127.0.0.1 (its own event loop, in a thread);
    yields ``http://localhost:<port>``. The app's lifespan runs (startup and shutdown)."""
    uvicorn = require_module("uvicorn")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        for _ in range(WAIT * 20):  # bounded: at most WAIT seconds
            if server.started or not thread.is_alive():
                break
            thread.join(timeout=0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://localhost:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT)
        listener.close()


#: A JWT (three base64url parts, the first a JSON object's encoding).
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


def starlette_session(cookie: str) -> str:
    """The JSON text inside a Starlette session cookie (``base64(json).time.signature``)."""
    data = cookie.strip('"').split(".", 1)[0]
    return base64.b64decode(data + "=" * (-len(data) % 4)).decode("utf-8")


ALICE, ALICE_PASSWORD = "alice@contoso.onmicrosoft.com", "alice-password"


def browser_sign_in(driver: Any, username: str = ALICE, password: str = ALICE_PASSWORD) -> None:
    """On the emulator's sign-in page the browser is showing: type and submit."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    field = WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.NAME, "username"))
    field.clear()
    field.send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[name='action'][value='signin']").click()


def wait_for(driver: Any, condition: Any) -> None:
    """Wait (at most :data:`WAIT` seconds) until ``condition(driver)`` is true."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(condition)


def page_json(driver: Any) -> Any:
    """The JSON a page of the browser test sites shows, once it shows it.

    After a click the URL can already be the new page's while its document has no body
    yet (the navigation committed, the response is still arriving): wait (at most
    :data:`WAIT` seconds) for a body whose text is JSON, as a user waits for the page.
    """
    import json

    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    shown: list[Any] = []

    def has_json(d: Any) -> bool:
        try:
            shown.append(json.loads(d.find_element(By.TAG_NAME, "body").text))
        except (NoSuchElementException, StaleElementReferenceException, ValueError):
            return False
        return True

    wait_for(driver, has_json)
    return shown[-1]


def whole_visit(
    driver: Any, base: str, emu: Emulator, signed_in_accounts: Any, signout_page: str
) -> None:
    """The visit every framework's browser test makes, on a site with the pages
    ``/demo-api`` (a downstream API call: the emulator's demo API), ``/stock`` (a token for
    a second API, which needs the user's consent) and ``signout_page`` (a form whose
    button ``#out`` posts the sign-out):

    sign in, call the downstream API, consent to the second API on first use, sign out at
    the provider and come back home: session gone, the user's cache partition gone
    (``signed_in_accounts()`` empty), the provider's sign-out reached once, by this app.
    """
    from selenium.webdriver.common.by import By

    def page() -> Any:
        return page_json(driver)

    emu.provider.revoke_consent(ALICE)
    emu.reset_logouts()
    driver.delete_all_cookies()
    driver.get(f"{base}/demo-api")
    browser_sign_in(driver)
    wait_for(driver, lambda d: d.current_url == f"{base}/demo-api")
    assert page() == {"status": 200, "user": ALICE}

    driver.get(f"{base}/stock")  # a scope not consented to yet: the consent page
    accept = (By.CSS_SELECTOR, "button[value='accept']")
    wait_for(driver, lambda d: d.find_elements(*accept) or d.find_elements(By.NAME, "username"))
    if driver.find_elements(By.NAME, "username"):  # a provider session may not be kept
        browser_sign_in(driver)
        wait_for(driver, lambda d: d.find_elements(*accept))
    driver.find_element(*accept).click()
    wait_for(driver, lambda d: d.current_url == f"{base}/stock")
    assert page() == {"page": "stock", "token": True}

    driver.get(f"{base}{signout_page}")
    driver.find_element(By.ID, "out").click()
    wait_for(driver, lambda d: d.current_url == f"{base}/")  # back from the provider
    assert page()["user"] is None
    assert not signed_in_accounts()
    assert [logout.client_id for logout in emu.logouts] == [DEMO_WEB_ID]
