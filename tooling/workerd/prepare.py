"""``python -m tooling.workerd.prepare``: what plain ``wrangler dev`` needs here, offline.

Installs the pinned tools, vendors ``python_modules/``, builds the dev
Pyodide bundle and the ``workerd`` wrapper (as ``tts-pipeline dev --runtime
workerd`` does), writes the dev configs under ``.cache/workerd/dev/`` from the
current environment, and prints the environment that ``wrangler dev`` must
run with as ``NAME=value`` lines. ``tools/wrangler`` reads them and runs the
pinned wrangler, so a developer can use wrangler as Cloudflare's docs show:

    tools/wrangler dev -c .cache/workerd/dev/api/wrangler.json      # one Worker
    tools/wrangler dev --all                                           # all of them
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from tooling.workerd import devconfig, runner, toolchain

DEV_DIR = toolchain.CACHE / "dev"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    try:
        tools, wrapper = runner.prepare(progress=not args.quiet)
    except (toolchain.ToolchainError, runner.WorkerdError, OSError) as exc:
        print(f"prepare: {exc}", file=sys.stderr)
        return 2
    configs = devconfig.write_run_configs(DEV_DIR, dict(os.environ), host="127.0.0.1")
    env = runner.wrangler_env(tools, wrapper, {})
    env["TTS_WRANGLER_NODE"] = str(tools.node)
    env["TTS_WRANGLER_JS"] = str(tools.wrangler)
    env["TTS_WRANGLER_CONFIGS"] = " ".join(f"-c {c}" for c in configs)
    for name, value in env.items():
        print(f"{name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
