"""Word timings: alignment to the submitted text, shifting, ends from samples, per-character input, estimates."""

from __future__ import annotations

import struct

from shared.captions.measure import estimate_words
from shared.words import WordTiming, align_to_text, ends_from_starts, shift, words_from_characters


def test_alignment_gives_one_entry_per_word_of_the_text() -> None:
    text = "Héllo wörld, it's 1,234 — done."
    # What eSpeak reports: "it" for "it's", five words for "1,234", nothing for the dash.
    engine = [
        WordTiming(0.0, 0.3, 0, 5), WordTiming(0.3, 0.7, 6, 11), WordTiming(0.9, 1.1, 13, 15),
        WordTiming(1.1, 1.3, 18, 20), WordTiming(1.3, 1.8, 19, 21), WordTiming(1.8, 2.5, 21, 24),
        WordTiming(2.9, 3.3, 26, 30),
    ]
    words = align_to_text(engine, text)
    assert [text[w.char_start : w.char_end] for w in words] == text.split()
    assert (words[3].start, words[3].end) == (1.1, 2.5)  # "1,234": its five spoken words
    assert (words[4].start, words[4].end) == (2.5, 2.9)  # "—": the gap between its neighbours
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))


def test_alignment_caps_at_the_duration_and_times_words_the_engine_skipped_at_the_end() -> None:
    words = align_to_text([WordTiming(0.0, 0.5, 0, 3)], "one two", duration=2.0)
    assert [(w.start, w.end) for w in words] == [(0.0, 0.5), (0.5, 2.0)]


def test_shift_moves_times_and_offsets() -> None:
    moved = shift([WordTiming(0.25, 0.5, 0, 4)], 10.0, 100)
    assert moved == [WordTiming(10.25, 10.5, 100, 104)]


def test_ends_stop_where_the_sound_stops() -> None:
    rate = 1000
    # word 1: sound 0-199, silence to 299; word 2 from 300: sound 300-349, silence to the end (400)
    samples = [1000] * 200 + [0] * 100 + [-1000] * 50 + [3] * 50
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    words = ends_from_starts([(300, 4, 3), (0, 0, 3)], pcm, rate)  # given out of order
    assert [(w.start, w.end, w.char_start, w.char_end) for w in words] == [(0.0, 0.2, 0, 3), (0.3, 0.35, 4, 7)]


def test_characters_map_to_words_even_with_normalized_ones() -> None:
    text = "Hi  there, 42!"
    chars = list("Hi there, ") + ["forty", "two"] + ["!"]
    starts = [i * 0.1 for i in range(len(chars))]
    ends = [s + 0.08 for s in starts]
    words = words_from_characters(text, chars, starts, ends)
    assert [text[w.char_start : w.char_end] for w in words] == ["Hi", "there,", "42!"]
    assert words[0].start == 0.0 and abs(words[1].start - 0.3) < 1e-9 and words[2].end == ends[-1]


def test_estimates_spread_the_duration_by_word_length() -> None:
    words = estimate_words("a bbb", 6.0)  # shares 2 and 4 of 6
    assert [(round(w.start, 6), round(w.end, 6)) for w in words] == [(0.0, 1.0), (2.0, 6.0)]
