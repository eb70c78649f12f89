"""The XML parser under SSML and PLS: offsets into the source, and what it refuses (DTDs, entities,
external references, deep nesting), each with a 1-based line and column."""

from __future__ import annotations

import pytest

from shared.text.errors import MarkupError
from shared.text.xmltree import MAX_DEPTH, Element, TextRun, parse, position


def runs(element: Element) -> list[tuple[str, str, bool]]:
    source = SOURCE
    return [(r.value, source[r.start : r.end], r.exact) for r in element.runs()]


SOURCE = '<speak xml:lang="en">Hé &amp; <sub alias="x">W3C</sub>\r\nnext &#233;t 😀<!-- note --> ok<![CDATA[a<b]]></speak>'


def test_text_runs_know_their_source_span() -> None:
    root = parse(SOURCE)
    assert root.tag == "speak" and root.attrs == {"xml:lang": "en"}
    assert runs(root) == [
        ("Hé ", "Hé ", True),
        ("&", "&amp;", False),  # a reference maps to its span as a whole
        (" ", " ", True),
        ("W3C", "W3C", True),
        ("\n", "\r\n", False),  # XML reads CR LF as one line break
        ("next ", "next ", True),
        ("é", "&#233;", False),
        ("t 😀", "t 😀", True),  # code points, not UTF-8 bytes or UTF-16 units
        (" ok", " ok", True),  # after a comment: the comment is no text
        ("a<b", "a<b", True),  # CDATA
    ]
    sub = root.elements()[0]
    assert SOURCE[sub.start : sub.end] == '<sub alias="x">W3C</sub>'


def test_self_closing_and_nested_elements_end_where_they_do() -> None:
    source = "<a><a/>x<b>t</b><c/></a>"
    root = parse(source)
    assert [source[e.start : e.end] for e in root.elements()] == ["<a/>", "<b>t</b>", "<c/>"]
    assert root.end == len(source)


@pytest.mark.parametrize(
    "source,message,line,column",
    [
        ('<!DOCTYPE l [<!ENTITY x "boom">]><l>&x;</l>', "DOCTYPE", 1, 1),
        ('<?xml version="1.0"?>\n<!DOCTYPE l SYSTEM "http://evil.example/x.dtd"><l/>', "DOCTYPE", 2, 1),
        (  # the billion laughs
            '<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>',
            "DOCTYPE",
            1,
            1,
        ),
        ("<l>\n  &nope;</l>", "undefined entity", 2, 3),
        ("<l>a<b></l>", "mismatched tag", 1, 10),  # at the end tag's name
        ("<l/><m/>", "junk after document element", 1, 5),
        ("", "no element found", 1, 1),
        ("just text", "syntax error", 1, 1),
    ],
)
def test_refused_documents_name_line_and_column(source: str, message: str, line: int, column: int) -> None:
    with pytest.raises(MarkupError) as caught:
        parse(source)
    assert message in caught.value.reason
    assert (caught.value.line, caught.value.column) == (line, column)


def test_an_external_entity_is_never_read(tmp_path: object) -> None:
    source = '<!DOCTYPE l [<!ENTITY x SYSTEM "file:///etc/passwd">]><l>&x;</l>'
    with pytest.raises(MarkupError) as caught:
        parse(source)
    assert "DOCTYPE" in str(caught.value) and "root" not in str(caught.value)


def test_nesting_is_capped() -> None:
    deep = "<a>" * (MAX_DEPTH + 1) + "</a>" * (MAX_DEPTH + 1)
    with pytest.raises(MarkupError) as caught:
        parse(deep)
    assert "nested" in caught.value.reason
    assert isinstance(parse("<a>" * MAX_DEPTH + "</a>" * MAX_DEPTH), Element)


def test_position_counts_lines_as_xml_does() -> None:
    text = "ab\r\ncd\ref\ngh"
    assert position(text, 0) == (1, 1)
    assert position(text, 4) == (2, 1)
    assert position(text, 7) == (3, 1)
    assert position(text, 11) == (4, 2)


def test_text_run_type_is_plain_data() -> None:
    run = parse("<a>x</a>").children[0]
    assert isinstance(run, TextRun) and (run.start, run.end) == (3, 4)
