"""Serving a job's word timings: ``/captions.vtt`` (WebVTT), ``/captions.srt`` (SRT), ``/timestamps`` (JSON).

Answers, in order of the checks:

- 404 ``timestamps_not_requested``: the job was submitted without
  ``"timestamps": "word"`` (it has none, and never will);
- 409 ``not_ready``: the job is not completed (yet, or it failed or was
  canceled), as for ``/audio``;
- 410 ``timings_gone``: the object is no longer in R2;
- 200 with the file; ``ETag`` from the audio's (the timings are written with
  it), so ``If-None-Match`` gives a 304.

Who may read them follows ``/audio``: the owner's token, or a signed link
of the job (the query of its ``audioUrl``; ``captionsUrl`` carries it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.api.ranges import none_match
from shared.captions.cues import group_cues, render_srt, render_vtt
from shared.captions.document import timed_words
from shared.captions.store import load_timings
from shared.http import HttpRequest, HttpResponse
from shared.models import JobRecord, JobStatus

if TYPE_CHECKING:
    from shared.api.deps import ApiDeps

__all__ = ["CAPTION_KINDS", "serve_captions"]

# kind -> (Content-Type, file extension)
CAPTION_KINDS: dict[str, tuple[str, str]] = {
    "vtt": ("text/vtt; charset=utf-8", "vtt"),
    "srt": ("application/x-subrip; charset=utf-8", "srt"),
    "json": ("application/json", "words.json"),
}


async def serve_captions(
    request: HttpRequest, deps: ApiDeps, record: JobRecord, kind: str, cache_control: str
) -> HttpResponse:
    content_type, extension = CAPTION_KINDS[kind]
    if not record.timestamps:
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
    etag = f'"{record.etag}-{kind}"'
    if none_match(request.headers.get("if-none-match"), etag):
        return HttpResponse.empty(304, {"ETag": etag, "Cache-Control": cache_control})
    document = await load_timings(deps.bucket, record)
    if document is None:
        raise ApiError(410, "timings_gone", "the word timings of this job are no longer stored")
    if kind == "json":
        body = json.dumps(document.to_json_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        cues = group_cues(timed_words(document))
        render = render_vtt if kind == "vtt" else render_srt
        body = render(cues, duration=document.duration).encode("utf-8")
    headers = {
        "Content-Type": content_type,
        "ETag": etag,
        "Cache-Control": cache_control,
        "Content-Disposition": f'inline; filename="{record.job_id}.{extension}"',
        "Content-Length": str(len(body)),
    }
    response = HttpResponse.empty(200, headers)
    response.body = body
    return response
