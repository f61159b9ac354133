#!/usr/bin/env bash
# Sets up a fresh machine for running and testing BOS: redis-server from Debian packages (used by the
# Redis store tests and `--redis`), then the npm packages from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing redis-server from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
  else
    echo "setup: redis-server is not installed and cannot be installed here (needs root and apt-get)." >&2
    echo "setup: install it with your package manager (Debian: apt-get install redis-server), then run this again." >&2
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
