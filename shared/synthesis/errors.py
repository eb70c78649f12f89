"""Errors of the synthesis package: a request checked against the model catalogue.

Every error here is a ``shared.errors.CatalogueError``, so a
``shared.errors.PermanentSynthesisError`` (retrying the
same request can never succeed) and a ``ValueError`` (it is bad input), so the
consumer fails the job at once and the HTTP layer can answer 400.

Catalogue errors carry ``field``: the JSON name of the offending request field
(``"model"``, ``"voiceId"``, ``"format"``, ``"sampleRate"``, ``"text"``), and
``allowed``: the accepted values, which the message also lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.errors import CatalogueError, listing


class UnknownModelError(CatalogueError):
    """Raised when a request names a model the catalogue does not hold."""

    field = "model"

    def __init__(self, model: object, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        super().__init__(
            f"model: unknown model {model!r}; available here: {listing(allowed) or 'none'}",
            value=model,
            allowed=allowed,
        )


class UnknownVoiceError(CatalogueError):
    """Raised when a request names a voice its model does not offer."""

    field = "voiceId"

    def __init__(self, voice: object, model: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        super().__init__(
            f"voiceId: model {model!r} has no voice {voice!r}; allowed: {listing(allowed)}",
            value=voice,
            allowed=allowed,
        )
        self.model = model


class UnsupportedSampleRateError(CatalogueError):
    """Raised when a request asks for a sample rate its model cannot produce."""

    field = "sampleRate"

    def __init__(self, rate: object, model: str, allowed: Iterable[int], fmt: str | None = None) -> None:
        allowed = tuple(allowed)
        where = f" in {fmt}" if fmt else ""
        super().__init__(
            f"sampleRate: model {model!r} does not support sample rate {rate!r}{where}; allowed: {listing(allowed)}",
            value=rate,
            allowed=allowed,
        )
        self.model = model


class TextTooLongError(CatalogueError):
    """Raised when the text exceeds what one job of the model may synthesize (``Catalogue.max_job_chars``)."""

    field = "text"

    def __init__(self, length: int, model: str, limit: int, detail: str = "") -> None:
        super().__init__(
            f"text: {length:,} characters are over the {limit:,}-character limit of model {model!r}"
            + (f" {detail}" if detail else "")
            + "; split the text into several jobs",
            value=length,
            allowed=(),
        )
        self.model = model
        self.limit = limit


class ProviderUnavailableError(CatalogueError):
    """Raised when a model's provider has no synthesizer registered on this runtime."""

    field = "model"

    # What makes each provider available (docs/providers.md).
    HINTS = {
        "espeak": "libespeak-ng, which only the local runtime has",
        "workers-ai": "the AI binding, or CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN",
        "openai": "OPENAI_API_KEY (or OPENAI_BASE_URL of a compatible server)",
        "elevenlabs": "ELEVENLABS_API_KEY",
        "gemini": "GEMINI_API_KEY",
    }

    def __init__(self, model: str, provider: str, available: Iterable[str]) -> None:
        available = tuple(available)
        hint = self.HINTS.get(provider)
        needs = f" (it needs {hint})" if hint else ""
        super().__init__(
            f"model: {model!r} (provider {provider!r}) is not configured here{needs}; "
            f"available here: {listing(available) or 'none'}",
            value=model,
            allowed=available,
        )
        self.model = model
        self.provider = provider


class UnjoinableFormatError(CatalogueError):
    """Raised when long text needs several provider requests but the format's parts cannot be joined."""

    field = "format"

    def __init__(self, fmt: str, model: str, parts: int, limit: int, joinable: Iterable[str]) -> None:
        joinable = tuple(joinable)
        super().__init__(
            f"format: the text needs {parts} requests to model {model!r} (at most {limit} characters each), "
            f"and {fmt!r} audio cannot be joined safely; use one of {listing(joinable)}, "
            f"or send at most {limit} characters",
            value=fmt,
            allowed=joinable,
        )
        self.model = model
        self.parts = parts
        self.limit = limit


class UnsupportedOptionError(CatalogueError):
    """Raised when a request sets ``speed`` or ``instructions`` on a model that does not take it (or out of range)."""

    def __init__(self, field: str, message: str, allowed: Iterable[object] = ()) -> None:
        self.field = field
        super().__init__(f"{field}: {message}", allowed=allowed)
