"""Errors of audio bytes and formats: a container that cannot be read, parts that cannot be joined,
a format the pipeline does not know.

Each is a ``shared.errors.PermanentSynthesisError`` (the same bytes never get
better) and a ``ValueError`` (bad input).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.errors import CatalogueError, PermanentSynthesisError, listing


class UnsupportedFormatError(CatalogueError):
    """Raised when a request asks for an audio format its model (or the pipeline) cannot produce."""

    field = "format"

    def __init__(self, fmt: object, model: str | None, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        whose = f"model {model!r}" if model else "the pipeline"
        super().__init__(
            f"format: {whose} does not support format {fmt!r}; allowed: {listing(allowed)}",
            value=fmt,
            allowed=allowed,
        )
        self.model = model


class WavFormatError(PermanentSynthesisError, ValueError):
    """Raised when bytes are not a PCM WAV file this package can read or build."""


class AudioFormatMismatchError(WavFormatError):
    """Raised when audio parts to be joined differ in rate, channels or sample width."""


class Mp3FormatError(PermanentSynthesisError, ValueError):
    """Raised when bytes are not an MPEG audio (MP3) stream this package can read."""
