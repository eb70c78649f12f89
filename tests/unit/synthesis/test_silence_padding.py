"""Exact silence around a provider's audio: sample-exact in WAV and PCM, whole silent frames in MP3."""

from __future__ import annotations

import pytest

from shared.audio.kinds import AudioKind
from shared.audio.mp3 import parse_mp3
from shared.synthesis.silence import PadError, lead_seconds, pad, silence_samples
from shared.audio.wav import parse_wav, wav_pcm
from shared.text.phonemes import PhonemeError, convert, to_ipa
from tests.audio_samples import mp3_file, ramp_wav


@pytest.mark.parametrize("rate", [8000, 22050, 24000, 44100])
def test_wav_gets_exactly_the_samples_of_each_pause(rate: int) -> None:
    speech = ramp_wav(1000, start=1, rate=rate)
    padded = pad(AudioKind("wav", rate), speech, 2000, 250)
    info = parse_wav(padded)
    pcm = wav_pcm(padded)
    before, after = 2 * rate, silence_samples(250, rate)
    assert info.pcm_length == (before + 1000 + after) * 2 and info.sample_rate == rate
    assert pcm[: before * 2] == bytes(before * 2) and pcm[-after * 2 :] == bytes(after * 2)
    assert pcm[before * 2 : before * 2 + 2000] == wav_pcm(speech)
    assert lead_seconds(AudioKind("wav", rate), speech, 2000) == 2.0


def test_pcm_padding_and_no_padding() -> None:
    speech = b"\x01\x00" * 10
    assert pad(AudioKind("pcm", 24000), speech, 1, 2) == bytes(48) + speech + bytes(96)
    assert pad(AudioKind("pcm", 24000), speech, 0, 0) is speech
    with pytest.raises(PadError):
        pad(AudioKind("pcm", None), speech, 10, 0)
    with pytest.raises(PadError):
        pad(AudioKind("opus", 48000), b"OggS....", 10, 0)


@pytest.mark.parametrize("rate,mono", [(44100, True), (22050, True), (48000, False)])
def test_mp3_gets_silent_frames_to_within_one_frame(rate: int, mono: bool) -> None:
    speech = mp3_file([1, 2, 3], id3=True, xing=True, rate=rate, mono=mono)
    original = parse_mp3(speech)
    padded = pad(AudioKind("mp3", rate), speech, 2000, 500)
    info = parse_mp3(padded)
    per_frame = original.frames[0].samples
    added = info.samples - original.samples
    assert abs(added - (2 * rate + rate // 2)) <= per_frame  # within a frame of 2.5 s
    assert info.metadata_frame is None and info.id3v2 == original.id3v2  # the Xing frame would lie about the length
    lead = round(2 * rate / per_frame)
    for frame in info.frames[:lead]:
        body = padded[frame.offset + 4 : frame.offset + frame.length]
        assert body == bytes(len(body))  # no side info, no main data: silence to every decoder
    assert lead_seconds(AudioKind("mp3", rate), speech, 2000) == lead * per_frame / rate
    first_speech = info.frames[lead]
    assert padded[first_speech.offset : first_speech.offset + first_speech.length] == speech[
        original.frames[0].offset : original.frames[0].offset + original.frames[0].length
    ]


def test_phoneme_notations() -> None:
    assert convert("ˈnjuː ˈjɔːk", "ipa", "espeak") == "'nju: 'jO:k"
    assert convert("t͡ʃɜːtʃ", "ipa", "espeak") == "tS3:tS"
    assert to_ipa('h@"loU', "x-sampa") == "həˈloʊ" and convert('h@"loU', "x-sampa", "espeak") == "h@'loU"
    with pytest.raises(PhonemeError) as caught:
        convert("bɑχ", "ipa", "espeak")
    assert "U+03C7" in str(caught.value)
    with pytest.raises(PhonemeError):
        to_ipa("h@*", "x-sampa")
