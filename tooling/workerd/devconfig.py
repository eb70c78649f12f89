"""Dev wrangler configs, generated from the deployed ones (which are never edited).

For each Worker, ``workers/<name>/wrangler.toml`` becomes a JSON config in a
run folder, with:

- the flags that select workerd's self-built ``dev`` Pyodide bundle (the
  release flags that the compatibility date switches on are turned off, or
  they would win and workerd would download a released bundle);
- ``AI`` bound to a stand-in instead of ``[ai]`` (``wrangler dev`` always
  proxies ``[ai]`` to Cloudflare and wants a login for it): the dev-only
  Worker ``ai_standin.mjs``, whose ``WorkersAi`` entrypoint answers
  ``env.AI.run`` offline with the shapes and errors Workers AI documents for
  the speech models we offer (its rate limit from ``AI_STANDIN_RATE_LIMIT`` /
  ``AI_STANDIN_RATE_PERIOD`` when set);
- no ``[secrets]``: the settings, secrets included, arrive as vars (below),
  and wrangler would otherwise read every required secret from the
  environment itself;
- no cron ``[triggers]``: wrangler dev never fires them, and warns so when
  they are there; the front passes the reaper's first cron on to it;
- ``vars`` holding the Worker's own vars, overridden by every setting name
  (``shared.config.SETTING_NAMES``) present in the environment, so one set of
  environment variables configures both runtimes as it does the local one;
- the ``[[ratelimits]]`` binding's limit and period from ``JOB_RATE_LIMIT``;
- the queue consumers as deployed, with the ``QUEUE_MAX_*`` overrides the
  local runtime applies (``local_runtime.wrangler_config.with_overrides``).

wrangler takes ``python_modules/`` from beside the config, so each run folder
links to the Worker's vendored ``python_modules/``; ``main`` is the Worker's
own ``src/entry.py`` and ``[assets] directory`` its own folder (the api's web
page, ``shared/web/``). A dev-only front Worker (``front.mjs``) comes first: it
is the one served, and it routes ``/__scheduled`` to the reaper.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_runtime.wrangler_config import consumers_of, with_overrides, wrangler_config
from shared.api.links import dev_server_settings
from shared.config import SETTING_NAMES, LocalSettings, Settings

REPO = Path(__file__).resolve().parents[2]
WORKERS = ("api", "synth_consumer", "reaper")
"""In wrangler's order after the front: the Durable Object's host first."""
DEV_FLAGS = (
    "python_workers",
    "python_workers_development",
    "no_python_workers_20250116",
    "no_python_workers_314",
)
FRONT_NAME = "tts-dev-front"
AI_STANDIN_NAME = "tts-dev-ai"
AI_STANDIN_ENTRYPOINT = "WorkersAi"
AI_STANDIN_VARS = ("AI_STANDIN_RATE_LIMIT", "AI_STANDIN_RATE_PERIOD")
CONFIG_FILE = "wrangler.json"


def worker_config(worker: str, env: Mapping[str, str], repo: Path = REPO) -> dict[str, Any]:
    """The dev config of ``workers/<worker>`` as a dict (``main`` absolute)."""
    worker_dir = repo / "workers" / worker
    config = wrangler_config(worker, repo)
    ai = config.pop("ai", None)
    if ai:
        config.setdefault("services", []).append(
            {"binding": ai.get("binding", "AI"), "service": AI_STANDIN_NAME, "entrypoint": AI_STANDIN_ENTRYPOINT}
        )
        # The adapter passes {signal} as the real binding takes it; over RPC that needs this flag.
        config["compatibility_flags"] = [*config.get("compatibility_flags", []), "enable_abortsignal_rpc"]
    config.pop("secrets", None)
    # wrangler dev never fires crons (the runner's loop and /__scheduled run the reaper
    # through the front); left in, they only make wrangler warn that it does not.
    config.pop("triggers", None)
    config["main"] = str(worker_dir / config.get("main", "src/entry.py"))
    if "assets" in config:  # the web page's folder, relative to the Worker's own config
        config["assets"]["directory"] = str((worker_dir / config["assets"]["directory"]).resolve())
    flags = [f for f in config.get("compatibility_flags", []) if f not in DEV_FLAGS]
    config["compatibility_flags"] = [*DEV_FLAGS, *flags]
    overrides = {name: str(env[name]) for name in SETTING_NAMES if env.get(name) not in (None, "")}
    config["vars"] = {**config.get("vars", {}), **overrides}
    settings = Settings.from_env(env)
    if "JOB_RATE_LIMIT" in overrides and settings.job_rate_limit > 0:
        # The [[ratelimits]] binding counts; JOB_RATE_LIMIT only gives its Retry-After.
        for binding in config.get("ratelimits", []):
            binding["simple"] = {"limit": settings.job_rate_limit, "period": settings.job_rate_period}
    local = LocalSettings.from_env(env)
    if consumers_of(config):
        config["queues"]["consumers"] = [with_overrides(consumer, local) for consumer in consumers_of(config)]
    return config


def deployed_crons(worker: str, repo: Path = REPO) -> list[str]:
    """The cron triggers of ``workers/<worker>/wrangler.toml``."""
    config = tomllib.loads((repo / "workers" / worker / "wrangler.toml").read_text())
    return list(config.get("triggers", {}).get("crons", []))


def front_config(reaper_cron: str) -> dict[str, Any]:
    return {
        "name": FRONT_NAME,
        "main": "front.mjs",
        "compatibility_date": "2026-11-01",
        # Fetcher.scheduled() on a service binding.
        "compatibility_flags": ["service_binding_extra_handlers"],
        "services": [
            {"binding": "API", "service": "tts-api"},
            {"binding": "REAPER", "service": "tts-reaper"},
        ],
        "vars": {"REAPER_CRON": reaper_cron},
    }


def ai_standin_config(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": AI_STANDIN_NAME,
        "main": "ai_standin.mjs",
        "compatibility_date": "2026-11-01",
        "vars": {name: str(env[name]) for name in AI_STANDIN_VARS if env.get(name)},
    }


def write_run_configs(run_dir: Path, env: Mapping[str, str], *, host: str, repo: Path = REPO) -> list[Path]:
    """Writes the front's, each Worker's and the AI stand-in's dev config under ``run_dir``; returns them, front first.

    The files hold the settings' values (secrets too), so they are private to
    their owner, like wrangler's ``.dev.vars``. Serving ``host`` follows the
    dev rules of both runtimes (``dev_server_settings``: on loopback without
    ``API_TOKENS`` the api takes anonymous calls; a ``ConfigError`` beyond it).
    """
    if dev_server_settings(Settings.from_env(env), host).allow_anonymous:
        env = {**env, "ALLOW_ANONYMOUS": "true"}
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)
    paths: list[Path] = []
    reaper_cron = "*/15 * * * *"
    for worker in WORKERS:
        config = worker_config(worker, env, repo)
        if worker == "reaper":
            reaper_cron = (deployed_crons(worker, repo) or [reaper_cron])[0]
        folder = run_dir / worker
        folder.mkdir(exist_ok=True)
        modules = folder / "python_modules"
        if modules.is_symlink() or modules.exists():
            modules.unlink()
        modules.symlink_to(repo / "workers" / worker / "python_modules", target_is_directory=True)
        paths.append(_write_json(folder / CONFIG_FILE, config))
    front = run_dir / "front"
    front.mkdir(exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("front.mjs"), front / "front.mjs")
    ai = run_dir / "ai"
    ai.mkdir(exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("ai_standin.mjs"), ai / "ai_standin.mjs")
    standin = _write_json(ai / CONFIG_FILE, ai_standin_config(env))
    return [_write_json(front / CONFIG_FILE, front_config(reaper_cron)), *paths, standin]


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    return path
