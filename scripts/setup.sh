#!/usr/bin/env bash
# Sets up a fresh machine for running and testing BOS: redis-server and redis-sentinel from Debian
# packages (used by the Redis store and Sentinel failover tests and `--redis`); chromium and
# prometheus when they can be installed (the browser tests of the web view and the tests with a real
# Prometheus skip, saying why, without them); then the npm packages from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-sentinel >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing redis-server and redis-sentinel from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server redis-sentinel >/dev/null
  elif ! command -v redis-server >/dev/null 2>&1; then
    echo "setup: redis-server is not installed and cannot be installed here (needs root and apt-get)." >&2
    echo "setup: install it with your package manager (Debian: apt-get install redis-server redis-sentinel), then run this again." >&2
    exit 1
  else
    echo "setup: redis-sentinel is not installed; the Sentinel tests run redis-server in sentinel mode instead"
  fi
fi

# Optional: without them the tests that need them skip with a message naming the package.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]} from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      echo "setup: could not install ${missing[*]}; the tests that need them will skip" >&2
  else
    echo "setup: ${missing[*]} not installed (needs root and apt-get); the tests that need them will skip" >&2
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
