#!/usr/bin/env bash
# The OpenID Connect peer of tests/oidc/: the npm package oidc-provider, run by
# tests/oidc_peer/server.mjs. Installs Node.js from Debian only when `node` is absent, then
# the npm packages pinned by tests/oidc_peer/package-lock.json.
# Idempotent: does nothing when node_modules matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../../tests/oidc_peer"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "30-oidc-provider: no node, not root and no sudo; tests/oidc will skip (fail under CI)" >&2
            exit 0
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends nodejs npm
fi
echo "node $(node --version), npm $(npm --version 2>/dev/null)"
# oidc-provider 9 needs Node.js 20.19 or later (Debian bookworm's nodejs 18 is too old).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "30-oidc-provider: node $(node --version) is older than 20.19; oidc-provider 9 will not run" >&2
fi

# npm writes node_modules/.package-lock.json on every install: when it is newer than the
# lock file (and package.json), node_modules is current.
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ "$stamp" -nt package.json ] \
    && [ -d node_modules/oidc-provider ]; then
    echo "oidc-provider $(node -p 'require("./node_modules/oidc-provider/package.json").version' 2>/dev/null || echo '?') already installed"
    exit 0
fi

if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund
else
    npm install --no-audit --no-fund
fi
