"""``python -m bench.pronunciation``: what SSML and lexicons cost, measured in-process (and in Pyodide).

Writes its section of docs/benchmarks.md (between the ``pronunciation``
markers; ``python -m bench`` keeps it as it is):

- parsing a lexicon of ``MAX_LEXICON_RULES`` rules (PLS and JSON);
- matching 20 such lexicons against a long text;
- rendering and planning an SSML document of ``MAX_TEXT_CHARS`` spoken
  characters, which each chunk of a job does again where it is synthesized
  (uncached; the isolate keeps the last plans, so a second chunk is cheaper);
- importing the XML parsers the choice was between (CPython, a fresh
  interpreter each);
- with ``--pyodide``: the same import and a render of 20,000 characters in
  the api Worker's Pyodide (tests/pyodide harness, Node).

    python -m bench.pronunciation               # writes docs/benchmarks.md
    python -m bench.pronunciation --pyodide     # also the Pyodide rows
    python -m bench.pronunciation --smoke       # tiny sizes; prints the section, writes nothing
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import sections
from shared.synthesis.speech_plan import render_plan
from shared.text.lexicon import Matcher, lexicon_from_json, lexicon_from_pls
from shared.text.plan import plan_chunks
from shared.text.render import Caps, render

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = sections.markers("pronunciation")
SENTENCE = 'The W3C met in <say-as interpret-as="date" format="mdy">10/3/2014</say-as> and agreed. '
IMPORTS = {
    "xml.parsers.expat (what shared/text/xmltree.py uses)": "import xml.parsers.expat",
    "xml.etree.ElementTree": "import xml.etree.ElementTree",
    "xml.sax (+ expatreader)": "import xml.sax, xml.sax.expatreader",
    "shared.text.render (all of shared/text)": "import shared.text.render",
}


def _median_ms(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def rules_json(count: int, offset: int = 0) -> dict[str, Any]:
    return {"rules": [{"grapheme": f"Term{offset + i}X", "alias": f"term number {offset + i}"} for i in range(count)]}


def rules_pls(count: int) -> str:
    lexemes = "".join(
        f"<lexeme><grapheme>Term{i}X</grapheme><alias>term number {i}</alias></lexeme>" for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><lexicon version="1.0" alphabet="ipa" xml:lang="en-US"'
        f' xmlns="http://www.w3.org/2005/01/pronunciation-lexicon">{lexemes}</lexicon>'
    )


def _import_ms(statement: str, repeat: int) -> float:
    """Median ms of ``statement`` in a fresh interpreter, its bytecode cached (after a warm-up run writes it)."""
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def once() -> float:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
        return float(run.stdout)

    once()
    return statistics.median(once() for _ in range(repeat))


def measure(rules: int, lexicons: int, chars: int, repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "repeat": repeat, "rules": rules,
                               "lexicons": lexicons}
    pls = rules_pls(rules)
    body = json.dumps(rules_json(rules))
    results["pls_bytes"], results["json_bytes"] = len(pls.encode()), len(body.encode())
    results["parse_pls_ms"] = _median_ms(lambda: lexicon_from_pls(pls), repeat)
    results["parse_json_ms"] = _median_ms(lambda: lexicon_from_json(json.loads(body)), repeat)
    many = [lexicon_from_json(rules_json(rules, n * rules)) for n in range(lexicons)]
    plain = ("The Term12X and Term977X met. " * (chars // 30 + 1))[:chars]
    results["match_chars"] = len(plain)
    results["matcher_build_ms"] = _median_ms(lambda: Matcher(many), repeat)
    matcher = Matcher(many)
    results["matches"] = len(matcher.find(plain))
    results["match_ms"] = _median_ms(lambda: matcher.find(plain), repeat)
    ssml = "<speak>" + "<p><s>" + SENTENCE * (chars // 60) + "</s></p></speak>"
    rendering = render(ssml, "ssml", many[:1], Caps("tone"))
    results["ssml_chars"], results["spoken_chars"] = len(ssml), rendering.spoken_chars
    results["render_ms"] = _median_ms(lambda: render(ssml, "ssml", many[:1], Caps("tone")), repeat)
    results["plan_ms"] = _median_ms(lambda: plan_chunks(rendering, 2000), repeat)
    results["chunks"] = len(plan_chunks(rendering, 2000).chunks)
    results["imports"] = {name: _import_ms(statement, repeat) for name, statement in IMPORTS.items()}
    return results


def measure_pyodide(chars: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests" / "pyodide"))
    from cold_start import node_binary, spec_for
    from pyodide_harness import Harness

    code = f"""
import time
def timed(run):
    t = time.perf_counter(); value = run(); return (time.perf_counter() - t) * 1000, value
expat_ms, _ = timed(lambda: __import__("xml.parsers.expat"))
text_ms, _ = timed(lambda: __import__("shared.text.render"))
api_ms, _ = timed(lambda: __import__("shared.api.pronunciation"))
from shared.text.render import Caps, render
doc = "<speak><p><s>" + {SENTENCE!r} * ({chars} // 60) + "</s></p></speak>"
first_ms, rendering = timed(lambda: render(doc, "ssml", [], Caps("tone")))
again_ms, _ = timed(lambda: render(doc, "ssml", [], Caps("tone")))
import dataclasses, typing
def records(kind):
    for i in range(20):
        if kind == "dataclass":
            dataclasses.dataclass(frozen=True)(
                type(f"C{{i}}", (), {{"__module__": "builtins", "__annotations__": {{"a": "int", "b": "str"}}}}))
        else:
            typing.NamedTuple(f"N{{i}}", [("a", int), ("b", str)])
dataclass_ms = min(timed(lambda: records("dataclass"))[0] for _ in range(3))
namedtuple_ms = min(timed(lambda: records("namedtuple"))[0] for _ in range(3))
{{"expat_ms": expat_ms, "text_ms": text_ms, "api_ms": api_ms, "render_first_ms": first_ms,
  "render_ms": again_ms, "spoken": rendering.spoken_chars, "ssml": len(doc),
  "dataclass_ms": dataclass_ms, "namedtuple_ms": namedtuple_ms}}
"""
    with tempfile.TemporaryDirectory() as tmp:
        harness = Harness(node_binary(), Path(tmp) / "harness.log")
        try:
            harness.add_workers({"api": spec_for("api")})
            harness.call("start", worker="api")
            result: dict[str, Any] = harness.run_python("api", code)
        finally:
            harness.close()
    return result


def section(r: dict[str, Any], command: str) -> str:
    lines = [
        BEGIN,
        "## Pronunciation: SSML and lexicons",
        "",
        f"`{command}` on {r['date']} (CPython, in-process, median of {r['repeat']} runs; the machine is shared:",
        "read the ratios more than the absolute times).",
        "",
        "| step | size | ms |",
        "| --- | --- | ---: |",
        f"| parse a PLS lexicon (`PUT /v1/lexicons/{{name}}`) | {r['rules']:,} rules, {r['pls_bytes']:,} bytes"
        f" | {r['parse_pls_ms']:,.1f} |",
        f"| parse a JSON lexicon | {r['rules']:,} rules, {r['json_bytes']:,} bytes | {r['parse_json_ms']:,.1f} |",
        f"| index {r['lexicons']} lexicons for matching | {r['lexicons'] * r['rules']:,} rules | {r['matcher_build_ms']:,.1f} |",
        f"| match them against plain text | {r['match_chars']:,} characters, {r['matches']:,} matches | {r['match_ms']:,.1f} |",
        f"| render SSML (say-as dates, sentences, one lexicon) | {r['ssml_chars']:,} characters, {r['spoken_chars']:,}"
        f" spoken | {r['render_ms']:,.1f} |",
        f"| plan it into requests of 2,000 characters | {r['chunks']:,} chunks | {r['plan_ms']:,.1f} |",
        "",
        "Importing the XML parsers the choice was between, in a fresh CPython each time, bytecode cached (ms; what a"
        " Worker pays on its first request, compiling included, is the Pyodide table below):",
        "",
        "| import | ms |",
        "| --- | ---: |",
        *[f"| `{name}` | {ms:,.1f} |" for name, ms in r["imports"].items()],
        "",
        "`defusedxml` protects the same expat parser with the handlers `shared/text/xmltree.py` sets itself"
        " (no DTD, no entity declaration, no external reference), and reaches it only through `xml.etree` or `xml.sax`;"
        " `xml.etree` drops the source positions captions need, so it would mean two parses.",
    ]
    p = r.get("pyodide")
    if p:
        lines += [
            "",
            "In the api Worker's Pyodide (tests/pyodide harness; these modules load, and compile, on the first request"
            " that needs them, not in the deploy snapshot):",
            "",
            "| step | ms |",
            "| --- | ---: |",
            f"| `import xml.parsers.expat` | {p['expat_ms']:,.1f} |",
            f"| `import shared.text.render` (after it) | {p['text_ms']:,.1f} |",
            f"| `import shared.api.pronunciation` (after those) | {p['api_ms']:,.1f} |",
            f"| render {p['ssml']:,} characters of SSML ({p['spoken']:,} spoken), first / again | "
            f"{p['render_first_ms']:,.1f} / {p['render_ms']:,.1f} |",
            f"| define 20 record classes: frozen dataclasses / NamedTuples (best of 3) | "
            f"{p['dataclass_ms']:,.1f} / {p['namedtuple_ms']:,.1f} |",
            "",
            "The last row is why `shared/text/` keeps its records as NamedTuples: a frozen dataclass `exec`s"
            " several generated methods when its class is made, and these modules are imported on a Worker's"
            " first request.",
        ]
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--lexicons", type=int, default=20)
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pyodide", action="store_true", help="also measure in Pyodide (needs Node and the wheels)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; print the section, write nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rules, args.lexicons, args.chars, args.repeat = 20, 2, 2_000, 1
    results = measure(args.rules, args.lexicons, args.chars, args.repeat)
    if args.pyodide:
        results["pyodide"] = measure_pyodide(20_000 if not args.smoke else 600)
    command = "python -m bench.pronunciation" + (" --pyodide" if args.pyodide else "")
    text = section(results, command)
    if args.smoke:
        print(text)
    else:
        sections.write_section("pronunciation", text, DOC)
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
