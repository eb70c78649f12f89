"""The sections of docs/benchmarks.md that their own commands write, between markers.

``python -m bench`` rewrites the file's main tables and keeps these as they
are (``kept_sections``); each command replaces only its own (``write_section``).
"""

from __future__ import annotations

from pathlib import Path

# name -> the command that writes it; markers are <!-- name:begin --> / <!-- name:end -->.
SECTIONS = {
    "workerd": "python -m bench.workerd",
    "longform": "python -m bench.longform --write",
    "speech": "python -m bench.speech",
    "captions": "python -m bench.captions",
    "neural": "python -m bench.neural",
    "synthesis": "python -m bench.synthesis --write",
    "fanout": "python -m bench.fanout --write",
    "chunk-memory": "python -m bench.chunk_memory --write",
    "pronunciation": "python -m bench.pronunciation",
    "openai": "python -m bench.openai_parity",
    "inputs": "python -m bench.inputs --write",
    "do-requests": "python -m bench.ops --write",
    "delivery": "python -m bench.delivery",
    "cache": "python -m bench.cache --write",
}


def markers(name: str) -> tuple[str, str]:
    if name not in SECTIONS:
        raise KeyError(f"unknown benchmarks section {name!r}; known: {sorted(SECTIONS)}")
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(name: str, text: str, doc: Path) -> None:
    """Replace section ``name`` (``text`` carries its markers) in ``doc``, or append it."""
    begin, end = markers(name)
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + text + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    doc.write_text(current)


def kept_sections(doc: Path) -> str:
    """Every known section found in ``doc``, markers included, in ``SECTIONS`` order."""
    text = doc.read_text() if doc.exists() else ""
    kept = []
    for name in SECTIONS:
        begin, end = markers(name)
        if begin in text and end in text:
            kept.append(begin + text.split(begin, 1)[1].split(end, 1)[0] + end)
    return "\n\n".join(kept)
