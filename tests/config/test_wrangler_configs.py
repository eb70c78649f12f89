"""Each Worker's wrangler config deploys, offline, with exactly the bindings its code uses.

For every ``workers/<name>/``: build its ``python_modules/`` (``tts-pipeline
vendor``, what pywrangler would upload), run ``wrangler deploy --dry-run
--outdir`` with the pinned wrangler on Node 24 (no network, no account), read
the bindings wrangler reports and compare them with the bindings the code
reads: every ``env.NAME`` / ``getattr(env..., "NAME")`` in the entry module
and in the project modules it imports (the same closure the bundle holds).
A binding added to code but not to the config fails, and so does one left in
the config that no code reads. Config vars must be settings the code reads;
cron triggers, queue consumers and hosted Durable Object classes must match
the handlers and classes the entry module defines; the upload wrangler
reports must fit Cloudflare's Worker size limit (docs/cloudflare.md records
the sizes).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shared.config import SETTING_NAMES
from shared.platform_limits import WORKER_SIZE_PAID_BYTES

from tooling.vendor import BUNDLE_DIR, build, first_party_closure, module_path
from tests.tiers import tier_unavailable

ROOT = Path(__file__).resolve().parents[2]
WORKERS = sorted(p.parent.parent.name for p in (ROOT / "workers").glob("*/src/entry.py"))
BINDINGS_HEADER = "Your Worker has access to the following bindings:"
UPLOAD = re.compile(r"Total Upload: ([0-9.]+) KiB / gzip: ([0-9.]+) KiB")
UPPER = re.compile(r"^[A-Z][A-Z0-9_]*$")


@pytest.fixture(scope="module")
def node() -> str:
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    done = subprocess.run(
        ["bash", str(ROOT / "tools/setup_pyodide_env.sh")], capture_output=True, text=True, env=env, timeout=900
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        tier_unavailable(f"Node 24 / wrangler / wheels setup failed:\n{tail}")
    return done.stdout.strip().splitlines()[-1]


def dry_run(node: str, worker_dir: Path, outdir: Path) -> str:
    """``wrangler deploy --dry-run --outdir`` of the Worker, offline; its output."""
    wrangler = ROOT / "tools/node/node_modules/wrangler/bin/wrangler.js"
    env = {
        **os.environ,
        "WRANGLER_SEND_METRICS": "false",
        "CI": "1",
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(outdir.parent / "xdg"),  # wrangler's logs and metrics prefs
    }
    done = subprocess.run(
        [node, str(wrangler), "deploy", "--dry-run", "--outdir", str(outdir)],
        cwd=worker_dir,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def upload_sizes(output: str) -> tuple[float, float]:
    """``Total Upload: X KiB / gzip: Y KiB`` -> (X, Y) in bytes."""
    match = UPLOAD.search(output)
    assert match, f"no upload size in wrangler's output:\n{output}"
    return float(match.group(1)) * 1024, float(match.group(2)) * 1024


def reported_bindings(output: str) -> dict[str, str]:
    """``env.NAME (detail)   Resource`` lines of wrangler's bindings table -> {NAME: Resource}."""
    lines = output.split(BINDINGS_HEADER, 1)[1].splitlines()[2:]  # skip the header row
    found: dict[str, str] = {}
    for line in lines:
        match = re.match(r"\s*env\.([A-Za-z0-9_]+)(?:\s+\(.*?\))?\s{2,}(\S.*?)\s*$", line)
        if not match:
            break
        found[match.group(1)] = match.group(2)
    return found


# --- what the code reads ---------------------------------------------------------------


def _mentions_env(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id == "env":
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in ("env", "_env"):
            return True
    return False


def bindings_read_by(source: str) -> set[str]:
    """``env.NAME``, ``self.env.NAME``, ``raw_binding(env).NAME`` and ``getattr(<env>, "NAME"...)``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and UPPER.match(node.attr) and _mentions_env(node.value):
            names.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and UPPER.match(node.args[1].value)
            and _mentions_env(node.args[0])
        ):
            names.add(node.args[1].value)
    return names


def code_files(worker: str) -> list[Path]:
    entry = ROOT / "workers" / worker / "src" / "entry.py"
    modules = [module_path(m, ROOT) for m in first_party_closure(entry, ROOT)]
    return [entry, *(m for m in modules if m is not None)]


def code_bindings(worker: str) -> set[str]:
    return set().union(*(bindings_read_by(path.read_text()) for path in code_files(worker)))


def setting_names() -> set[str]:
    return set(SETTING_NAMES)


def entry_classes(worker: str) -> dict[str, set[str]]:
    """Classes the entry module defines -> their method names."""
    tree = ast.parse((ROOT / "workers" / worker / "src" / "entry.py").read_text())
    return {
        n.name: {m.name for m in n.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for n in tree.body
        if isinstance(n, ast.ClassDef)
    }


# --- the scan itself -------------------------------------------------------------------


def test_scan_finds_every_way_code_reads_a_binding() -> None:
    source = (
        "def f(self, env):\n"
        "    env.A_BUCKET\n"
        "    self.env.B_QUEUE\n"
        "    raw_binding(env).C_AI\n"
        "    getattr(raw_binding(env), 'D_LIMITER', None)\n"
        "    getattr(self._env, name, None)\n"  # vars and secrets by name: not a binding
        "    JobStatus.COMPLETED\n"  # not on env
    )
    assert bindings_read_by(source) == {"A_BUCKET", "B_QUEUE", "C_AI", "D_LIMITER"}


# --- per Worker --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dry_runs(node: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = {}
    for worker in WORKERS:
        worker_dir = ROOT / "workers" / worker
        build(worker_dir)
        out[worker] = dry_run(node, worker_dir, tmp_path_factory.mktemp(worker) / "dist")
    return out


@pytest.mark.parametrize("worker", WORKERS)
def test_dry_run_reports_exactly_the_bindings_the_code_reads(dry_runs: dict[str, str], worker: str) -> None:
    reported = {name for name, kind in reported_bindings(dry_runs[worker]).items() if kind != "Environment Variable"}
    used = code_bindings(worker)

    assert used, "the scan found no binding at all: is it still reading the right files?"
    assert {"missing from wrangler.toml": sorted(used - reported), "bound but unused": sorted(reported - used)} == {
        "missing from wrangler.toml": [],
        "bound but unused": [],
    }


@pytest.mark.parametrize("worker", WORKERS)
def test_every_config_var_is_a_setting_the_code_reads(dry_runs: dict[str, str], worker: str) -> None:
    variables = {name for name, kind in reported_bindings(dry_runs[worker]).items() if kind == "Environment Variable"}

    assert sorted(variables - setting_names()) == []


@pytest.mark.parametrize("worker", WORKERS)
def test_dry_run_bundle_is_the_vendored_one(dry_runs: dict[str, str], worker: str) -> None:
    # wrangler attaches python_modules/ (the pinned wheels and the project
    # modules) beside src/: "Vendored Modules" in its table.
    assert "Vendored Modules" in dry_runs[worker]
    bundle = ROOT / "workers" / worker / BUNDLE_DIR
    assert (bundle / "pydantic_core").is_dir() and (bundle / "workers").is_dir()
    assert (bundle / "cloudflare_adapters").is_dir() and (bundle / "shared").is_dir()


@pytest.mark.parametrize("worker", WORKERS)
def test_dry_run_upload_fits_the_worker_size_limit(dry_runs: dict[str, str], worker: str) -> None:
    raw, compressed = upload_sizes(dry_runs[worker])

    assert 0 < compressed < raw
    assert compressed <= WORKER_SIZE_PAID_BYTES


def test_upload_size_is_read_from_wranglers_line() -> None:
    assert upload_sizes("x\nTotal Upload: 7791.76 KiB / gzip: 2121.33 KiB\ny") == (7791.76 * 1024, 2121.33 * 1024)


@pytest.mark.parametrize("worker", WORKERS)
def test_only_the_api_uploads_the_web_page_as_its_assets(dry_runs: dict[str, str], worker: str) -> None:
    found = re.search(r"Read (\d+) files from the assets directory (\S+)", dry_runs[worker])
    if worker != "api":
        assert found is None
        return
    assert found is not None, dry_runs[worker]
    folder = Path(found.group(2))
    assert folder == ROOT / "shared" / "web"
    assert int(found.group(1)) == len([p for p in folder.iterdir() if p.is_file()])
    assert {"index.html", "app.js", "style.css", "_headers"} <= {p.name for p in folder.iterdir()}
    # the Worker's own bundle no longer carries a page
    assert not (ROOT / "workers" / "api" / BUNDLE_DIR / "shared" / "web").exists()


@pytest.mark.parametrize("worker", WORKERS)
def test_triggers_and_classes_match_the_entry_module(worker: str) -> None:
    config = tomllib.loads((ROOT / "workers" / worker / "wrangler.toml").read_text())
    classes = entry_classes(worker)
    handlers = classes.get("Default", set())
    consumers = config.get("queues", {}).get("consumers", [])
    crons = config.get("triggers", {}).get("crons", [])

    assert ("queue" in handlers) == bool(consumers)
    assert ("scheduled" in handlers) == bool(crons)
    hosted = {
        b["class_name"] for b in config.get("durable_objects", {}).get("bindings", []) if not b.get("script_name")
    }
    migrated = {c for m in config.get("migrations", []) for c in m.get("new_sqlite_classes", [])}
    assert hosted <= set(classes) and hosted <= migrated
