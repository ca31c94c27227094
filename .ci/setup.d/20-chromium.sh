#!/usr/bin/env bash
# Headless Chromium and its WebDriver, for tests/e2e/test_interactive_chromium.py
# (a real browser signs in on the emulator and lands on the interactive loopback listener).
# Debian's chromium-driver matches its chromium exactly; nothing is downloaded at run time.
# Idempotent: does nothing when both are installed.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "chromium and chromedriver already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "20-chromium: not root and no sudo; cannot install chromium (its test will skip or fail)" >&2
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver
