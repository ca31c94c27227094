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
import os
import re
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from identitylib.emulator import Emulator
from tests._servers import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
)
#: Seconds any single browser wait may take.
WAIT = 20


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
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        unavailable("headless Chromium")
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("headless Chromium (the selenium package)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    with tempfile.TemporaryDirectory(prefix="identitylib-web-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        try:  # the explicit driver path keeps Selenium Manager from downloading anything
            browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        except WebDriverException as exc:
            unavailable(f"headless Chromium ({exc.msg})")
        try:
            browser.set_page_load_timeout(WAIT)
            browser.set_script_timeout(WAIT)
            yield browser
        finally:
            browser.quit()


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
    uvicorn = pytest.importorskip("uvicorn")
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
