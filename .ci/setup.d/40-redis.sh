#!/usr/bin/env bash
# redis-server and redis-cli for tests/redis/ (RedisTokenCache). The tests start and
# stop their own servers on free loopback ports: a single server, a cluster (six
# `redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create`) and a
# Sentinel set (sentinels are `redis-server sentinel.conf --sentinel`, so Debian's
# redis-sentinel package is not needed). No system service is started or enabled here.
# Idempotent: does nothing when both are installed (redis-cli comes with redis-tools, a
# dependency of Debian's redis-server).
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
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
$SUDO apt-get install -y --no-install-recommends redis-server redis-tools
echo "installed: $(redis-server --version | head -n 1)"
