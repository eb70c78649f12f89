"""MP3 for the local runtime's offline models, through LAME (``lameenc`` from PyPI).

``load_mp3_encoder`` imports ``lameenc`` on first use, so a machine without
the wheel still runs (it only lists no ``mp3`` for ``tone`` and ``espeak``).
Constant bitrate 64 kbit/s, LAME's quality 2 (of 0-9, 0 best): speech is
mono, and 64 kbit/s is transparent for it; the size estimate the API sizes
jobs by (``shared.audio.formats``: 24,000 bytes a second for MP3) stays
an upper bound.
"""

from __future__ import annotations

from typing import Any

from shared.synthesis.encoding import MP3_SAMPLE_RATES

BITRATE_KBPS = 64
QUALITY = 2


class LameMp3Encoder:
    format = "mp3"
    bitrate_kbps = BITRATE_KBPS
    # Where the input's first sample comes out when the file is decoded: LAME's 576-sample
    # encoder delay plus the decoder's 529 (the file has no gapless tag to trim them). Measured
    # with FFmpeg's decoder (what browsers use): a click at sample N decodes at N + 1105 at
    # 22,050, 24,000 and 44,100 Hz, in every chunk of a frame-joined file (docs/captions.md).
    delay_samples = 1105

    def __init__(self, module: Any) -> None:
        self._lameenc = module

    def sample_rates(self, offered: list[int]) -> list[int]:
        return [rate for rate in offered if rate in MP3_SAMPLE_RATES]

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        encoder = self._lameenc.Encoder()
        encoder.set_bit_rate(self.bitrate_kbps)
        encoder.set_in_sample_rate(sample_rate)
        encoder.set_channels(1)
        encoder.set_quality(QUALITY)
        return bytes(encoder.encode(pcm)) + bytes(encoder.flush())


def load_mp3_encoder() -> LameMp3Encoder | None:
    """The encoder, or None when ``lameenc`` is not installed or does not load here."""
    try:
        import lameenc  # noqa: PLC0415
    except ImportError:
        return None
    return LameMp3Encoder(lameenc)
