"""workerd's ``dev`` Pyodide bundle, built from the pinned npm ``pyodide``.

workerd runs a Python Worker on a "Pyodide bundle": a capnp ``Bundle``
message (``bundle.capnp`` beside this file) of three internal modules, the
Emscripten loader ``pyodide.asm``, ``pyodide.asm.wasm`` and
``python_stdlib.zip``. It reads it from ``--pyodide-bundle-disk-cache-dir``
as ``pyodide_<name>.capnp.bin`` and downloads it when missing, which fails
offline. A released bundle is checked against a hash compiled into workerd,
so a self-built file must be the ``dev`` bundle, which the
``python_workers_development`` flag selects and nothing checks.

The loader needs workerd's patches: a few Emscripten calls go through
wrappers that workerd's ``pyodide-internal:builtin_wrappers`` exports (wasm
module creation and instantiation, the clock, randomness, library loading),
direct ``eval`` is refused, and ``_createPyodideModule`` is exported by
name. ``PATCHES`` lists each with the number of places it must change in the
pinned ``pyodide.asm.mjs``; ``check`` also reads the wrapper names from the
workerd binary. A version bump that moves any of it fails the build with the
patch or name that no longer fits, never a bundle that breaks at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tooling.workerd.toolchain import CACHE, PYODIDE_VERSION, Toolchain, ToolchainError

BUNDLE_NAME = "dev"
BUNDLE_FILE = f"pyodide_{BUNDLE_NAME}.capnp.bin"
SCHEMA = Path(__file__).with_name("bundle.capnp")
WRAPPERS_MODULE = "pyodide-internal:builtin_wrappers"
WRAPPER_NAMES = (
    "addEventListener",
    "getRandomValues",
    "location",
    "monotonicDateNow",
    "newWasmModule",
    "patchedApplyFunc",
    "patchedLoadLibData",
    "wasmInstantiate",
    "patched_PyEM_CountFuncParams",
)
_EVAL_REFUSED = (
    "(() => {throw new Error('Internal Emscripten code tried to eval, "
    "this should not happen in a Python Worker')})()"
)
_IMPORTS = "import {\n%s\n} from \"%s\";\n" % (",\n".join(f"    {n}" for n in WRAPPER_NAMES), WRAPPERS_MODULE)


@dataclass(frozen=True)
class Patch:
    find: str
    replace: str
    count: int
    """How many times ``find`` occurs in the pinned ``pyodide.asm.mjs``."""


PATCHES: tuple[Patch, ...] = (
    Patch("new WebAssembly.Module", "newWasmModule", 4),
    Patch("WebAssembly.instantiate", "wasmInstantiate", 3),
    Patch("Date.now", "monotonicDateNow", 22),
    Patch("crypto.getRandomValues(", "getRandomValues(Module, ", 1),
    Patch("eval(func)", _EVAL_REFUSED, 2),
    Patch("eval(data)", _EVAL_REFUSED, 1),
    Patch("eval(UTF8ToString(ptr))", _EVAL_REFUSED, 3),
    Patch(
        "function loadLibData(){",
        "function loadLibData(){\n"
        "    var libData = patchedLoadLibData(Module, libName, flags.rpath);\n"
        "    return flags.loadAsync ? Promise.resolve(libData) : libData;\n"
        "}\n"
        "function unusedOriginalLoadLibData(){",
        1,
    ),
    # A dynamic library's memory base must not move when a snapshot is restored.
    Patch("getMemory(", "Module.getMemoryPatched(Module, libName, ", 1),
    Patch(
        "export default _createPyodideModule;",
        _IMPORTS + "export default _createPyodideModule; export { _createPyodideModule };",
        1,
    ),
)
PYODIDE_FILES = ("pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")


class BundleError(Exception):
    """The pinned pyodide or workerd no longer fits the recipe (the message says where)."""


def patch_loader(source: str, patches: tuple[Patch, ...] = PATCHES) -> str:
    """Apply every patch, refusing one that matches a number of places other than pinned."""
    for patch in patches:
        found = source.count(patch.find)
        if found != patch.count:
            raise BundleError(
                f"pyodide.asm.mjs has {found} x {patch.find!r}, the recipe expects {patch.count}:"
                f" pyodide is no longer {PYODIDE_VERSION} as pinned, or its loader changed"
            )
        source = source.replace(patch.find, patch.replace)
    return source


def exported_wrappers(workerd_binary: Path) -> set[str]:
    """Names the workerd binary's embedded ``builtin_wrappers`` module exports."""
    data = workerd_binary.read_bytes()
    pattern = rb"export (?:async )?(?:function|const|let|var) ([A-Za-z_$][\w$]*)"
    return {m.group(1).decode() for m in re.finditer(pattern, data)}


def check_wrappers(workerd_binary: Path) -> None:
    missing = sorted(set(WRAPPER_NAMES) - exported_wrappers(workerd_binary))
    if missing:
        raise BundleError(
            f"{workerd_binary} no longer exports {', '.join(missing)} from {WRAPPERS_MODULE}:"
            " the patch recipe in tooling/workerd/bundle.py must follow this workerd release"
        )


def encode(modules: list[tuple[str, str, bytes]]) -> bytes:
    """A capnp ``Bundle`` message: ``(name, kind, content)`` with kind ``src``, ``wasm`` or ``data``."""
    try:
        import capnp  # pycapnp: build-time only, never in a Worker
    except ImportError as exc:
        raise BundleError("pycapnp is missing: pip install -e '.[workerd]'") from exc
    schema = capnp.load(str(SCHEMA))
    message = schema.Bundle.new_message()
    entries = message.init("modules", len(modules))
    for entry, (name, kind, content) in zip(entries, modules):
        entry.name = name
        setattr(entry, kind, content)
        entry.type = "internal"
    return bytes(message.to_bytes())


def decode(data: bytes) -> list[tuple[str, str, bytes]]:
    """The inverse of ``encode`` (tests, and ``--check`` of a built bundle)."""
    import capnp

    schema = capnp.load(str(SCHEMA))
    with schema.Bundle.from_bytes(data, traversal_limit_in_words=2**40) as message:
        return [(m.name, m.which(), bytes(getattr(m, m.which()))) for m in message.modules]


def bundle_modules(pyodide_dir: Path) -> list[tuple[str, str, bytes]]:
    loader = patch_loader((pyodide_dir / "pyodide.asm.mjs").read_text(encoding="utf-8"))
    return [
        ("pyodideRuntime-internal:pyodide.asm", "src", loader.encode()),
        ("pyodideRuntime-internal:pyodide.asm.wasm", "wasm", (pyodide_dir / "pyodide.asm.wasm").read_bytes()),
        ("pyodideRuntime-internal:python_stdlib.zip", "data", (pyodide_dir / "python_stdlib.zip").read_bytes()),
    ]


def _inputs_digest(tools: Toolchain) -> str:
    digest = hashlib.sha256()
    for path in [*(tools.pyodide / f for f in PYODIDE_FILES), SCHEMA, Path(__file__)]:
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(str(tools.workerd.stat().st_size).encode())
    return digest.hexdigest()


def build(tools: Toolchain, out_dir: Path = CACHE / "bundle", log: object = None) -> Path:
    """``out_dir/pyodide_dev.capnp.bin``, rebuilt only when its inputs changed."""
    out = out_dir / BUNDLE_FILE
    stamp = out_dir / "bundle.json"
    want = _inputs_digest(tools)
    try:
        if out.is_file() and json.loads(stamp.read_text())["inputs"] == want:
            return out
    except (FileNotFoundError, KeyError, ValueError):
        pass
    if log:
        print(f"building workerd's Pyodide bundle from npm pyodide {PYODIDE_VERSION} ...", file=sys.stderr)
    check_wrappers(tools.workerd)
    data = encode(bundle_modules(tools.pyodide))
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out_dir, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, out)
    stamp.write_text(json.dumps({"inputs": want, "pyodide": PYODIDE_VERSION, "bytes": len(data)}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CACHE / "bundle")
    args = parser.parse_args(argv)
    try:
        path = build(Toolchain.locate(), args.out, log=True)
    except (BundleError, ToolchainError) as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
