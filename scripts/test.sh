#!/usr/bin/env bash
# Installs everything the tests need (from PyPI, npm and Debian only) and runs
# them. Extra arguments go to pytest: scripts/test.sh -k consumer -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
# Node 24, Pyodide 314.0.6, Miniflare, wrangler and the wasm wheels for the
# Pyodide conformance tier (tests/pyodide).
bash tools/setup_pyodide_env.sh >/dev/null
# Debian's Chromium for the web page's end-to-end test, where apt is usable.
if [[ -f tools/setup_browser.sh ]]; then bash tools/setup_browser.sh || echo "scripts/test.sh: no browser; the web test will skip" >&2; fi

exec .venv/bin/python -m pytest "$@"
