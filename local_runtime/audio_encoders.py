"""Opus, AAC and FLAC for the local runtime's offline models, through PyAV (``av`` from PyPI: FFmpeg's encoders).

| format | container | codec | bitrate | decoded delay |
| ------ | --------- | ----- | ------- | ------------- |
| ``opus`` | Ogg (``OggS``) | libopus | 32 kbit/s | 0: the Ogg header's pre-skip trims the encoder's delay |
| ``aac`` | ADTS (``0xFFF`` sync) | FFmpeg's AAC (LC) | 64 kbit/s | 1,024 samples: ADTS cannot say the priming, decoders play it |
| ``flac`` | FLAC (``fLaC``) | FFmpeg's FLAC | lossless | 0 |

Measured (docs/benchmarks.md, "Audio encoders"): a click at sample N of the
PCM decodes (FFmpeg's decoders, what browsers use) at N + the delay above, at
22,050 and 24,000 Hz. Opus takes 8, 12, 16, 24 and 48 kHz: other rates are
resampled to 48 kHz by PyAV (libswresample) on the way in, without moving
time. MP3 stays with LAME through ``lameenc`` (local_runtime/mp3_encoder.py):
PyAV's wheels carry LAME too and make the same bytes, but took about four
times the CPU at the same quality here.

Each encoder also streams (``stream``): PCM in, encoded bytes out as they
come, so a long job is encoded once from its joined PCM without holding the
file (shared/synthesis/encoded_assembly.py). The FLAC muxer cannot go back
to its header on a stream; the header's total-samples field is written from
the length given up front (its MD5 stays 0, "not computed", as the format
allows).

``av`` is imported on first use (about 0.1-0.3 s): a process that never
encodes these formats never pays it, and a machine without the wheel still
runs (``load_encoders`` then offers only MP3). Native code: never in a Worker
(tooling/vendor.py copies only ``shared`` and ``cloudflare_adapters``).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local_runtime.mp3_encoder import load_mp3_encoder
from shared.synthesis.encoding import FormatEncoder

FRAME_SAMPLES = 8192  # PCM samples handed to the encoder a frame at a time
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_LOCK = threading.Lock()
_AV: list[Any] = []


def _av() -> Any:
    with _LOCK:
        if not _AV:
            import av  # noqa: PLC0415 - first use only (import cost)

            _AV.append(av)
        return _AV[0]


@dataclass(frozen=True)
class _Codec:
    container: str
    codec: str
    bit_rate: int | None
    delay_samples: int


CODECS: dict[str, _Codec] = {
    "opus": _Codec("ogg", "libopus", 32_000, 0),
    "aac": _Codec("adts", "aac", 64_000, 1024),
    "flac": _Codec("flac", "flac", None, 0),
}


class _Sink:
    """Where the muxer writes; no ``seek``, so FFmpeg treats it as a stream and never goes back."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def _patch_flac_total(header: bytearray, total_samples: int) -> None:
    """Write ``total_samples`` (36 bits) into the STREAMINFO block that follows ``fLaC``."""
    if header[:4] != b"fLaC" or len(header) < 8 + 18 or header[4] & 0x7F != 0:
        return
    at = 8 + 13  # STREAMINFO: 10 bytes of block/frame sizes, then rate (20 bits), channels (3), depth (5), total (36)
    header[at] = (header[at] & 0xF0) | ((total_samples >> 32) & 0x0F)
    header[at + 1 : at + 5] = (total_samples & 0xFFFFFFFF).to_bytes(4, "big")


class AvEncoderStream:
    """One encoding: ``write`` PCM (16-bit little-endian mono), get what the muxer wrote so far; ``finish`` the rest."""

    def __init__(self, codec: _Codec, fmt: str, sample_rate: int, total_samples: int | None) -> None:
        av = _av()
        self._av = av
        self._fmt = fmt
        self._rate = sample_rate
        self._total = total_samples
        self._sink = _Sink()
        self._container = av.open(self._sink, mode="w", format=codec.container)
        out_rate = sample_rate if codec.codec != "libopus" or sample_rate in _OPUS_RATES else 48_000
        self._stream = self._container.add_stream(codec.codec, rate=out_rate, layout="mono")
        if codec.bit_rate is not None:
            self._stream.bit_rate = codec.bit_rate
        self._pts = 0
        self._head_done = False
        self._rest = b""  # an odd byte of PCM carried to the next write

    def _frame(self, pcm: bytes) -> Any:
        samples = len(pcm) // 2
        frame = self._av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += samples
        return frame

    def _take(self) -> bytes:
        data = self._sink.take()
        if not self._head_done and data:
            self._head_done = True
            if self._fmt == "flac" and self._total is not None:
                head = bytearray(data)
                _patch_flac_total(head, self._total)
                data = bytes(head)
        return data

    def write(self, pcm: bytes) -> bytes:
        pcm = self._rest + pcm
        whole = len(pcm) - len(pcm) % 2
        self._rest = pcm[whole:]
        step = FRAME_SAMPLES * 2
        for start in range(0, whole, step):
            for packet in self._stream.encode(self._frame(pcm[start : min(whole, start + step)])):
                self._container.mux(packet)
        return self._take()

    def finish(self) -> bytes:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._take()


class AvFormatEncoder:
    """``FormatEncoder`` of one of ``CODECS``' formats."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self._codec = CODECS[fmt]
        self.delay_samples = self._codec.delay_samples

    def sample_rates(self, offered: list[int]) -> list[int]:
        return list(offered)  # any PCM rate: opus resamples the ones it lacks

    def stream(self, sample_rate: int, total_samples: int | None = None) -> AvEncoderStream:
        return AvEncoderStream(self._codec, self.format, sample_rate, total_samples)

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        stream = self.stream(sample_rate, len(pcm) // 2)
        return stream.write(pcm) + stream.finish()


def pyav_installed() -> bool:
    """True when ``av`` can be imported here (checked without importing it)."""
    return importlib.util.find_spec("av") is not None


def load_encoders() -> Mapping[str, FormatEncoder]:
    """Every encoder this machine has: ``mp3`` (lameenc) and ``opus``, ``aac``, ``flac`` (PyAV), where installed."""
    encoders: dict[str, FormatEncoder] = {}
    mp3 = load_mp3_encoder()
    if mp3 is not None:
        encoders["mp3"] = mp3
    if pyav_installed():
        for fmt in CODECS:
            encoders[fmt] = AvFormatEncoder(fmt)
    return encoders
