"""``submit --input-file``: JSON Lines or paragraphs become the job's inputs, ``--voice`` given in turn;
``download --input N`` and the client's ``input=`` ask for one input's audio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tts_client.cli import UsageError, build_parser, read_inputs
from tts_client.calls import audio_url, create_body
from tts_client.models import JobStatus, JobView


def test_paragraphs_are_inputs_and_voices_alternate(tmp_path: Path) -> None:
    path = tmp_path / "dialogue.txt"
    path.write_text("Hello, Bob.\nHow are you?\n\n  Fine, thanks.  \n\n\nAnd you?\n", encoding="utf-8")
    inputs = read_inputs(str(path), ["low", "high"])
    assert inputs == [
        {"text": "Hello, Bob.\nHow are you?", "voiceId": "low"},
        {"text": "Fine, thanks.", "voiceId": "high"},
        {"text": "And you?", "voiceId": "low"},
    ]
    assert read_inputs(str(path), []) == [{"text": t["text"]} for t in inputs]


def test_json_lines_keep_their_own_voice_and_title(tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    lines = [{"text": "One.", "title": "Chapter 1"}, {"text": "Two.", "voice": "high"}, {"text": "Three.", "voiceId": "low"}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    assert read_inputs(str(path), ["default"]) == [
        {"text": "One.", "title": "Chapter 1", "voiceId": "default"},
        {"text": "Two.", "voiceId": "high"},
        {"text": "Three.", "voiceId": "low"},
    ]
    body = create_body(inputs=read_inputs(str(path), []), gap_ms=400)
    assert body == {"inputs": [{"text": "One.", "title": "Chapter 1"}, {"text": "Two.", "voiceId": "high"},
                               {"text": "Three.", "voiceId": "low"}], "gapMs": 400}


@pytest.mark.parametrize(("content", "words"), [
    ('{"text": "a"}\nnot json\n', "line 2 is not JSON"),
    ('{"title": "x"}\n', 'a "text" string'),
    ("\n\n  \n", "no inputs"),
])
def test_a_bad_input_file_is_a_usage_error(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=words):
        read_inputs(str(path), [])


def test_submit_parses_input_file_voices_and_gap() -> None:
    args = build_parser().parse_args(
        ["submit", "--input-file", "d.txt", "--voice", "low", "--voice", "high", "--gap-ms", "300"]
    )
    assert args.input_file == "d.txt" and args.voice == ["low", "high"] and args.gap_ms == 300
    download = build_parser().parse_args(["download", "a" * 32, "--input", "2"])
    assert download.input_index == 2


def test_audio_url_of_one_input_plain_and_signed() -> None:
    assert audio_url("a" * 32, input=2) == f"/v1/jobs/{'a' * 32}/audio?input=2"
    signed = JobView.model_validate({
        "jobId": "b" * 32, "status": JobStatus.COMPLETED, "model": "tone", "format": "wav",
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
        "audioUrl": f"https://x/v1/jobs/{'b' * 32}/audio?expires=1&t=x&signature=s",
    })
    assert audio_url(signed, input=0).endswith("/audio?expires=1&t=x&signature=s&input=0")
    with pytest.raises(ValueError, match="index"):
        audio_url("a" * 32, input=-1)
