"""Headless Chromium for the browser tests, driven by Selenium (Debian's ``chromium`` and
``chromium-driver``, installed by .ci/setup.d/20-chromium.sh). Missing, the tests that need
it skip locally and fail under CI=true."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

from tests._ports import free_port
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


def headless_chromium() -> Iterator[Any]:
    """Generator body of a Chromium fixture: start the browser, yield it, always quit."""
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
    with tempfile.TemporaryDirectory(prefix="identitylib-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        # The explicit driver path keeps Selenium Manager from downloading anything; the
        # port is this xdist worker's (Selenium would probe one in the ephemeral range).
        service = Service(CHROMEDRIVER, port=free_port())
        try:
            browser = webdriver.Chrome(options=options, service=service)
        except WebDriverException as exc:
            unavailable(f"headless Chromium ({exc.msg})")
        try:
            browser.set_page_load_timeout(WAIT)
            browser.set_script_timeout(WAIT)
            yield browser
        finally:
            browser.quit()
