"""``tts-pipeline r2 lifecycle``: show, apply and check the audio bucket's lifecycle rules.

The rule: objects under ``audio/`` expire after the retention in days, and
incomplete multipart uploads are aborted. A second rule expires the partial
audio of long jobs (``tmp/``) a day after the reaper gives up on an
unfinished job (``REAPER_GIVE_UP_SECONDS``): a chunk is only ever needed by
a job still in progress, and losing one costs a re-synthesis, never a
result. The retention is the longest a
job's audio may live (``MAX_TTL_SECONDS``, rounded up to days, plus one day
of slack: R2 counts age from the upload, a job's expiry from its completion,
and a rule must never delete the audio of a live job). The reaper deletes
expired audio on time; the rule is the age bound that holds even when the
reaper does not run (docs/reaper.md). A third rule bounds the synthesis
cache (``cache/``, shared/synthesis/cache.py) a day past the audio's: an
entry is written again by each job that reuses it, and never lives longer
than its writer's retention plus one consumer invocation after its upload.

Two ways to talk to Cloudflare:

- ``--via wrangler`` (default): ``wrangler r2 bucket lifecycle list`` and
  ``... set --file``, with the repository's pinned wrangler when it is
  installed (``tools/node``), else ``npx wrangler``. ``check`` needs JSON,
  which ``list`` does not print: use ``--via api`` or ``--from-file``.
- ``--via api``: the Cloudflare REST API (``GET``/``PUT
  /accounts/{account}/r2/buckets/{bucket}/lifecycle``) with
  ``CLOUDFLARE_ACCOUNT_ID`` and ``CLOUDFLARE_API_TOKEN``.

``apply`` replaces the bucket's whole lifecycle configuration with this one
rule: the bucket belongs to the pipeline. ``--dry-run`` prints exactly the
command or request that would be sent and sends nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.errors import ConfigError
from shared.keys import AUDIO_PREFIX
from shared.synthesis.cache import CACHE_PREFIX

BUCKET = "tts-audio-results"
RULE_ID = "tts-audio-retention"
CHUNK_RULE_ID = "tts-chunk-retention"
CHUNK_PREFIX = "tmp/"  # shared.keys: partial audio of long jobs
CACHE_RULE_ID = "tts-cache-retention"
API_BASE = "https://api.cloudflare.com/client/v4"
DAY = 86_400
REPO = Path(__file__).resolve().parent.parent
PINNED_WRANGLER = REPO / "tools" / "node" / "node_modules" / ".bin" / "wrangler"


class LifecycleError(Exception):
    """Raised when the command cannot do what was asked (the message says why)."""


# --- the rule ------------------------------------------------------------------


def retention_days(max_ttl_seconds: int) -> int:
    """Days the rule keeps audio: the longest TTL rounded up, plus a day of slack."""
    return math.ceil(max_ttl_seconds / DAY) + 1


def chunk_days(give_up_seconds: int) -> int:
    """Days partial audio is kept: past the point where the reaper fails an unfinished job."""
    return math.ceil(give_up_seconds / DAY) + 1


def _rule(rule_id: str, prefix: str, days: int, abort_multipart_days: int) -> dict[str, Any]:
    return {
        "id": rule_id,
        "enabled": True,
        "conditions": {"prefix": prefix},
        "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": days * DAY}},
        "abortMultipartUploadsTransition": {"condition": {"type": "Age", "maxAge": abort_multipart_days * DAY}},
    }


def desired_rules(days: int, abort_multipart_days: int, chunk_retention_days: int = 2) -> dict[str, Any]:
    """The lifecycle configuration ``apply`` sends (Cloudflare's JSON shape)."""
    return {
        "rules": [
            _rule(RULE_ID, AUDIO_PREFIX, days, abort_multipart_days),
            _rule(CHUNK_RULE_ID, CHUNK_PREFIX, chunk_retention_days, abort_multipart_days),
            # An entry's age bound: the longest retention plus at most one invocation (< a day) since its upload.
            _rule(CACHE_RULE_ID, CACHE_PREFIX, days + 1, abort_multipart_days),
        ]
    }


def _covers_audio(rule: dict[str, Any]) -> bool:
    prefix = str((rule.get("conditions") or {}).get("prefix") or "")
    return AUDIO_PREFIX.startswith(prefix)


def _touches_audio(rule: dict[str, Any]) -> bool:
    prefix = str((rule.get("conditions") or {}).get("prefix") or "")
    return AUDIO_PREFIX.startswith(prefix) or prefix.startswith(AUDIO_PREFIX)


def _age(transition: Any) -> float | None:
    condition = (transition or {}).get("condition") or {}
    if condition.get("type") == "Age" and isinstance(condition.get("maxAge"), (int, float)):
        return float(condition["maxAge"])
    return None


def check_rules(
    rules: Sequence[dict[str, Any]], *, days: int, max_ttl_seconds: int, chunk_retention_days: int = 2
) -> list[str]:
    """What is wrong with a bucket's rules; an empty list means the rules are in place."""
    problems: list[str] = []
    enabled = [r for r in rules if r.get("enabled", True)]
    for rule in enabled:
        expiry = rule.get("deleteObjectsTransition")
        if not expiry or not _touches_audio(rule):
            continue
        age = _age(expiry)
        if age is None:
            problems.append(f"rule {rule.get('id')!r} expires audio on a fixed date: it would delete live jobs' audio")
        elif age < max_ttl_seconds:
            problems.append(
                f"rule {rule.get('id')!r} expires audio after {age / DAY:g} days, before the longest job TTL "
                f"({max_ttl_seconds / DAY:g} days): it would delete live jobs' audio"
            )
    expiring = [r for r in enabled if _covers_audio(r) and _age(r.get("deleteObjectsTransition")) is not None]
    if not expiring:
        problems.append(f"no enabled rule expires objects under {AUDIO_PREFIX!r}")
    elif not any(_age(r.get("deleteObjectsTransition")) == days * DAY for r in expiring):
        found = sorted({(_age(r.get("deleteObjectsTransition")) or 0) / DAY for r in expiring})
        problems.append(f"audio expires after {', '.join(f'{d:g}' for d in found)} days, not {days}")
    if not any(_covers_audio(r) and _age(r.get("abortMultipartUploadsTransition")) is not None for r in enabled):
        problems.append(f"no enabled rule aborts incomplete multipart uploads under {AUDIO_PREFIX!r}")
    chunk_ages = [
        _age(r.get("deleteObjectsTransition"))
        for r in enabled
        if CHUNK_PREFIX.startswith(str((r.get("conditions") or {}).get("prefix") or ""))
    ]
    if not any(age is not None and age <= chunk_retention_days * DAY for age in chunk_ages):
        problems.append(f"no enabled rule expires partial audio under {CHUNK_PREFIX!r} within {chunk_retention_days} days")
    cache_ages = [
        _age(r.get("deleteObjectsTransition"))
        for r in enabled
        if CACHE_PREFIX.startswith(str((r.get("conditions") or {}).get("prefix") or ""))
    ]
    if not any(age is not None and age <= (days + 1) * DAY for age in cache_ages):
        problems.append(f"no enabled rule expires synthesis cache entries under {CACHE_PREFIX!r} within {days + 1} days")
    return problems


# --- wrangler -------------------------------------------------------------------


def wrangler_prefix(explicit: str | None = None) -> list[str]:
    if explicit:
        return shlex.split(explicit)
    if PINNED_WRANGLER.exists():
        return [str(PINNED_WRANGLER)]
    return ["npx", "wrangler"]


def wrangler_env(prefix: Sequence[str]) -> dict[str, str]:
    env = dict(os.environ)
    if prefix and Path(prefix[0]) == PINNED_WRANGLER:
        # The pinned wrangler runs on the pinned Node (its `env node` shebang).
        env["PATH"] = f"{PINNED_WRANGLER.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def wrangler_command(
    action: str, bucket: str, prefix: Sequence[str], *, rules_file: str | None = None, jurisdiction: str | None = None
) -> list[str]:
    command = [*prefix, "r2", "bucket", "lifecycle"]
    if action == "show":
        command += ["list", bucket]
    elif action == "apply":
        command += ["set", bucket, "--file", str(rules_file), "--force"]
    else:
        raise LifecycleError(
            f"{action} needs the rules as JSON, which `wrangler r2 bucket lifecycle list` does not print: "
            "use --via api or --from-file"
        )
    if jurisdiction:
        command += ["--jurisdiction", jurisdiction]
    return command


# --- the REST API ----------------------------------------------------------------


def api_request(
    method: str, bucket: str, account: str, token: str, *, body: Any = None, jurisdiction: str | None = None,
    base: str = API_BASE,
) -> urllib.request.Request:
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body, indent=2).encode()
    if jurisdiction:
        headers["cf-r2-jurisdiction"] = jurisdiction
    url = f"{base.rstrip('/')}/accounts/{account}/r2/buckets/{bucket}/lifecycle"
    return urllib.request.Request(url, data=data, headers=headers, method=method)


def describe_request(request: urllib.request.Request) -> str:
    lines = [f"{request.get_method()} {request.full_url}"]
    for name, value in request.header_items():
        shown = "Bearer ***" if name.lower() == "authorization" else value
        lines.append(f"{name}: {shown}")
    if isinstance(request.data, bytes) and request.data:
        lines += ["", request.data.decode()]
    return "\n".join(lines)


def send(request: urllib.request.Request, timeout: float = 30.0) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload: dict[str, Any] = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise LifecycleError(f"{request.get_method()} {request.full_url}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise LifecycleError(f"{request.get_method()} {request.full_url}: {exc}") from exc
    if not payload.get("success", True):
        raise LifecycleError(f"Cloudflare refused the request: {payload.get('errors')}")
    return payload


# --- the command -------------------------------------------------------------------


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    settings = Settings.from_env(dict(os.environ))
    account = settings.cloudflare_account_id or ""
    token = settings.cloudflare_api_token or ""
    if args.dry_run:
        return account or "<CLOUDFLARE_ACCOUNT_ID>", token or "<CLOUDFLARE_API_TOKEN>"
    if not account or not token:
        raise LifecycleError("--via api needs CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN in the environment")
    return account, token


def _rules_file() -> str:
    return str(Path(tempfile.gettempdir()) / "tts-r2-lifecycle.json")


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    settings = Settings.from_env(dict(os.environ))
    max_ttl = settings.max_ttl_seconds
    days = args.days or retention_days(max_ttl)
    if days * DAY < max_ttl and not args.allow_short:
        raise LifecycleError(
            f"{days} days is shorter than MAX_TTL_SECONDS ({max_ttl / DAY:g} days): the rule would delete the audio "
            "of live jobs (pass --allow-shorter-than-max-ttl to do it anyway)"
        )
    chunks = chunk_days(settings.reaper_give_up_seconds)
    config = desired_rules(days, args.abort_multipart_days, chunks)

    if args.action == "check" and args.from_file:
        data = json.loads(Path(args.from_file).read_text())
        rules = data.get("result", data).get("rules", []) if isinstance(data, dict) else data
        return _report(check_rules(rules, days=days, max_ttl_seconds=max_ttl, chunk_retention_days=chunks), out)

    if args.via == "wrangler":
        prefix = wrangler_prefix(args.wrangler)
        rules_file = _rules_file()
        command = wrangler_command(args.action, args.bucket, prefix, rules_file=rules_file, jurisdiction=args.jurisdiction)
        if args.action == "apply":
            text = json.dumps(config, indent=2)
            if args.dry_run:
                out(f"# would write {rules_file}:\n{text}\n# and run:\n{shlex.join(command)}")
                return 0
            Path(rules_file).write_text(text + "\n")
        elif args.dry_run:
            out(shlex.join(command))
            return 0
        return subprocess.run(command, env=wrangler_env(prefix), check=False).returncode

    account, token = _credentials(args)
    if args.action == "apply":
        request = api_request("PUT", args.bucket, account, token, body=config, jurisdiction=args.jurisdiction, base=args.api_base)
    else:
        request = api_request("GET", args.bucket, account, token, jurisdiction=args.jurisdiction, base=args.api_base)
    if args.dry_run:
        out(describe_request(request))
        return 0
    payload = send(request)
    if args.action == "apply":
        out(f"applied lifecycle rules to {args.bucket}: {AUDIO_PREFIX} expires after {days} days,"
            f" {CHUNK_PREFIX} after {chunks}")
        return 0
    rules = (payload.get("result") or {}).get("rules", [])
    if args.action == "show":
        out(json.dumps({"rules": rules}, indent=2))
        return 0
    return _report(check_rules(rules, days=days, max_ttl_seconds=max_ttl, chunk_retention_days=chunks), out)


def _report(problems: list[str], out: Callable[[str], None]) -> int:
    if not problems:
        out("lifecycle rule OK")
        return 0
    for problem in problems:
        out(f"lifecycle rule NOT OK: {problem}")
    return 1


def _main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except (LifecycleError, ConfigError, OSError) as exc:
        print(f"tts-pipeline r2 lifecycle: {exc}", file=sys.stderr)
        return 2


def add_r2_commands(sub: Any) -> None:
    """``tts-pipeline r2 lifecycle {show,apply,check}``."""
    r2 = sub.add_parser("r2", help="R2 bucket tools")
    r2_sub = r2.add_subparsers(dest="r2_command", required=True)
    lifecycle = r2_sub.add_parser(
        "lifecycle",
        help="show, apply or check the audio bucket's lifecycle rule",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lifecycle.add_argument("action", choices=("show", "apply", "check"))
    lifecycle.add_argument("--bucket", default=BUCKET)
    lifecycle.add_argument("--via", choices=("wrangler", "api"), default="wrangler")
    lifecycle.add_argument("--days", type=int, help="retention in days (default: MAX_TTL_SECONDS in days, plus one)")
    lifecycle.add_argument("--abort-multipart-days", type=int, default=1)
    lifecycle.add_argument("--dry-run", action="store_true", help="print exactly what would be sent; send nothing")
    lifecycle.add_argument("--jurisdiction", help="the bucket's jurisdiction (eu, fedramp), if any")
    lifecycle.add_argument("--from-file", help="check: read the rules from this JSON file instead of Cloudflare")
    lifecycle.add_argument("--wrangler", help="the wrangler command to run (default: the pinned one, else npx)")
    lifecycle.add_argument("--api-base", default=API_BASE, help=argparse.SUPPRESS)
    lifecycle.add_argument("--allow-shorter-than-max-ttl", dest="allow_short", action="store_true")
    lifecycle.set_defaults(func=_main)
