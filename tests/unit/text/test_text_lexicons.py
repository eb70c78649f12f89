"""Lexicons: PLS and JSON give the same rules and version; errors name the rule (index, or line and
column); matching is case-sensitive, whole-word, in order, first match wins."""

from __future__ import annotations

import json

import pytest

from shared.text.errors import LexiconRuleError, MarkupError
from shared.text.lexicon import (
    Lexicon,
    Matcher,
    format_refs,
    lexicon_from_canonical,
    lexicon_from_json,
    lexicon_from_pls,
    parse_refs,
)

PLS = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"
    alphabet="ipa" xml:lang="en-US">
  <meta name="author" content="us"/>
  <lexeme><grapheme>W3C</grapheme><alias>World Wide Web Consortium</alias></lexeme>
  <lexeme>
    <grapheme>Nguyen</grapheme>
    <phoneme>ŋwiən</phoneme>
    <example>Mr Nguyen</example>
  </lexeme>
</lexicon>
"""
JSON = {
    "language": "en-US",
    "rules": [
        {"grapheme": "W3C", "alias": "World Wide Web Consortium"},
        {"grapheme": "Nguyen", "phoneme": "ŋwiən", "alphabet": "ipa"},
    ],
}


def test_pls_and_json_are_the_same_rules_and_version() -> None:
    pls, json_ = lexicon_from_pls(PLS), lexicon_from_json(JSON)
    assert pls == json_ and pls.version == json_.version and len(pls.version) == 16
    assert lexicon_from_canonical(pls.canonical()) == pls
    assert json_.to_rules_json() == JSON["rules"]
    changed = lexicon_from_json({**JSON, "rules": [{"grapheme": "W3C", "alias": "W three C"}]})
    assert changed.version != pls.version


def test_pls_preferred_pronunciations_and_several_graphemes() -> None:
    lexicon = lexicon_from_pls(
        '<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="x-sampa" xml:lang="en">'
        "<lexeme><grapheme>colour</grapheme><grapheme>color</grapheme>"
        '<phoneme>"kVl@</phoneme><phoneme prefer="true" alphabet="ipa">ˈkʌlɚ</phoneme>'
        "<alias>hue</alias><alias prefer='true'>tint</alias></lexeme></lexicon>"
    )
    (rule,) = lexicon.rules
    assert rule.graphemes == ("colour", "color") and rule.alias == "tint"
    assert (rule.phoneme, rule.alphabet) == ("ˈkʌlɚ", "ipa")


@pytest.mark.parametrize(
    "document,message,line,column",
    [
        ("<lexicon xmlns='http://www.w3.org/2005/01/pronunciation-lexicon'>\n<lexeme><grapheme>a</grapheme></lexeme></lexicon>",
         "neither <alias> nor <phoneme>", 2, 1),
        ("<lexicon><lexeme><alias>a</alias></lexeme></lexicon>", "no <grapheme>", 1, 10),
        ("<lexicon><lexeme><grapheme>a</grapheme><phoneme alphabet='x-custom'>b</phoneme></lexeme></lexicon>",
         "not supported", 1, 40),
        ("<lexicon><word>a</word></lexicon>", "<word> is not a PLS element", 1, 10),
        ("<other/>", "root element must be <lexicon>", 1, 1),
        ("<lexicon/>", "no <lexeme>", 1, 1),
        ('<!DOCTYPE lexicon [<!ENTITY x SYSTEM "file:///etc/passwd">]><lexicon>&x;</lexicon>', "DOCTYPE", 1, 1),
    ],
)
def test_bad_pls_names_line_and_column(document: str, message: str, line: int, column: int) -> None:
    with pytest.raises(MarkupError) as caught:
        lexicon_from_pls(document)
    assert message in caught.value.reason
    assert (caught.value.line, caught.value.column) == (line, column)


@pytest.mark.parametrize(
    "data,index,field",
    [
        ({"rules": [{"grapheme": "a", "alias": "b"}, {"grapheme": "c"}]}, 1, None),
        ({"rules": [{"grapheme": "", "alias": "b"}]}, 0, "grapheme"),
        ({"rules": [{"alias": "b"}]}, 0, "grapheme"),
        ({"rules": [{"grapheme": "a", "alias": 3}]}, 0, "alias"),
        ({"rules": [{"grapheme": "a", "phoneme": "b", "alphabet": "arpabet"}]}, 0, "alphabet"),
        ({"rules": [{"grapheme": "a", "alias": "b", "lang": "en"}]}, 0, "lang"),
        ({"rules": ["a"]}, 0, None),
        ({"rules": []}, None, "rules"),
        ({"rules": [{"grapheme": "x" * 201, "alias": "b"}]}, 0, "grapheme"),
        ([], None, None),
    ],
)
def test_bad_json_names_the_rule(data: object, index: int | None, field: str | None) -> None:
    with pytest.raises(LexiconRuleError) as caught:
        lexicon_from_json(data)
    assert (caught.value.index, caught.value.field) == (index, field)


def spans(lexicons: list[Lexicon], text: str) -> list[tuple[str, str | None]]:
    return [(text[m.start : m.end], m.rule.alias) for m in Matcher(lexicons).find(text)]


def rules(*pairs: tuple[str, str]) -> Lexicon:
    return lexicon_from_json({"rules": [{"grapheme": g, "alias": a} for g, a in pairs]})


def test_matching_is_case_sensitive_and_whole_word() -> None:
    lexicon = rules(("W3C", "World Wide Web Consortium"), ("AT&T", "A T and T"), ("C++", "C plus plus"))
    text = "W3C, w3c, W3Cs, theW3C, W3C's, AT&T, AT&Tx, C++ and C++x."
    assert spans([lexicon], text) == [
        ("W3C", "World Wide Web Consortium"),
        ("W3C", "World Wide Web Consortium"),  # before 's: a word ends at the apostrophe
        ("AT&T", "A T and T"),
        ("C++", "C plus plus"),
        ("C++", "C plus plus"),  # ends in '+': no word boundary is asked of what follows
    ]


def test_whitespace_in_a_grapheme_matches_any_run_of_it() -> None:
    lexicon = rules(("New York", "the Big Apple"))
    assert spans([lexicon], "New York, New\n  York, NewYork, New Yorker") == [
        ("New York", "the Big Apple"),
        ("New\n  York", "the Big Apple"),
    ]


def test_lexicons_apply_in_order_and_the_first_matching_rule_wins() -> None:
    a = rules(("Bob", "Robert"))
    b = rules(("Bob", "Bobby"), ("Bob Smith", "Mister Smith"))
    assert spans([a, b], "Bob Smith") == [("Bob", "Robert")]
    assert spans([b, a], "Bob Smith") == [("Bob", "Bobby")]  # "Bob" comes first in b: it wins at this position
    c = rules(("Bob Smith", "Mister Smith"), ("Bob", "Bobby"))
    assert spans([c], "Bob Smith and Bob") == [("Bob Smith", "Mister Smith"), ("Bob", "Bobby")]


def test_refs_round_trip() -> None:
    refs = [("names", "0123456789abcdef"), ("acronyms.v2", "fedcba9876543210")]
    assert parse_refs(format_refs(refs)) == refs and parse_refs(None) == []


def test_a_version_at_the_size_ceiling_fits_one_durable_object_row() -> None:
    from shared.config import Settings
    from shared.platform_limits import DO_SQL_MAX_ROW_BYTES

    ceiling = Settings.from_env({"MAX_LEXICON_BYTES": str(DO_SQL_MAX_ROW_BYTES // 3)}).max_lexicon_bytes
    # The shortest phoneme rule: its canonical form ({"alphabet":"ipa","graphemes":[...],...}) grows the most.
    rule = '{"grapheme":"a","phoneme":"b"}'
    body = '{"rules":[' + ",".join([rule] * ((ceiling - 12) // (len(rule) + 1))) + "]}"
    assert len(body) <= ceiling
    lexicon = lexicon_from_json(json.loads(body))
    assert len(body) + len(lexicon.canonical().encode()) < DO_SQL_MAX_ROW_BYTES
