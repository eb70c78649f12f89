"""A long job on both runtimes: chunks, progress, one WAV assembled by R2 multipart upload, Range on it.

Short by default (7,000 characters of ``tone``: 4 chunks, about 20 MB of WAV,
3 multipart parts of 8 MiB). Longer runs: ``TTS_LONGFORM_CHARS=100000``
(288 MB of audio, 35 parts); the timeout grows with it. ``TTS_LONGFORM_MODEL=espeak``
runs the same job with eSpeak NG (local runtime only; its duration is not a
function of the text, so the header is checked against the body alone).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import pytest

from shared.synthesis.catalogue import OFFLINE_INPUT_CHARS
from shared.text.chunking import chunk_texts
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

TOKEN = "alice-token"
CHARS = int(os.environ.get("TTS_LONGFORM_CHARS", "7000"))
MODEL = os.environ.get("TTS_LONGFORM_MODEL", "tone")
SLOT = 24_000 * 60 // 1000 * 2  # tone: 60 ms of 16-bit mono per character


def long_text(chars: int) -> str:
    sentence = "The quick brown fox jumps over the lazy dog, and then it rests. "
    return (sentence * (chars // len(sentence) + 1))[:chars].strip()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    env = {"API_TOKENS": f"alice:{TOKEN}", "MAX_TEXT_CHARS": str(max(CHARS, 100_000))}
    p = Pipeline(tmp_path_factory.mktemp("longform"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def test_a_long_job_is_one_correct_wav_with_range_requests(pipeline: Pipeline, runtime: str) -> None:
    if MODEL != "tone" and runtime != "local":
        pytest.skip(f"{MODEL} runs on the local runtime only")
    text = long_text(CHARS)
    chunks = chunk_texts(text, OFFLINE_INPUT_CHARS)
    assert len(chunks) >= 4
    rate = 24_000 if MODEL == "tone" else 22_050
    job = pipeline.submit(token=TOKEN, text=text, model=MODEL, format="wav", sampleRate=rate)
    done = pipeline.wait(job["jobId"], token=TOKEN, timeout=120 + CHARS / 100)
    assert done["status"] == "completed", done
    assert done["progress"] == {"done": len(chunks), "total": len(chunks)}

    reply = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN)
    assert reply.status == 200 and reply.headers["content-type"].startswith("audio/wav")
    audio = reply.body
    assert len(audio) == done["sizeBytes"]
    if MODEL == "tone":  # every chunk's samples, nothing lost or doubled: 60 ms a character
        assert len(audio) == 44 + sum(len(c) for c in chunks) * SLOT > 16 * 1024 * 1024  # more than two parts
    assert audio[:4] == b"RIFF" and audio[8:16] == b"WAVEfmt " and audio[36:40] == b"data"
    riff, data = struct.unpack_from("<I", audio, 4)[0], struct.unpack_from("<I", audio, 40)[0]
    assert riff == len(audio) - 8 and data == len(audio) - 44  # the header says the whole length
    channels, header_rate, byte_rate = struct.unpack_from("<HII", audio, 22)
    assert (channels, header_rate) == (1, rate) and byte_rate == 2 * rate
    if MODEL == "tone":
        assert data / byte_rate == pytest.approx(sum(len(c) for c in chunks) * 0.06)
        # no second header inside: the chunks' own headers were dropped at the joins (tone's
        # samples are known; speech could hold these bytes by chance)
        assert audio.count(b"RIFF") == 1 and audio.count(b"WAVEfmt ") == 1

    def ranged(spec: str) -> bytes:
        part = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN, headers={"Range": spec})
        assert part.status == 206, (spec, part.status, part.body[:200])
        assert part.headers["content-range"].endswith(f"/{len(audio)}")
        return part.body

    assert ranged("bytes=0-43") == audio[:44]
    middle = 8 * 1024 * 1024 - 50  # across the first part boundary of the upload
    assert ranged(f"bytes={middle}-{middle + 99}") == audio[middle : middle + 100]
    assert ranged("bytes=-1000") == audio[-1000:]

    # the chunks and the upload's records are gone once the job is completed
    assert not [k for k in pipeline.object_keys() if k.startswith(f"tmp/{job['jobId']}/")]
