"""``tts-pipeline vendor``: build each Worker's ``python_modules/`` the way ``pywrangler sync`` does.

pywrangler resolves a Worker's ``[project] dependencies`` for Pyodide, installs
the wasm32 / pure-Python wheels into a Pyodide virtual environment and copies
its ``site-packages`` to ``python_modules/`` beside the wrangler config
(adding the ``workers-runtime-sdk`` it manages, and an empty ``pyvenv.cfg``).
``wrangler deploy`` then uploads every file under ``python_modules/`` (but
``*.pyc``) with the Worker's own ``src/``. This builds the same layout
offline:

- the wheels come from ``.cache/pyodide-wheels`` (``tools/setup_pyodide_env.sh``
  downloads them), pinned with hashes in ``tools/pyodide-wheels.txt``, which
  is the lock: each Worker's declared dependencies must be pinned there at
  the same version, and every wheel's sha256 is checked again here;
- the project's own packages (``shared``, ``cloudflare_adapters``) are
  copied module by module: only the modules the entry imports, directly or
  through each other (every ``import`` statement counts, also those inside
  functions), with their packages' ``__init__`` files. Nothing in these
  packages imports dynamically or reads data files, so that closure is
  exact, and the Pyodide tier loads exactly this bundle.

``python_modules/`` is generated (gitignored). ``--check`` only reports
whether each bundle is up to date.
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import gzip
import hashlib
import io
import json
import re
import shutil
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

REPO = Path(__file__).resolve().parent.parent
WORKERS_DIR = REPO / "workers"
WHEEL_DIR = REPO / ".cache" / "pyodide-wheels"
LOCK_FILE = REPO / "tools" / "pyodide-wheels.txt"
FIRST_PARTY = ("shared", "cloudflare_adapters")
MANAGED_SDK = "workers-runtime-sdk"  # pywrangler adds it to every Worker
BUNDLE_DIR = "python_modules"
STAMP = ".vendor-stamp"
WORK_DIR = REPO / ".cache" / "vendor"  # locks and staging trees (gitignored, same file system)


class VendorError(Exception):
    """Raised when a bundle cannot be built as pinned (the message says what is missing)."""


# --- the lock ---------------------------------------------------------------------


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    sha256: str


def read_lock(path: Path = LOCK_FILE) -> dict[str, Pin]:
    """``name==version --hash=sha256:...`` lines -> pins by normalized name."""
    pins: dict[str, Pin] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})", line)
        if not match:
            raise VendorError(f"{path}: cannot read the pin {line!r} (want name==version --hash=sha256:...)")
        name, version, digest = match.groups()
        pins[normalize(name)] = Pin(name, version, digest)
    return pins


def wheel_for(pin: Pin, wheel_dir: Path = WHEEL_DIR) -> Path:
    prefix = re.sub(r"[-_.]+", "_", pin.name).lower() + "-" + pin.version + "-"
    found = [w for w in sorted(wheel_dir.glob("*.whl")) if w.name.lower().startswith(prefix)]
    if not found:
        raise VendorError(
            f"no wheel for {pin.name}=={pin.version} in {wheel_dir}: run tools/setup_pyodide_env.sh"
        )
    digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
    if digest != pin.sha256:
        raise VendorError(f"{found[0].name}: sha256 {digest} is not the pinned {pin.sha256}")
    return found[0]


def _requirement_name(requirement: str) -> str:
    return normalize(re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0])


def _wheel_requires(wheel: Path) -> list[str]:
    """The requirements in a wheel's METADATA that apply on Pyodide (no extras)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    out = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = line.split(":", 1)[1].strip()
            marker = requirement.split(";", 1)[1] if ";" in requirement else ""
            if not marker or marker_holds(marker):
                out.append(_requirement_name(requirement))
    return out


# What PEP 508 markers see on Cloudflare's Pyodide (Python 3.14, wasm32).
PYODIDE_MARKERS = {
    "python_version": "3.14",
    "python_full_version": "3.14.0",
    "sys_platform": "emscripten",
    "platform_system": "Emscripten",
    "platform_machine": "wasm32",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "implementation_version": "3.14.0",
    "platform_release": "",
    "platform_version": "",
    "extra": "",  # extras are never installed
}


def marker_holds(marker: str) -> bool:
    """Evaluates a PEP 508 environment marker as Pyodide would (``packaging``'s evaluator)."""
    try:
        return Marker(marker).evaluate(dict(PYODIDE_MARKERS))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise VendorError(f"cannot evaluate the marker {marker!r}") from exc


def resolve_wheels(dependencies: Iterable[str], pins: dict[str, Pin], wheel_dir: Path = WHEEL_DIR) -> list[Path]:
    """The pinned wheels of ``dependencies`` and everything they require, plus the SDK."""
    wanted: list[str] = []
    for requirement in [*dependencies, MANAGED_SDK]:
        name = _requirement_name(requirement)
        pin = pins.get(name)
        if pin is None:
            raise VendorError(f"{requirement!r} is not pinned in {LOCK_FILE.relative_to(REPO)}")
        exact = re.search(r"==\s*([^\s,;]+)", requirement)
        if exact and exact.group(1) != pin.version:
            raise VendorError(f"{requirement!r} but {LOCK_FILE.relative_to(REPO)} pins {pin.name}=={pin.version}")
        wanted.append(name)
    seen: dict[str, Path] = {}
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        if name not in pins:
            raise VendorError(f"{name} (a dependency) is not pinned in {LOCK_FILE.relative_to(REPO)}")
        seen[name] = wheel_for(pins[name], wheel_dir)
        wanted.extend(_wheel_requires(seen[name]))
    return [seen[n] for n in sorted(seen)]


# --- first-party modules -----------------------------------------------------------


def module_path(module: str, root: Path = REPO) -> Path | None:
    base = root.joinpath(*module.split("."))
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _parse(path: Path) -> ast.Module:
    """``ast.parse`` of the file. CPython 3.11's AST converter can fail with ``SystemError: AST
    constructor recursion depth mismatch`` (a CPython 3.11 bug) when called deep in a stack after
    the recursion limit moved (seen once under pytest, after hypothesis); a fresh thread's stack parses it."""
    source = path.read_text()
    try:
        return ast.parse(source, filename=str(path))
    except SystemError:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(ast.parse, source, str(path)).result()


def _imports_of(path: Path, module: str) -> set[str]:
    """Every module an ``import`` anywhere in the file may load (relative imports resolved)."""
    tree = _parse(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            # `from pkg import name`: name may be a submodule.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def first_party_closure(entry: Path, root: Path = REPO, packages: tuple[str, ...] = FIRST_PARTY) -> list[str]:
    """First-party modules the entry module can import, sorted (packages' ``__init__`` included)."""
    todo = [(entry, "entry")]
    modules: set[str] = set()
    while todo:
        path, name = todo.pop()
        for target in _imports_of(path, name):
            if target.split(".")[0] not in packages:
                continue
            parts = target.split(".")
            # Importing a.b.c runs a/__init__ and a/b/__init__ first.
            for depth in range(1, len(parts) + 1):
                candidate = ".".join(parts[:depth])
                if candidate in modules:
                    continue
                found = module_path(candidate, root)
                if found is None:
                    continue  # a name imported from a module, not a module
                modules.add(candidate)
                todo.append((found, candidate))
    return sorted(modules)


# --- the bundle -------------------------------------------------------------------


@dataclass
class Bundle:
    worker: str
    wheels: list[Path] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    gzip_bytes: int = 0
    stamp: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "wheels": [w.name for w in self.wheels],
            "first_party_modules": len(self.modules),
            "files": self.files,
            "bytes": self.bytes,
            "gzip_bytes": self.gzip_bytes,
        }


def worker_dirs() -> list[Path]:
    return sorted(p.parent.parent for p in WORKERS_DIR.glob("*/src/entry.py"))


def worker_dependencies(worker_dir: Path) -> list[str]:
    data = tomllib.loads((worker_dir / "pyproject.toml").read_text())
    return list(data.get("project", {}).get("dependencies", []))


def plan(worker_dir: Path, pins: dict[str, Pin] | None = None, wheel_dir: Path = WHEEL_DIR) -> Bundle:
    pins = pins if pins is not None else read_lock()
    bundle = Bundle(worker=worker_dir.name)
    bundle.wheels = resolve_wheels(worker_dependencies(worker_dir), pins, wheel_dir)
    bundle.modules = first_party_closure(worker_dir / "src" / "entry.py")
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    for wheel in bundle.wheels:
        digest.update(wheel.name.encode())
    for module in bundle.modules:
        path = module_path(module)
        assert path is not None
        digest.update(module.encode() + b"\0" + path.read_bytes())
    bundle.stamp = digest.hexdigest()
    return bundle


def _install_wheel(wheel: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            if name.split("/", 1)[0].endswith(".data"):
                raise VendorError(f"{wheel.name}: wheels with a .data directory are not supported")
            if name.endswith("/"):
                continue
            dest = (target / name).resolve()
            if target.resolve() not in dest.parents:
                raise VendorError(f"{wheel.name}: {name} would land outside {target}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(info))


def build(
    worker_dir: Path, *, pins: dict[str, Pin] | None = None, wheel_dir: Path = WHEEL_DIR, sizes: bool = False
) -> Bundle:
    """(Re)builds ``worker_dir/python_modules``; a no-op when its stamp says it is current.

    ``sizes`` fills in the bundle's file count, bytes and gzip bytes (about a
    second of compression per Worker, so only when asked).
    """
    bundle = plan(worker_dir, pins, wheel_dir)
    target = worker_dir / BUNDLE_DIR
    if _stamp_of(target) != bundle.stamp:
        # Several test runs may share the working tree: one builder at a
        # time per Worker, and the new tree swapped in by renames.
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        with open(WORK_DIR / f"{worker_dir.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _stamp_of(target) != bundle.stamp:
                _write_bundle(bundle, worker_dir, target)
    if sizes:
        measure(target, bundle)
    return bundle


def _write_bundle(bundle: Bundle, worker_dir: Path, target: Path) -> None:
    """Writes the bundle into a staging tree, then swaps it in for ``target``."""
    staging = Path(tempfile.mkdtemp(prefix=f"{worker_dir.name}.", dir=WORK_DIR))
    try:
        for wheel in bundle.wheels:
            _install_wheel(wheel, staging)
        for module in bundle.modules:
            source = module_path(module)
            assert source is not None
            dest = staging / source.relative_to(REPO)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        (staging / "pyvenv.cfg").touch()  # as pywrangler leaves it
        (staging / STAMP).write_text(bundle.stamp + "\n")
        staging.chmod(0o755)
        old = Path(tempfile.mkdtemp(prefix=f"{worker_dir.name}.old.", dir=WORK_DIR))
        if target.exists():
            target.rename(old / BUNDLE_DIR)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stamp_of(target: Path) -> str | None:
    try:
        return (target / STAMP).read_text().strip()
    except OSError:
        return None


def is_current(worker_dir: Path) -> bool:
    return _stamp_of(worker_dir / BUNDLE_DIR) == plan(worker_dir).stamp


def measure(target: Path, bundle: Bundle) -> None:
    """Files, bytes and gzip bytes of what wrangler uploads from the bundle (no ``*.pyc``)."""
    raw = io.BytesIO()
    files = 0
    size = 0
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
        for path in sorted(p for p in target.rglob("*") if p.is_file() and p.suffix != ".pyc"):
            data = path.read_bytes()
            files += 1
            size += len(data)
            gz.write(data)
    bundle.files, bundle.bytes, bundle.gzip_bytes = files, size, len(raw.getvalue())


# --- the command ----------------------------------------------------------------------


def _kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def run(args: argparse.Namespace, out: Any = print) -> int:
    dirs = worker_dirs()
    if args.workers:
        known = {d.name: d for d in dirs}
        unknown = sorted(set(args.workers) - set(known))
        if unknown:
            raise VendorError(f"no Worker named {', '.join(unknown)} (have {', '.join(sorted(known))})")
        dirs = [known[name] for name in args.workers]
    if args.check:
        stale = [d.name for d in dirs if not is_current(d)]
        for name in stale:
            out(f"{name}: {BUNDLE_DIR}/ is missing or out of date (run: tts-pipeline vendor)")
        return 1 if stale else 0
    pins = read_lock()
    bundles = [build(d, pins=pins, sizes=True) for d in dirs]
    if args.json:
        out(json.dumps([b.summary() for b in bundles], indent=2))
        return 0
    for b in bundles:
        out(
            f"{b.worker}: {BUNDLE_DIR}/ {b.files} files, {_kib(b.bytes)} ({_kib(b.gzip_bytes)} gzipped); "
            f"{len(b.wheels)} wheels, {len(b.modules)} project modules"
        )
    return 0


def _main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except (VendorError, OSError) as exc:
        print(f"tts-pipeline vendor: {exc}", file=sys.stderr)
        return 2


def add_vendor_command(sub: Any) -> None:
    """``tts-pipeline vendor [WORKER ...] [--check] [--json]``."""
    parser = sub.add_parser(
        "vendor",
        help="build each Worker's python_modules/ (as pywrangler sync does), offline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("workers", nargs="*", help="Worker folder names under workers/ (default: all)")
    parser.add_argument("--check", action="store_true", help="only report bundles that are missing or stale")
    parser.add_argument("--json", action="store_true", help="print the bundles' sizes as JSON")
    parser.set_defaults(func=_main)
