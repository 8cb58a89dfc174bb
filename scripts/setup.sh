#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine: system packages (as root),
# a virtual environment with the Python packages, and the npm packages the browser tests inject.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need_apt+=(fonts-dejavu-core)
dpkg -s libpango-1.0-0 >/dev/null 2>&1 || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# nginx for the test that runs deploy/nginx/pdva.conf in front of `pdva serve` (the test starts its own
# nginx on loopback ports; the packaged service is not needed).
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages (as root): ${need_apt[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if [ -f package.json ] && [ ! -d node_modules ]; then
  npm install --silent --no-audit --no-fund
fi

# Static files for `pdva serve` (hashed and compressed into var/static; only when they changed). The tests
# read them from the source folders, so a test run skips this.
if [ "${PDVA_ENV:-development}" != test ]; then
  .venv/bin/pdva serve --collect-only >/dev/null
fi
