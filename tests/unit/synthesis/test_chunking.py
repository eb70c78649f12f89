from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.text.chunking import chunk_texts, split_text, split_stable

SENTENCES = "The first sentence is short. The second one, with a clause, is longer! Is the third a question? "


def test_short_text_is_one_piece() -> None:
    assert split_text("Hello there.", 100) == ["Hello there."]
    assert chunk_texts("  Hello there.  ", 100) == ["Hello there."]


def test_cuts_between_whole_sentences_and_packs_them() -> None:
    text = SENTENCES * 3
    pieces = split_text(text, 120)
    assert "".join(pieces) == text
    for piece in pieces[:-1]:
        assert piece.rstrip().endswith((".", "!", "?")), piece
    # greedy: no two neighbours would have fitted together
    for left, right in zip(pieces, pieces[1:]):
        assert len((left + right).strip()) > 120


def test_a_sentence_over_the_limit_is_cut_at_clauses_then_words() -> None:
    sentence = "alpha beta gamma, delta epsilon zeta; eta theta iota kappa lambda mu nu xi omicron pi rho sigma."
    pieces = chunk_texts(sentence, 40)
    assert pieces[0] == "alpha beta gamma, delta epsilon zeta;"
    assert all(len(p) <= 40 for p in pieces)
    assert " ".join(pieces).split() == sentence.split()  # words intact, in order


def test_a_word_longer_than_the_limit_is_cut_between_characters() -> None:
    word = "x" * 25
    assert split_text(word, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_combining_marks_stay_with_their_letter() -> None:
    text = ("e\u0301" * 12)  # é as e + combining acute
    pieces = split_text(text, 5)
    assert "".join(pieces) == text
    for piece in pieces:
        assert unicodedata.combining(piece[0]) == 0, pieces


def test_cjk_sentences_need_no_space() -> None:
    text = "今日は晴れです。明日は雨でしょう。週末は曇りです。"
    assert split_text(text, 10) == ["今日は晴れです。", "明日は雨でしょう。", "週末は曇りです。"]


def test_paragraphs_and_line_breaks_are_boundaries() -> None:
    text = "Title line\nFirst paragraph goes here\n\nSecond paragraph"
    assert chunk_texts(text, 30) == ["Title line", "First paragraph goes here", "Second paragraph"]


def test_blank_text() -> None:
    assert split_text("", 10) == []
    assert split_text("   ", 10) == ["   "]
    with pytest.raises(ValueError):
        split_text("x", 0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(list("abc xyz.,;!?\n\u3002\u0301") + ["  ", ". ", ", ", "word "]), min_size=1, max_size=150).map(
        "".join
    ),
    st.integers(min_value=1, max_value=60),
)
def test_pieces_partition_the_text_and_fit_the_limit(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert "".join(pieces) == text
    if text.strip():
        assert all(piece.strip() for piece in pieces)
    assert all(len(piece.strip()) <= limit for piece in pieces)
    assert split_text(text, limit) == pieces  # deterministic: a retry re-plans the same chunks


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(list("abc xyz.,;!?\n\u3002\u0301") + ["  ", ". ", "\n\n", "word "]), min_size=1, max_size=200).map(
        "".join
    ),
    st.integers(min_value=1, max_value=60),
)
def test_stable_pieces_keep_the_same_invariants(text: str, limit: int) -> None:
    pieces = split_stable(text, limit)
    assert "".join(pieces) == text
    if text.strip():
        assert all(piece.strip() for piece in pieces)
    assert all(len(piece.strip()) <= limit for piece in pieces)
    assert split_stable(text, limit) == pieces


def _book(edit: int | None = None, grow: str = "") -> str:
    paragraphs = [
        " ".join(f"Part {p} line {i} goes on." for i in range(3 + (p * 7) % 23)) + (grow if p == edit else "")
        for p in range(120)
    ]
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize("grow", ["", " Typo fix.", " And one more sentence, added by the author."])
def test_an_edited_paragraph_changes_only_the_chunk_holding_it(grow: str) -> None:
    before = chunk_texts(_book(), 1000, stable=True)
    after = chunk_texts(_book(edit=61, grow=grow + " Edited."), 1000, stable=True)
    assert len(set(before) - set(after)) == 1  # one chunk replaced...
    # ...by one, or by two when the edit no longer fits one request; every other chunk is as it was
    assert len(set(after) - set(before)) == (2 if len(grow) > 20 else 1)


def test_greedy_packing_would_move_every_boundary_after_a_longer_paragraph() -> None:
    edited = _book(edit=61, grow=" And one more sentence, added by the author. Edited.")
    assert len(set(chunk_texts(edited, 1000)) - set(chunk_texts(_book(), 1000))) > 10


def test_text_that_fits_one_request_is_one_piece_either_way() -> None:
    text = "One.\n\nTwo.\n\nThree.\n\nFour."
    assert split_stable(text, 100) == split_text(text, 100) == [text]
