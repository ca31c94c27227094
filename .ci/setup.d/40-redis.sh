#!/usr/bin/env bash
# redis-server for tests/redis/ (RedisTokenCache). The tests start and stop their own
# server on a free loopback port, so no system service is started or enabled here.
# Idempotent: does nothing when redis-server is installed.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server already installed: $(redis-server --version | head -n 1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "40-redis: not root and no sudo; cannot install redis-server (tests/redis will skip, or fail under CI)" >&2
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 keeps the package's postinst from starting the service, where an
# init system would start it; the file is removed again afterwards if we created it.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    CREATED_POLICY=1
fi
cleanup() {
    if [ -n "$CREATED_POLICY" ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT

$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends redis-server
echo "installed: $(redis-server --version | head -n 1)"
