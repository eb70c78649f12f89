"""SSML and lexicons at submit: the rules a job with ``textType: "ssml"`` or ``lexicons`` must pass.

``prepare`` runs once the model, voice and format are known
(``shared.api.submission.submit_job``). It resolves the named lexicons to
their current versions (one call to the tenant's lexicon object; an unknown
name is a 422 naming it), renders the text for the model exactly as the
consumer will (``shared.text.render``; malformed or unsupported SSML is a
400 with the line and column, a phoneme the model cannot say and no alias
a 422 naming the model), and checks the limits on what is spoken, not on
the tags: the spoken characters against ``MAX_TEXT_CHARS`` and the model's
own cap, the audio (speech and pauses) against ``MAX_AUDIO_BYTES``; pauses
need a format silence can be added to, several requests a joinable one (a
format the model makes here by encoding its PCM, ``encoded_formats``, is
both: its pauses go into the PCM, which is encoded once).
The versions go on the job, so every chunk and every retry reads the same
rules even if a lexicon changes meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.jobs.lexicons import LexiconResolve
from shared.models import CreateJobRequest
from shared.synthesis.catalogue import Resolved
from shared.audio.formats import JOINABLE_FORMATS, max_bytes_per_second
from shared.synthesis.silence import PADDABLE_FORMATS
from shared.synthesis.speech_plan import caps_of, remember_lexicon
from shared.text.errors import MarkupError, RenderError
from shared.text.lexicon import Lexicon, format_refs
from shared.text.plan import plan_chunks
from shared.text.render import render

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

__all__ = ["Prepared", "is_rendered_request", "prepare", "source_limit_bytes"]


@dataclass(frozen=True)
class Prepared:
    text_type: str | None  # "ssml", or None for plain text
    lexicons: str | None  # "name@version,..." as the job records them
    spoken_chars: int
    chunks: int
    pause_ms: int


def is_rendered_request(body: CreateJobRequest) -> bool:
    return body.text_type == "ssml" or bool(body.lexicons)


def source_limit_bytes(max_text_chars: int) -> int:
    """The largest SSML document (UTF-8 bytes): the row bytes a plain text of ``MAX_TEXT_CHARS`` may take."""
    return 4 * max_text_chars


async def resolve(deps: Dependencies, tenant: str, names: list[str]) -> tuple[list[Lexicon], list[tuple[str, str]]]:
    """The current version of each named lexicon (in order); 422 naming the first unknown one."""
    if len(names) > deps.settings.max_lexicons:
        raise ApiError(
            422, "validation_error", f"lexicons: at most {deps.settings.max_lexicons} (MAX_LEXICONS)", field="lexicons"
        )
    answer = await deps.jobs.call(LexiconResolve(tenant=tenant, names=names))
    missing = answer.get("missing") or []
    if missing:
        raise ApiError(
            422,
            "unknown_lexicon",
            f"lexicons: there is no lexicon {missing[0]!r}; upload it with PUT /v1/lexicons/{missing[0]}",
            field="lexicons",
            extra={"missing": missing},
        )
    by_name = {item["name"]: item for item in answer.get("found", [])}
    lexicons: list[Lexicon] = []
    refs: list[tuple[str, str]] = []
    for name in names:
        item = by_name[name]
        lexicons.append(remember_lexicon(tenant, name, item["version"], item["rules"]))
        refs.append((name, item["version"]))
    return lexicons, refs


async def prepare(deps: Dependencies, tenant: str, body: CreateJobRequest, resolved: Resolved) -> Prepared:
    """Check a rendered job's text for ``resolved`` (see the module doc); ``ApiError`` when refused."""
    settings = deps.settings
    text_type = "ssml" if body.text_type == "ssml" else None
    lexicons, refs = await resolve(deps, tenant, body.lexicons) if body.lexicons else ([], [])
    spec = resolved.spec
    try:
        rendering = render(body.joined_text(), text_type or "text", lexicons, caps_of(spec))
        plan = plan_chunks(
            rendering,
            spec.max_input_chars,
            job_speed=body.speed,
            speed_range=(spec.speed_range[0], spec.speed_range[1]) if spec.speed_range else None,
        )
    except MarkupError as exc:
        raise ApiError(
            400,
            "invalid_ssml",
            f"text: {exc}",
            field="text",
            extra={"line": exc.line, "column": exc.column},
        ) from exc
    except RenderError as exc:
        raise ApiError(422, exc.code, f"{exc.field}: {exc}", field=exc.field, extra={"model": spec.id}) from exc
    spoken = rendering.spoken_chars
    if not plan.chunks:
        raise ApiError(422, "validation_error", "text: there is nothing to speak (only markup)", field="text")
    caps = [settings.max_text_chars] + ([spec.max_job_chars] if spec.max_job_chars is not None else [])
    if spoken > min(caps):
        raise ApiError(
            422,
            "text_too_long",
            f"text: {spoken:,} characters are spoken, over the limit of {min(caps):,} for model {spec.id!r}"
            " (tags are not counted); split the text into several jobs",
            field="text",
            extra={"maxChars": min(caps), "spokenChars": spoken},
        )
    pause_ms = rendering.pause_ms
    estimate = spoken * spec.bytes_per_char(resolved.format, resolved.sample_rate, body.speed) + (
        pause_ms / 1000 * max_bytes_per_second(resolved.format, resolved.sample_rate)
    )
    if estimate > settings.max_audio_bytes:
        raise ApiError(
            422,
            "text_too_long",
            f"text: its audio would be about {estimate / 1e6:.0f} MB in {resolved.format} at {resolved.sample_rate} Hz"
            f" (speech and pauses), and one job may make at most {settings.max_audio_bytes / 1e6:.0f} MB",
            field="text",
        )
    # A format the model makes here by encoding its PCM (spec.encoded_formats) takes pauses and several
    # requests: the silence is added to the PCM and the joined PCM is encoded once (shared/synthesis/longform.py).
    if pause_ms and resolved.format not in PADDABLE_FORMATS and resolved.format not in spec.encoded_formats:
        allowed = [f for f in PADDABLE_FORMATS if f in spec.formats] + spec.encoded_formats
        raise ApiError(
            422,
            "validation_error",
            f"format: pauses are exact silence added to the audio, which {resolved.format} cannot take;"
            f" use one of {', '.join(allowed)}",
            field="format",
            extra={"allowed": allowed},
        )
    if len(plan.chunks) > 1 and resolved.format not in JOINABLE_FORMATS and resolved.format not in spec.encoded_formats:
        allowed = [f for f in JOINABLE_FORMATS if f in spec.formats] + spec.encoded_formats
        raise ApiError(
            422,
            "validation_error",
            f"format: the text needs {len(plan.chunks)} requests to model {spec.id!r} and {resolved.format}"
            f" audio cannot be joined; use one of {', '.join(allowed)}",
            field="format",
            extra={"allowed": allowed},
        )
    return Prepared(text_type, format_refs(refs) or None, spoken, len(plan.chunks), pause_ms)
