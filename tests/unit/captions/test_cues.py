"""Cue grouping and WebVTT/SRT rendering: readable lines, exact clocks, nothing lost, nothing overlapping."""

from __future__ import annotations

import io

import webvtt

from shared.captions.cues import CUE_MAX_CHARS, CUE_MAX_SECONDS, Cue, TimedWord, group_cues, render_srt, render_vtt


def timed(text: str, per_word: float = 0.3, gap: float = 0.05) -> list[TimedWord]:
    out, t = [], 0.0
    for word in text.split():
        out.append(TimedWord(word, t, t + per_word))
        t += per_word + gap
    return out


def test_cues_break_at_sentences_and_stay_under_the_character_limit() -> None:
    text = "One short sentence. " + " ".join(f"word{i}" for i in range(30)) + ". Last!"
    cues = group_cues(timed(text))
    assert cues[0].text == "One short sentence."
    assert cues[-1].text == "Last!"
    assert all(len(c.text) <= CUE_MAX_CHARS for c in cues)
    assert " ".join(c.text for c in cues).split() == text.split()


def test_cues_break_after_a_clause_only_with_enough_left_to_say() -> None:
    cues = group_cues(timed("The pipeline owns the text, the chunks and the audio. It can hand back captions, too."))
    assert [c.text for c in cues] == ["The pipeline owns the text,", "the chunks and the audio.", "It can hand back captions, too."]


def test_cues_break_when_they_would_last_too_long() -> None:
    slow = timed("a b c d e f g h", per_word=1.0, gap=0.5)
    cues = group_cues(slow)
    assert all(c.end - c.start <= CUE_MAX_SECONDS for c in cues) and len(cues) > 1
    assert " ".join(c.text for c in cues) == "a b c d e f g h"


def test_a_word_longer_than_a_line_is_a_cue_of_its_own() -> None:
    long_word = "x" * 60
    cues = group_cues(timed(f"before {long_word} after"))
    assert [c.text for c in cues] == ["before", long_word, "after"]


def test_vtt_parses_and_keeps_times_to_the_millisecond() -> None:
    cues = [Cue(0.0, 1.2344, "Hello, world."), Cue(1.5, 3661.0005, "An hour <later> & more --> on")]
    text = render_vtt(cues)
    assert text.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.234\nHello, world.\n")
    assert "01:01:01.000" in text or "01:01:01.001" in text
    parsed = list(webvtt.from_buffer(io.StringIO(text)))
    assert [c.start for c in parsed] == ["00:00:00.000", "00:00:01.500"]
    assert "&lt;later&gt; &amp; more --&gt; on" in text


def test_srt_uses_commas_and_numbers_cues() -> None:
    text = render_srt([Cue(0.0, 0.5, "One"), Cue(62.25, 63.0, "Two")])
    assert text == "1\n00:00:00,000 --> 00:00:00,500\nOne\n\n2\n00:01:02,250 --> 00:01:03,000\nTwo\n"


def test_rendered_cues_never_overlap_never_pass_the_audio_and_never_are_empty() -> None:
    cues = [Cue(0.0, 0.0004, "instant"), Cue(0.0003, 0.9, "overlapping"), Cue(0.95, 2.5, "past the end")]
    text = render_vtt(cues, duration=2.0)
    parsed = list(webvtt.from_buffer(io.StringIO(text)))
    assert [(c.start, c.end) for c in parsed] == [
        ("00:00:00.000", "00:00:00.001"), ("00:00:00.001", "00:00:00.900"), ("00:00:00.950", "00:00:02.000"),
    ]


def test_chapters_go_into_webvtt_as_notes_before_their_first_cue_and_as_a_chapters_track() -> None:
    from shared.captions.cues import Chapter, Cue, render_chapters_vtt, render_vtt

    cues = [Cue(0.0, 1.0, "Hello Bob."), Cue(1.5, 2.0, "Hi --> Alice."), Cue(2.1, 2.5, "Bye.")]
    chapters = [Chapter(0, "Intro", 0.0, 1.0), Chapter(1, "Reply\n--> two", 1.5, 2.5)]
    vtt = render_vtt(cues, chapters=chapters)
    assert vtt.split("\n\n")[:4] == [
        "WEBVTT",
        "NOTE chapter 0: Intro (00:00:00.000 to 00:00:01.000)",
        "1\n00:00:00.000 --> 00:00:01.000\nHello Bob.",
        "NOTE chapter 1: Reply -> two (00:00:01.500 to 00:00:02.500)",
    ]
    assert render_vtt([], chapters=chapters[:1]) == "WEBVTT\n\nNOTE chapter 0: Intro (00:00:00.000 to 00:00:01.000)\n"
    assert render_chapters_vtt(chapters) == (
        "WEBVTT\n\nchapter-0\n00:00:00.000 --> 00:00:01.000\nIntro\n\n"
        "chapter-1\n00:00:01.500 --> 00:00:02.500\nReply -&gt; two\n"
    )
