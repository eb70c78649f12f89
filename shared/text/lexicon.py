"""Pronunciation lexicons: rules read from a W3C PLS document or JSON, their version, and matching.

A rule (a PLS ``<lexeme>``) names one or more graphemes and how to say them:
an ``alias`` (text spoken instead) and/or a ``phoneme`` string in ``ipa`` or
``x-sampa``. Among several ``<alias>`` or ``<phoneme>`` elements of a lexeme
the one with ``prefer="true"`` is taken, else the first.

Matching, as PLS processors (Polly, Azure) do it: graphemes are matched
case-sensitively, whole words only (a grapheme that starts or ends with a
letter or digit does not match inside a longer word), whitespace inside a
grapheme matches any run of whitespace. Lexicons apply in the order the
request lists them and rules in document order: at each position of the
text the first rule that matches wins, and matching goes on after it.

``Lexicon.canonical()`` is the rules as compact, sorted JSON;
``Lexicon.version`` is its SHA-256 (16 hex digits), so the same rules have
the same version whichever format carried them, and a job that recorded a
version reads exactly those rules.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from shared.text.errors import LexiconRuleError, MarkupError
from shared.text.refs import format_refs, parse_refs
from shared.text.xmltree import Element, parse, position

__all__ = [
    "ALPHABETS",
    "PLS_NAMESPACE",
    "Lexicon",
    "Match",
    "Matcher",
    "Rule",
    "lexicon_from_canonical",
    "lexicon_from_json",
    "lexicon_from_pls",
    "format_refs",
    "parse_refs",
]

PLS_NAMESPACE = "http://www.w3.org/2005/01/pronunciation-lexicon"
ALPHABETS = ("ipa", "x-sampa")
MAX_GRAPHEME_CHARS = 200
MAX_READING_CHARS = 2_000
_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD_CHAR = re.compile(r"\w")


class Rule(NamedTuple):
    graphemes: tuple[str, ...]
    alias: str | None = None
    phoneme: str | None = None
    alphabet: str = "ipa"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"graphemes": list(self.graphemes)}
        if self.alias is not None:
            out["alias"] = self.alias
        if self.phoneme is not None:
            out["phoneme"] = self.phoneme
            out["alphabet"] = self.alphabet
        return out


class Lexicon(NamedTuple):
    rules: tuple[Rule, ...]
    language: str | None = None

    def canonical(self) -> str:
        body = {"v": 1, "language": self.language, "rules": [r.to_json() for r in self.rules]}
        return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    @property
    def version(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()[:16]

    def to_rules_json(self) -> list[dict[str, Any]]:
        """The rules in the JSON upload format (one entry per grapheme)."""
        out: list[dict[str, Any]] = []
        for rule in self.rules:
            for grapheme in rule.graphemes:
                entry: dict[str, Any] = {"grapheme": grapheme}
                if rule.alias is not None:
                    entry["alias"] = rule.alias
                if rule.phoneme is not None:
                    entry["phoneme"] = rule.phoneme
                    entry["alphabet"] = rule.alphabet
                out.append(entry)
        return out


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


# --- JSON ----------------------------------------------------------------------


def lexicon_from_json(data: Any) -> Lexicon:
    """``{"rules": [{"grapheme", "alias"?, "phoneme"?, "alphabet"?}], "language"?}``; ``LexiconRuleError`` naming the rule."""
    if not isinstance(data, dict):
        raise LexiconRuleError('the body must be a JSON object: {"rules": [...]}', None)
    unknown = sorted(set(data) - {"rules", "language"})
    if unknown:
        raise LexiconRuleError(f"unknown field {unknown[0]!r}; a lexicon has rules and language", None)
    language = data.get("language")
    if language is not None and (not isinstance(language, str) or not language.strip() or len(language) > 35):
        raise LexiconRuleError("language must be a language tag such as en-US", None, "language")
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise LexiconRuleError("rules must be a non-empty list", None, "rules")
    out = []
    for index, raw in enumerate(rules):
        if not isinstance(raw, dict):
            raise LexiconRuleError("a rule must be an object with grapheme and alias or phoneme", index)
        extra = sorted(set(raw) - {"grapheme", "alias", "phoneme", "alphabet"})
        if extra:
            raise LexiconRuleError(f"unknown field {extra[0]!r}", index, extra[0])
        grapheme = _text_field(raw, "grapheme", index, MAX_GRAPHEME_CHARS, required=True)
        alias = _text_field(raw, "alias", index, MAX_READING_CHARS)
        phoneme = _text_field(raw, "phoneme", index, MAX_READING_CHARS)
        alphabet = raw.get("alphabet", "ipa")
        if alphabet not in ALPHABETS:
            raise LexiconRuleError(f"alphabet must be one of {', '.join(ALPHABETS)}", index, "alphabet")
        if alias is None and phoneme is None:
            raise LexiconRuleError("a rule needs an alias or a phoneme", index)
        out.append(Rule((grapheme or "",), alias, phoneme, alphabet))
    return Lexicon(tuple(out), language.strip() if isinstance(language, str) else None)


def _text_field(raw: dict[str, Any], name: str, index: int, limit: int, *, required: bool = False) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            raise LexiconRuleError("missing", index, name)
        return None
    if not isinstance(value, str) or not _normal(value):
        raise LexiconRuleError("must be a non-empty string", index, name)
    normal = _normal(value)
    if len(normal) > limit:
        raise LexiconRuleError(f"longer than {limit} characters", index, name)
    return normal


# --- PLS -------------------------------------------------------------------------


def lexicon_from_pls(source: str) -> Lexicon:
    """A W3C PLS 1.0 document; ``MarkupError`` with the line and column of the problem."""
    root = parse(source)

    def fail(element: Element, message: str) -> MarkupError:
        line, column = position(source, element.start)
        return MarkupError(message, line, column)

    if root.tag != "lexicon" or root.namespace not in (None, PLS_NAMESPACE):
        raise fail(root, f"the root element must be <lexicon> (namespace {PLS_NAMESPACE}), not <{root.tag}>")
    default_alphabet = root.attrs.get("alphabet", "ipa")
    if default_alphabet not in ALPHABETS:
        raise fail(root, f"alphabet {default_alphabet!r} is not supported; use one of {', '.join(ALPHABETS)}")
    rules: list[Rule] = []
    for child in root.elements():
        if child.tag in ("meta", "metadata"):
            continue
        if child.tag != "lexeme":
            raise fail(child, f"<{child.tag}> is not a PLS element here; a lexicon holds <lexeme> elements")
        rules.append(_lexeme(child, default_alphabet, fail))
    if not rules:
        raise fail(root, "the lexicon has no <lexeme>")
    language = root.attrs.get("xml:lang")
    return Lexicon(tuple(rules), _normal(language) if language else None)


def _lexeme(lexeme: Element, default_alphabet: str, fail: Any) -> Rule:
    graphemes: list[str] = []
    aliases: list[tuple[bool, str]] = []
    phonemes: list[tuple[bool, str, str]] = []
    for child in lexeme.elements():
        text = _normal(child.text())
        if child.elements():
            raise fail(child.elements()[0], f"<{child.tag}> may hold text only")
        prefer = child.attrs.get("prefer") == "true"
        if child.tag == "grapheme":
            if not text or len(text) > MAX_GRAPHEME_CHARS:
                raise fail(child, f"<grapheme> must hold 1 to {MAX_GRAPHEME_CHARS} characters")
            graphemes.append(text)
        elif child.tag == "alias":
            if not text or len(text) > MAX_READING_CHARS:
                raise fail(child, f"<alias> must hold 1 to {MAX_READING_CHARS} characters")
            aliases.append((prefer, text))
        elif child.tag == "phoneme":
            alphabet = child.attrs.get("alphabet", default_alphabet)
            if alphabet not in ALPHABETS:
                raise fail(child, f"alphabet {alphabet!r} is not supported; use one of {', '.join(ALPHABETS)}")
            if not text or len(text) > MAX_READING_CHARS:
                raise fail(child, f"<phoneme> must hold 1 to {MAX_READING_CHARS} characters")
            phonemes.append((prefer, text, alphabet))
        elif child.tag == "example":
            continue
        else:
            raise fail(child, f"<{child.tag}> is not a PLS element of a lexeme (grapheme, phoneme, alias, example)")
    if not graphemes:
        raise fail(lexeme, "the <lexeme> has no <grapheme>")
    if not aliases and not phonemes:
        raise fail(lexeme, "the <lexeme> has neither <alias> nor <phoneme>")
    alias: str | None = _preferred(aliases)
    phoneme: tuple[str, str] | None = _preferred([(p, (text, alphabet)) for p, text, alphabet in phonemes])
    if phoneme is None:
        return Rule(tuple(graphemes), alias)
    return Rule(tuple(graphemes), alias, phoneme[0], phoneme[1])


def _preferred(items: Sequence[tuple[bool, Any]]) -> Any:
    for prefer, value in items:
        if prefer:
            return value
    return items[0][1] if items else None


def lexicon_from_canonical(canonical: str) -> Lexicon:
    """The lexicon ``Lexicon.canonical()`` wrote."""
    body = json.loads(canonical)
    rules = tuple(
        Rule(tuple(r["graphemes"]), r.get("alias"), r.get("phoneme"), r.get("alphabet", "ipa")) for r in body["rules"]
    )
    return Lexicon(rules, body.get("language"))


# --- matching ----------------------------------------------------------------------


class Match(NamedTuple):
    start: int
    end: int
    rule: Rule


class _Candidate(NamedTuple):
    priority: int
    grapheme: str
    rule: Rule
    pattern: re.Pattern[str] | None  # for a grapheme with inner whitespace
    word_end: bool  # its last character is a letter or digit: the text must not go on with one


class Matcher:
    """The rules of ``lexicons`` (in order), indexed by each grapheme's first token."""

    def __init__(self, lexicons: Sequence[Lexicon]) -> None:
        self.lexicons = lexicons
        self._index: dict[str, list[_Candidate]] = {}
        priority = 0
        for lexicon in self.lexicons:
            for rule in lexicon.rules:
                for grapheme in rule.graphemes:
                    first = _TOKEN.match(grapheme)
                    if first is None:
                        continue
                    pattern = None
                    if " " in grapheme:
                        pattern = re.compile(r"\s+".join(re.escape(part) for part in grapheme.split(" ")))
                    word_end = bool(_WORD_CHAR.match(grapheme[-1]))
                    self._index.setdefault(first.group(), []).append(
                        _Candidate(priority, grapheme, rule, pattern, word_end)
                    )
                    priority += 1

    def __bool__(self) -> bool:
        return bool(self._index)

    def find(self, text: str) -> list[Match]:
        """The matches in ``text``, left to right, never overlapping (see the module doc)."""
        out: list[Match] = []
        if not self._index:
            return out
        position_ = 0
        for token in _TOKEN.finditer(text):
            start = token.start()
            if start < position_:
                continue
            for candidate in self._index.get(token.group(), ()):
                end = _match_at(candidate, text, start)
                if end is None:
                    continue
                if candidate.word_end and end < len(text) and _WORD_CHAR.match(text[end]):
                    continue
                out.append(Match(start, end, candidate.rule))
                position_ = end
                break
        return out


def _match_at(candidate: _Candidate, text: str, start: int) -> int | None:
    if candidate.pattern is None:
        return start + len(candidate.grapheme) if text.startswith(candidate.grapheme, start) else None
    found = candidate.pattern.match(text, start)
    return found.end() if found else None
