"""``tts-pipeline deploy``: every step of a first (or any later) deployment to Cloudflare.

In order:

1. vendor: each Worker's ``python_modules/`` (``tts-pipeline vendor``);
2. the R2 bucket, the jobs queue, its dead-letter queue and the webhooks queue
   (``wrangler r2 bucket create``, ``wrangler queues create``);
3. the bucket's lifecycle rules (``tts-pipeline r2 lifecycle apply``'s rules,
   from the Workers' configured ``MAX_TTL_SECONDS`` and ``REAPER_GIVE_UP_SECONDS``);
4. each Worker's secrets (``wrangler secret put``), the values read from the
   environment variable of the same name, or asked for without echo when a
   required one is missing and stdin is a terminal; a value is only ever
   written to wrangler's stdin, never printed nor put on a command line;
5. ``wrangler deploy`` of the api Worker (it hosts the Durable Object class
   the others bind to with ``script_name``), then synth_consumer, then reaper.

Each step is safe to repeat: a create whose resource already exists counts
as done, the lifecycle rules and secrets are replaced, a deploy uploads a
new version. ``--dry-run`` prints every command (and the rules file) and
runs none. wrangler is the repository's pinned one when ``tools/node`` is
installed (else ``npx wrangler``); it needs ``wrangler login`` or
``CLOUDFLARE_API_TOKEN`` (+ ``CLOUDFLARE_ACCOUNT_ID``) in the environment.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling import lifecycle, vendor
from shared.config import Settings
from shared.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
WORKERS = REPO / "workers"
DEPLOY_ORDER = ("api", "synth_consumer", "reaper")  # the Durable Object's host first
BUCKET = lifecycle.BUCKET
QUEUES = ("tts-jobs", "tts-chunks", "tts-jobs-dlq", "tts-webhooks")
PROVIDER_KEYS = ("OPENAI_API_KEY", "ELEVENLABS_API_KEY", "GEMINI_API_KEY")
ROTATION = ("SIGNING_KEY_PREVIOUS", "SIGNING_KEY_PREVIOUS_UNTIL")


@dataclass(frozen=True)
class Secrets:
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


# The secrets each Worker may take besides the required ones, which its
# wrangler.toml declares (``[secrets] required``: wrangler refuses a deploy
# without them). The api lists only the models whose provider has a key, so it
# takes them too. Workers AI needs no key on Cloudflare (the AI binding);
# CLOUDFLARE_API_TOKEN is wrangler's own credential here and is never uploaded.
OPTIONAL_SECRETS: dict[str, tuple[str, ...]] = {
    "api": ROTATION + PROVIDER_KEYS,
    "synth_consumer": ROTATION + PROVIDER_KEYS,
    "reaper": (),
}


def secrets_of(name: str) -> Secrets:
    """What the Worker ``name`` reads as a secret (docs/security.md, docs/providers.md)."""
    required = tuple(worker_config(name).get("secrets", {}).get("required", ()))
    return Secrets(required=required, optional=OPTIONAL_SECRETS[name])


class DeployError(Exception):
    """Raised when a step cannot run or fails (the message names the step)."""


@dataclass
class Step:
    title: str
    command: list[str] = field(default_factory=list)
    cwd: Path = REPO
    stdin_env: str | None = None  # the secret's variable: its value goes to stdin
    exists_ok: bool = False  # "already exists" from wrangler means done
    note: str = ""
    files: dict[str, str] = field(default_factory=dict)  # path -> content, written before running
    action: Callable[[], str] | None = None  # an in-process step (vendor)

    def shown(self) -> str:
        if self.action is not None:
            return self.note
        command = shlex.join(self.command)
        if self.stdin_env:
            command = f'printf %s "${self.stdin_env}" | {command}'
        return command if self.cwd == REPO else f"(cd {self.cwd.relative_to(REPO)} && {command})"


def worker_config(name: str) -> dict[str, Any]:
    return tomllib.loads((WORKERS / name / "wrangler.toml").read_text())


def deployed_settings() -> Settings:
    """The settings the Workers are configured with (their [vars]), defaults elsewhere."""
    merged: dict[str, Any] = {}
    for name in reversed(DEPLOY_ORDER):  # the api's values win where several set one
        merged.update(worker_config(name).get("vars", {}))
    return Settings.from_env(merged)


def plan(env: Mapping[str, str], wrangler: Sequence[str], *, interactive: bool) -> list[Step]:
    """Every step, in order; secret values stay in ``env`` (only their names are in the steps)."""
    steps = [
        Step(
            "vendor each Worker's python_modules/",
            note="tts-pipeline vendor",
            action=lambda: "\n".join(
                f"  {b.worker}: {b.files} files, {b.gzip_bytes / 1024:,.0f} KiB gzipped"
                for b in (vendor.build(d, sizes=True) for d in vendor.worker_dirs())
            ),
        ),
        Step(f"create the R2 bucket {BUCKET}", [*wrangler, "r2", "bucket", "create", BUCKET], exists_ok=True),
    ]
    steps += [
        Step(f"create the queue {queue}", [*wrangler, "queues", "create", queue], exists_ok=True) for queue in QUEUES
    ]
    settings = deployed_settings()
    days = lifecycle.retention_days(settings.max_ttl_seconds)
    chunks = lifecycle.chunk_days(settings.reaper_give_up_seconds)
    rules_file = str(Path(tempfile.gettempdir()) / "tts-r2-lifecycle.json")
    steps.append(
        Step(
            f"apply the lifecycle rules to {BUCKET}: audio/ expires after {days} days, tmp/ after {chunks}",
            lifecycle.wrangler_command("apply", BUCKET, wrangler, rules_file=rules_file),
            files={rules_file: json.dumps(lifecycle.desired_rules(days, 1, chunks), indent=2) + "\n"},
        )
    )
    for name in DEPLOY_ORDER:
        wanted = secrets_of(name)
        cwd = WORKERS / name
        script = worker_config(name)["name"]
        for secret in (*wanted.required, *wanted.optional):
            command = [*wrangler, "secret", "put", secret]
            if env.get(secret):
                steps.append(Step(f"secret {secret} of {script}", command, cwd=cwd, stdin_env=secret,
                                  note=f"from ${secret}"))
            elif secret in wanted.required and interactive:
                steps.append(Step(f"secret {secret} of {script}", command, cwd=cwd, stdin_env=secret,
                                  note="asked for, not echoed"))
            elif secret in wanted.required:
                raise DeployError(f"{name} needs the secret {secret}: set ${secret} (or run in a terminal)")
        unset = [secret for secret in wanted.optional if not env.get(secret)]
        if unset:
            steps.append(Step(f"optional secrets of {script} not set, skipped", note=", ".join(unset)))
    for name in DEPLOY_ORDER:
        steps.append(Step(f"deploy {worker_config(name)['name']}", [*wrangler, "deploy"], cwd=WORKERS / name))
    return steps


def _already_exists(output: str) -> bool:
    """Whether a failed create says the resource is there already.

    R2 answers "The bucket you tried to create already exists, and you own
    it. [code: 10004]"; for queues the API's wording has varied ("already
    exists", "already taken"), so any of these phrasings counts.
    """
    return re.search(r"already (exists?|taken|in use)|\[code: 10004\]", output, re.IGNORECASE) is not None


def execute(steps: Sequence[Step], env: dict[str, str], wrangler_env: dict[str, str], out: Callable[[str], None]) -> None:
    for number, step in enumerate(steps, start=1):
        out(f"[{number}/{len(steps)}] {step.title}")
        if step.action is not None:
            out(step.action())
            continue
        if not step.command:
            out(f"  {step.note}")
            continue
        for path, content in step.files.items():
            Path(path).write_text(content)
        stdin = None
        if step.stdin_env:
            stdin = env.get(step.stdin_env) or getpass.getpass(f"{step.stdin_env}: ")
            env[step.stdin_env] = stdin  # asked once, reused by the next Worker
        done = subprocess.run(
            step.command, cwd=step.cwd, env=wrangler_env, input=stdin, capture_output=True, text=True, check=False
        )
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0 and step.exists_ok and _already_exists(output):
            out("  already exists: done")
            continue
        if output:
            out("\n".join(f"  {line}" for line in output.splitlines()))
        if done.returncode != 0:
            raise DeployError(f"step {number} ({step.title}) failed: {shlex.join(step.command)} exited {done.returncode}")


def show(steps: Sequence[Step], wrangler: Sequence[str], out: Callable[[str], None]) -> None:
    out(f"# tts-pipeline deploy --dry-run: nothing is run. The steps, in order, from {REPO}:")
    if wrangler and Path(wrangler[0]) == lifecycle.PINNED_WRANGLER:
        out(f"# wrangler is the pinned one; it runs on the pinned Node: PATH={lifecycle.PINNED_WRANGLER.parent}:$PATH")
    for number, step in enumerate(steps, start=1):
        out(f"\n# {number}. {step.title}" + (f" ({step.note})" if step.note and step.command else ""))
        for path, content in step.files.items():
            out(f"# writes {path}:")
            out("\n".join(f"#   {line}" for line in content.splitlines()))
        out(step.shown() if (step.command or step.action) else f"# {step.note}")


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    prefix = lifecycle.wrangler_prefix(args.wrangler)
    env = dict(os.environ)
    interactive = not args.dry_run and sys.stdin.isatty()
    steps = plan(env, prefix, interactive=interactive or args.dry_run)
    if args.dry_run:
        show(steps, prefix, out)
        return 0
    execute(steps, env, lifecycle.wrangler_env(prefix), out)
    out("deployed: api, synth_consumer, reaper")
    return 0


def _main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except (DeployError, vendor.VendorError, lifecycle.LifecycleError, ConfigError, OSError) as exc:
        print(f"tts-pipeline deploy: {exc}", file=sys.stderr)
        return 2


def add_deploy_command(sub: Any) -> None:
    """``tts-pipeline deploy [--dry-run] [--wrangler CMD]``."""
    parser = sub.add_parser(
        "deploy",
        help="create the Cloudflare resources, set secrets and deploy the three Workers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dry-run", action="store_true", help="print every step's command; run nothing")
    parser.add_argument("--wrangler", help="the wrangler command to run (default: the pinned one, else npx wrangler)")
    parser.set_defaults(func=_main)
