"""One Worker of the split local runtime, started by its supervisor (``local_runtime.processes``).

    python -m local_runtime.worker_process --role api --data-dir D --run-dir R ...

Not a command for people: ``tts-pipeline dev`` starts these. The settings
come from the environment, as for the supervisor.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from local_runtime.console import TextLogStream
from local_runtime.runtime import HOST_LOST_EXIT, ROLES, LocalRuntime, ProcessPlace

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process the moment its parent dies, ``kill -9`` included.
    Elsewhere the shard socket closing does it (``LocalRuntime._shard_host_lost``)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the call above
        os._exit(HOST_LOST_EXIT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_runtime.worker_process", description=__doc__)
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--meter-row", type=int, required=True)
    parser.add_argument("--meter-rows", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-format", choices=("text", "json"), default="json")
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args(argv)
    die_with_parent(args.parent_pid)
    place = ProcessPlace(args.role, args.run_dir, args.meter_row, args.meter_rows)
    log_stream = TextLogStream() if args.log_format == "text" else None

    async def run() -> None:
        runtime = LocalRuntime(
            args.data_dir, dict(os.environ), host=args.host, port=args.port,
            log_stream=log_stream, log_requests=True, place=place,  # type: ignore[arg-type]
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.serve_forever(stop.wait)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
