"""eSpeak says phonemes natively and spells say-as characters (skipped only if libespeak-ng cannot load).

eSpeak's audio is not byte-for-byte repeatable within a process (README, Providers), so these compare
lengths that differ by far more than that drift, and the caption words' times."""

from __future__ import annotations

import pytest

from shared.models import JobRecord, JobStatus
from shared.synthesis.catalogue import espeak_spec
from shared.synthesis.espeak import EspeakSynthesizer, with_phonemes
from shared.synthesis.rendered import synthesize_planned
from shared.synthesis.speech_plan import caps_of
from shared.audio.wav import parse_wav
from shared.text.lexicon import lexicon_from_json
from shared.text.plan import plan_chunks
from shared.text.render import render

needs_espeak = pytest.mark.skipif(not EspeakSynthesizer.available(), reason="libespeak-ng failed to load on this host")
LONG_IPA = "ˌæntɪdɪsˌɛstæblɪʃˈmɛntərɪənɪzəm"


def record(text: str, text_type: str | None = None) -> JobRecord:
    return JobRecord(
        job_id="e" * 32, tenant="t", status=JobStatus.PROCESSING, text=text, model="espeak", voice_id="en-us",
        format="wav", created_at=0, updated_at=0, ttl_seconds=60, text_type=text_type, timestamps="word",
    )


async def spoken(text: str, text_type: str = "text", lexicons: list | None = None) -> tuple[float, list]:  # type: ignore[type-arg]
    rendering = render(text, text_type, lexicons or [], caps_of(espeak_spec()))
    (chunk,) = plan_chunks(rendering, 2000).chunks
    result = await synthesize_planned(EspeakSynthesizer(), record(text, text_type), chunk)
    info = parse_wav(result.audio)
    captions = [c.caption for c in chunk.captions()]
    assert result.words is not None and len(result.words) == len(captions)
    return info.pcm_length / 2 / info.sample_rate, [(c.word, w.start, w.end) for c, w in zip(captions, result.words)]


@needs_espeak
async def test_a_phoneme_rule_changes_the_audio() -> None:
    lexicon = lexicon_from_json({"rules": [{"grapheme": "Nguyen", "phoneme": LONG_IPA, "alphabet": "ipa"}]})
    plain, _ = await spoken("Ask Nguyen now.")
    with_rule, words = await spoken("Ask Nguyen now.", lexicons=[lexicon])
    assert with_rule > plain + 1.0  # a word of twelve syllables instead of two
    assert [w[0] for w in words] == ["Ask", "Nguyen", "now."]
    _, start, end = words[1]
    assert end - start > 1.0  # the caption word spans its phonemes' time


@needs_espeak
async def test_say_as_characters_spells() -> None:
    word, word_timings = await spoken("<speak>table</speak>", "ssml")
    spelled, spelled_timings = await spoken("<speak><say-as interpret-as='characters'>table</say-as></speak>", "ssml")
    assert spelled > word * 1.4  # five letter names instead of one word (1.21 s against 0.76 s here)
    assert [w[0] for w in spelled_timings] == ["table"] and [w[0] for w in word_timings] == ["table"]


@needs_espeak
async def test_literal_brackets_are_not_read_as_phonemes() -> None:
    text, where = with_phonemes("a [[b]] c", ((8, 9, "si:"),))
    assert text == "a [ [b]] [[si:]]" and where(12, 2) == (8, 1)
    assert where(0, 1) == (0, 8)  # the piece whose brackets were parted maps as a whole
    duration, words = await spoken("Say [[x]] and Nguyen.", lexicons=[lexicon_from_json(
        {"rules": [{"grapheme": "Nguyen", "phoneme": "ŋwiən"}]})])
    assert duration > 0 and [w[0] for w in words] == ["Say", "[[x]]", "and", "Nguyen."]
