"""How a job records the lexicon versions it reads: ``name@version,name@version`` (light: the views import it)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_refs", "parse_refs"]


def format_refs(refs: Sequence[tuple[str, str]]) -> str:
    """``[(name, version), ...]`` as a job records them."""
    return ",".join(f"{name}@{version}" for name, version in refs)


def parse_refs(text: str | None) -> list[tuple[str, str]]:
    """What ``format_refs`` wrote (lexicon names have neither ``@`` nor ``,``)."""
    out: list[tuple[str, str]] = []
    for item in (text or "").split(","):
        name, sep, version = item.partition("@")
        if sep:
            out.append((name, version))
    return out
