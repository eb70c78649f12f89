"""The rendering path: segments, merged pauses, caption words in the user's spelling, phonemes per
model, and the plan that cuts speech into requests without cutting a reading or losing a pause."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.text.errors import RenderError
from shared.text.lexicon import lexicon_from_json
from shared.text.plan import plan_chunks, split_speech
from shared.text.render import Caps, Rendering, Silence, Speech, render

TONE = Caps("tone")
ESPEAK = Caps("espeak", phonemes="espeak")
LEXICON = lexicon_from_json(
    {
        "rules": [
            {"grapheme": "W3C", "alias": "World Wide Web Consortium"},
            {"grapheme": "Nguyen", "phoneme": "ŋwiən", "alias": "Win"},
            {"grapheme": "Xi", "phoneme": "ʃiː"},
        ]
    }
)


def shape(rendering: Rendering) -> list[object]:
    return [s.ms if isinstance(s, Silence) else s.text for s in rendering.segments]


def test_plain_text_with_a_lexicon_keeps_its_whitespace_and_maps_words_back() -> None:
    text = "The W3C's  meeting with Nguyen."
    rendering = render(text, "text", [LEXICON], TONE)
    assert shape(rendering) == ["The World Wide Web Consortium's  meeting with Win."]
    captions = rendering.captions
    assert [c.word for c in captions] == ["The", "W3C's", "meeting", "with", "Nguyen."]
    assert all(text[c.start : c.end] == c.word for c in captions)


def test_ssml_segments_pauses_and_captions() -> None:
    source = (
        "<speak>\n  <p><s>Hello <sub alias='World Wide Web Consortium'>W3C</sub> and AT&amp;T.</s>\n"
        "  <s>It costs <say-as interpret-as='cardinal'>1,234</say-as></s></p>\n"
        "  <p>ab<break time='2s'/>cd<break/><break time='1s'/></p></speak>"
    )
    rendering = render(source, "ssml", [], TONE)
    assert shape(rendering) == [
        "Hello World Wide Web Consortium and AT&T.",
        600,  # the end of a sentence (and the start of the next one: merged)
        "It costs one thousand two hundred thirty-four",
        1000,  # a paragraph end beats a sentence end
        "ab",
        2000,
        "cd",
        1400,  # explicit breaks at the end add up; a structural pause at the very end is dropped
    ]
    words = [(c.word, source[c.start : c.end]) for c in rendering.captions]
    assert words == [
        ("Hello", "Hello"), ("W3C", "W3C"), ("and", "and"), ("AT&T.", "AT&amp;T."),
        ("It", "It"), ("costs", "costs"), ("1,234", "1,234"), ("ab", "ab"), ("cd", "cd"),
    ]
    assert rendering.pause_ms == 600 + 1000 + 2000 + 1400


def test_a_break_where_a_sentence_ends_replaces_the_sentence_pause() -> None:
    assert shape(render("<speak><s>a</s><break time='50ms'/><s>b</s></speak>", "ssml", [], TONE)) == ["a", 50, "b"]
    assert shape(render("<speak><s>a</s><break strength='none'/><s>b</s></speak>", "ssml", [], TONE)) == ["a", "b"]
    assert shape(render("<speak><break time='1s'/>a</speak>", "ssml", [], TONE)) == [1000, "a"]
    assert shape(render("<speak><p>a</p></speak>", "ssml", [], TONE)) == ["a"]


def test_whitespace_runs_in_ssml_are_one_space() -> None:
    rendering = render("<speak>one\n\n   two\tthree</speak>", "ssml", [], TONE)
    assert shape(rendering) == ["one two three"]


def test_lexicons_match_across_character_references_but_not_inside_readings() -> None:
    lexicon = lexicon_from_json({"rules": [{"grapheme": "AT&T", "alias": "A T and T"}, {"grapheme": "W3C", "alias": "X"}]})
    rendering = render("<speak>AT&amp;T <sub alias='W3C'>the consortium</sub></speak>", "ssml", [lexicon], TONE)
    assert shape(rendering) == ["A T and T W3C"]


def test_phonemes_go_natively_to_a_model_that_takes_them() -> None:
    (speech,) = render("Ask Nguyen and Xi.", "text", [LEXICON], ESPEAK).segments
    assert isinstance(speech, Speech) and speech.text == "Ask Nguyen and Xi."
    assert [(p.spoken, p.phoneme) for p in speech.pieces if p.phoneme] == [("Nguyen", "Nwi@n"), ("Xi", "Si:")]


def test_phonemes_fall_back_to_the_alias_or_are_refused_naming_the_model() -> None:
    (speech,) = render("Ask Nguyen.", "text", [LEXICON], TONE).segments
    assert isinstance(speech, Speech) and speech.text == "Ask Win."
    with pytest.raises(RenderError) as caught:
        render("Ask Xi.", "text", [LEXICON], Caps("openai/tts-1"))
    assert "'openai/tts-1'" in str(caught.value) and caught.value.field == "lexicons"
    # an SSML <phoneme> falls back to its content as written, and needs some
    (speech,) = render("<speak><phoneme ph='tə'>to</phoneme></speak>", "ssml", [], TONE).segments
    assert isinstance(speech, Speech) and speech.text == "to"
    with pytest.raises(RenderError):
        render("<speak>a <phoneme ph='tə'/></speak>", "ssml", [], TONE)


def test_a_phoneme_the_notation_lacks_falls_back_too() -> None:
    lexicon = lexicon_from_json({"rules": [{"grapheme": "Bach", "phoneme": "bɑχ", "alias": "Bahk"}]})
    (speech,) = render("Bach", "text", [lexicon], ESPEAK).segments  # eSpeak's English table has no χ
    assert isinstance(speech, Speech) and speech.text == "Bahk" and not speech.pieces[0].phoneme


def test_prosody_rate_splits_requests_only_where_the_model_takes_a_speed() -> None:
    source = "<speak>a <prosody rate='slow'>b</prosody> c</speak>"
    assert shape(render(source, "ssml", [], TONE)) == ["a b c"]
    with_speed = render(source, "ssml", [], Caps("openai/tts-1", speed=True))
    assert [(s.text, s.rate) for s in with_speed.speeches] == [("a", None), ("b", 0.75), ("c", None)]
    plan = plan_chunks(with_speed, 100, job_speed=2.0, speed_range=(0.25, 4.0))
    assert [c.speed for c in plan.chunks] == [None, 1.5, None]


def test_the_same_input_renders_to_the_same_provider_input() -> None:
    source = "<speak>Hello <say-as interpret-as='date'>2024-01-05</say-as><break time='1s'/>Nguyen</speak>"
    first = plan_chunks(render(source, "ssml", [LEXICON], ESPEAK), 2000).keys()
    again = plan_chunks(render(source, "ssml", [LEXICON], ESPEAK), 2000).keys()
    assert first == again
    assert first == [
        '{"lead":0,"phonemes":[],"speed":null,"text":"Hello January fifth, twenty twenty-four","trail":1000}',
        '{"lead":0,"phonemes":[[0,6,"Nwi@n"]],"speed":null,"text":"Nguyen","trail":0}',
    ]


def test_pauses_survive_chunking_and_readings_are_never_cut() -> None:
    source = (
        "<speak><break time='300ms'/>" + "<s>Short words here and there.</s>" * 4
        + "<sub alias='World Wide Web Consortium'>W3C</sub> closes<break time='2s'/></speak>"
    )
    rendering = render(source, "ssml", [], TONE)
    plan = plan_chunks(rendering, 30)
    assert plan.chunks[0].lead_ms == 300 and plan.chunks[-1].trail_ms == 2000
    total = sum(c.lead_ms + c.trail_ms for c in plan.chunks)
    assert total == rendering.pause_ms
    assert all(len(c.text) <= 30 for c in plan.chunks)
    assert any(c.text.startswith("World Wide Web Consortium") for c in plan.chunks)
    with pytest.raises(RenderError) as caught:
        plan_chunks(rendering, 20)  # the alias alone is 25 characters
    assert caught.value.code == "reading_too_long"


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.sampled_from(["alpha", "W3C", "beta.", "gamma,", "Nguyen", "d", "eps!"]), min_size=1, max_size=60),
    limit=st.integers(min_value=26, max_value=80),
)
def test_split_speech_keeps_every_word_and_never_cuts_a_reading(words: list[str], limit: int) -> None:
    text = " ".join(words)
    (speech,) = render(text, "text", [LEXICON], TONE).segments
    assert isinstance(speech, Speech)
    parts = split_speech(speech, limit)
    assert all(len(p.text) <= limit for p in parts)
    assert " ".join(p.text for p in parts).split() == speech.text.split()
    whole = [p for p in speech.pieces if not p.exact]
    assert sum(1 for part in parts for p in part.pieces if not p.exact) == len(whole)
    captions = [c for part in parts for c in render_captions(part)]
    assert [c.word for c in captions] == [c.word for c in render(text, "text", [LEXICON], TONE).captions]


def render_captions(speech: Speech) -> list:  # type: ignore[type-arg]
    return Rendering((speech,)).captions
