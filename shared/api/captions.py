"""Serving a job's word timings: ``/captions.vtt`` (WebVTT), ``/captions.srt`` (SRT), ``/timestamps`` (JSON).

A job with inputs always has its timings object (its chapters; words only
when it asked for them): ``/timestamps`` carries ``chapters``, the WebVTT
captions a ``NOTE`` per chapter, and ``/captions.vtt?kind=chapters`` is the
WebVTT chapters track (shared/captions/cues.py).

Answers, in order of the checks:

- 404 ``timestamps_not_requested``: the job was submitted without
  ``"timestamps": "word"`` and without inputs (it has none, and never will);
- 400 ``invalid_kind``: ``kind`` other than ``captions`` or ``chapters`` (``chapters`` only on
  ``/captions.vtt`` of a job with inputs);
- 409 ``not_ready``: the job is not completed (yet, or it failed or was
  canceled), as for ``/audio``;
- 410 ``timings_gone``: the object is no longer in R2;
- 200 with the file; ``ETag`` from the audio's (the timings are written with
  it), so ``If-None-Match`` gives a 304.

Who may read them follows ``/audio``: the owner's token, or a signed link
of the job (the query of its ``audioUrl``; ``captionsUrl`` carries it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.api.ranges import none_match
from shared.captions.cues import Chapter, group_cues, render_chapters_vtt, render_srt, render_vtt
from shared.captions.document import timed_words
from shared.captions.location import timings_key_of
from shared.captions.store import load_timings
from shared.http import HttpRequest, HttpResponse
from shared.models import JobRecord, JobStatus

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

__all__ = ["CAPTION_KINDS", "serve_captions"]

# kind -> (Content-Type, file extension)
CAPTION_KINDS: dict[str, tuple[str, str]] = {
    "vtt": ("text/vtt; charset=utf-8", "vtt"),
    "srt": ("application/x-subrip; charset=utf-8", "srt"),
    "json": ("application/json", "words.json"),
}


async def serve_captions(
    request: HttpRequest, deps: Dependencies, record: JobRecord, kind: str, cache_control: str
) -> HttpResponse:
    content_type, extension = CAPTION_KINDS[kind]
    chapters_only = _chapters_asked(request, kind, record)
    if not record.timestamps and not record.input_count:
        raise ApiError(
            404,
            "timestamps_not_requested",
            'this job was submitted without "timestamps": "word", so it has no word timings or captions;'
            ' submit the text again with it',
            field="timestamps",
        )
    if record.status is not JobStatus.COMPLETED:
        raise ApiError(
            409, "not_ready", f"job is {record.status.value}; captions exist once it is completed",
            extra={"status": record.status.value},
        )
    etag = f'"{record.etag}-{kind}{"-chapters" if chapters_only else ""}"'
    if none_match(request.headers.get("if-none-match"), etag):
        return HttpResponse.empty(304, {"ETag": etag, "Cache-Control": cache_control})
    headers = {
        "Content-Type": content_type,
        "ETag": etag,
        "Cache-Control": cache_control,
        "Content-Disposition": f'inline; filename="{record.job_id}.{extension}"',
    }
    if kind == "json":  # the stored object is the answer: streamed from R2, never parsed here
        key = timings_key_of(record)
        blob = await deps.bucket.get(key) if key else None
        if blob is None:
            raise _gone()
        headers["Content-Length"] = str(blob.info.size)
        response = HttpResponse.empty(200, headers)
        response.blob = blob
        return response
    document = await load_timings(deps.bucket, record)
    if document is None:
        raise _gone()
    chapters = [Chapter(c.index, c.title, c.start, c.end) for c in document.chapters or ()]
    if chapters_only:
        body = render_chapters_vtt(chapters).encode("utf-8")
    elif kind == "vtt":
        body = render_vtt(group_cues(timed_words(document)), duration=document.duration, chapters=chapters).encode()
    else:
        body = render_srt(group_cues(timed_words(document)), duration=document.duration).encode("utf-8")
    headers["Content-Length"] = str(len(body))
    response = HttpResponse.empty(200, headers)
    response.body = body
    return response


def _chapters_asked(request: HttpRequest, kind: str, record: JobRecord) -> bool:
    raw = request.query_param("kind")
    if raw is None or raw == "captions":
        return False
    if raw == "chapters" and kind == "vtt" and record.input_count:
        return True
    raise ApiError(
        400, "invalid_kind",
        "kind must be captions, or chapters (the WebVTT chapters track of a job submitted with inputs)",
        field="kind",
    )


def _gone() -> ApiError:
    return ApiError(410, "timings_gone", "the word timings of this job are no longer stored")
