"""tts-pipeline: text-to-speech as jobs, locally and on Cloudflare Workers.

Start the pipeline with 'tts-pipeline dev', then speak with 'tts-pipeline
submit "Hello" -o hello.wav' or open http://127.0.0.1:8787/ in a browser.
'tts-pipeline COMMAND --help' tells more about each command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from local_runtime.console import LOG_FORMATS, TextLogStream, port_in_use, resolve_log_format
from tooling.deploy import add_deploy_command
from tooling.lifecycle import add_r2_commands
from local_runtime.token_cli import add_token_commands
from tooling.vendor import add_vendor_command
from shared.errors import ConfigError
from tts_client.cli import add_client_commands, add_version_option, clean_help


def _dev(args: argparse.Namespace) -> int:
    if port_in_use(args.host, args.port):
        print(
            f"tts-pipeline dev: port {args.port} on {args.host} is already in use (another 'tts-pipeline dev'?);"
            f" stop it or pass --port", file=sys.stderr,
        )
        return 2
    if args.runtime == "workerd":
        from tooling.workerd.runner import run_dev

        return run_dev(args.data_dir, dict(os.environ), args.host, args.port)
    from local_runtime.runtime import LocalRuntime

    log_format = resolve_log_format(args.log_format, sys.stdout)
    log_stream = TextLogStream() if log_format == "text" else None
    env = dict(os.environ)

    async def main() -> int:
        try:
            runtime = LocalRuntime(
                args.data_dir, env, host=args.host, port=args.port,
                log_stream=log_stream, log_requests=True,
            )
        except ConfigError as exc:
            print(f"tts-pipeline dev: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.serve_forever(stop.wait)
        return 0

    return asyncio.run(main())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tts-pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_version_option(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev = sub.add_parser("dev", help="run the api, synth_consumer and reaper Workers locally")
    dev.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only; another needs API_TOKENS)")
    dev.add_argument("--port", type=int, default=8787, help="port to listen on (default 8787; 0: any free port)")
    dev.add_argument(
        "--runtime", choices=("local", "workerd"), default="local",
        help="local: CPython, the three Workers and their bindings in this one process (default; has espeak);"
        " workerd: Cloudflare's runtime through wrangler dev, offline (installs its tools on first use)",
    )
    dev.add_argument("--data-dir", default=".tts-data", help="where jobs, audio and queues are kept (default .tts-data)")
    dev.add_argument(
        "--log-format", choices=LOG_FORMATS, default="auto",
        help="text: a start message and one readable line per request; json: JSON lines, as Workers Logs get"
        " them; auto (default): text on a terminal, else json (local runtime; workerd prints wrangler's log)",
    )
    dev.set_defaults(func=_dev)
    try:
        from bench.__main__ import add_bench_command
    except ImportError:  # installed without the checkout's bench/
        pass
    else:
        add_bench_command(sub)  # bench: python -m bench
    add_client_commands(sub)  # submit, wait, status, list, download, delete, models
    add_r2_commands(sub)  # r2 lifecycle show|apply|check
    add_token_commands(sub)  # token new|hash
    add_vendor_command(sub)  # vendor: each Worker's python_modules/
    add_deploy_command(sub)  # deploy [--dry-run]: resources, secrets, the three Workers
    return clean_help(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
