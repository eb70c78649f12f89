#!/usr/bin/env bash
# Sets up what the web page's browser tests (tests/integration/test_web_page.py)
# and tools/screenshot_web.py need, from the package registries only:
#   - Debian's chromium (apt), at /usr/bin/chromium, plus a font;
#   - Playwright from PyPI, into the Python given as $PYTHON or the first
#     argument (default: .venv/bin/python when it exists, else python3).
#     It drives the system chromium; never `playwright install` (downloads).
# Idempotent: with both in place it only checks and returns (well under 1 s).
# Needs root (or sudo) only when chromium is missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${1:-${PYTHON:-}}"
if [[ -z "$python" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python=python3; fi
fi

if [[ ! -x /usr/bin/chromium ]]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup_browser.sh: no apt-get here; install Chromium yourself (or set CHROMIUM=/path/to/chromium)" >&2
    exit 1
  fi
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { echo "setup_browser.sh: installing chromium needs root" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
fi

if ! "$python" -c "import playwright.sync_api" 2>/dev/null; then
  "$python" -m pip install --quiet --disable-pip-version-check "playwright>=1.50"
fi

# Debian's wrapper script prints a harmless shell warning on some machines.
/usr/bin/chromium --version 2>/dev/null
