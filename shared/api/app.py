"""The api Worker's application: auth, routing, error mapping.

``ApiApp.handle`` takes an ``HttpRequest`` and always returns an
``HttpResponse``: every failure becomes a JSON error body, never a bare 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shared.api import jobs, job_events, lexicons, openai_catalogue, request_limits, signed_links, speech, webhook_requests
from shared.api.auth import authenticate
from shared.api.errors import ApiError, storage_unavailable
from shared.api.openapi import openapi_document
from shared.api.router import Router
from shared.dependencies import Dependencies
from shared.errors import StorageUnavailableError
from shared.http import HttpRequest, HttpResponse


HEALTH_RETRY_AFTER = 5


class ApiApp:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self._router = Router()
        r = self._router
        r.add("POST", "/v1/jobs", self._authed(jobs.create_job))
        r.add("GET", "/v1/jobs", self._authed(jobs.list_jobs, query=("limit", "cursor")))
        r.add("GET", "/v1/jobs/{job_id}", self._authed(jobs.get_job, query=("wait",)))
        r.add("DELETE", "/v1/jobs/{job_id}", self._authed(jobs.delete_job))
        r.add("GET", "/v1/jobs/{job_id}/audio", self._audio)
        r.add("GET", "/v1/jobs/{job_id}/result", self._authed(jobs.get_legacy_result))
        r.add("GET", "/v1/jobs/{job_id}/captions.vtt", self._captions("vtt"))
        r.add("GET", "/v1/jobs/{job_id}/captions.srt", self._captions("srt"))
        r.add("GET", "/v1/jobs/{job_id}/timestamps", self._captions("json"))
        r.add("GET", "/v1/jobs/{job_id}/events", self._authed(job_events.job_events))  # SSE (shared/api/job_events.py)
        r.add("POST", "/v1/audio/speech", self._speech)  # OpenAI's shape, errors included (shared/api/speech.py)
        r.add("GET", "/v1/audio/voices", self._voices)
        r.add("GET", "/v1/webhooks/secret", self._authed(webhook_requests.webhook_secret))
        r.add("GET", "/v1/lexicons", self._authed(lexicons.list_lexicons))  # shared/api/lexicons.py
        r.add("PUT", "/v1/lexicons/{name}", self._authed(lexicons.put_lexicon))
        r.add("GET", "/v1/lexicons/{name}", self._authed(lexicons.get_lexicon))
        r.add("DELETE", "/v1/lexicons/{name}", self._authed(lexicons.delete_lexicon))
        r.add("GET", "/v1/models", self._models)  # OpenAI's list shape and ours (shared/api/openai_catalogue.py)
        r.add("GET", "/v1/models/{model_id:path}", self._model)
        r.add("GET", "/openapi.json", self._openapi)
        r.add("GET", "/healthz", self._health)

    def _authed(
        self, handler: Callable[..., Any], query: tuple[str, ...] = ()
    ) -> Callable[..., Awaitable[HttpResponse]]:
        async def wrapped(request: HttpRequest, **params: str) -> HttpResponse:
            tenant = authenticate(request, self.deps.settings)  # first: a 401 reveals nothing else
            request_limits.check_query(request, query)
            result: HttpResponse = await handler(request, self.deps, tenant, **params)
            return result

        return wrapped

    @property
    def max_body_bytes(self) -> int:
        """Adapters may refuse a bigger body before reading it (``Content-Length``)."""
        return request_limits.body_limit(self.deps.settings)

    async def _audio(self, request: HttpRequest, job_id: str) -> HttpResponse:
        # A signed link (expires + signature) stands in for the token: a browser's
        # <audio src> or a third party can fetch it. Without one, the token is required.
        if signed_links.is_signed_link(request):
            request_limits.check_query(request, (*signed_links.SIGNED_LINK_QUERY, "stream", "input"))
            return await jobs.get_signed_audio(request, self.deps, job_id)
        return await self._authed(jobs.get_audio, query=("stream", "input"))(request, job_id=job_id)

    async def _speech(self, request: HttpRequest) -> HttpResponse:
        return await speech.create_speech(request, self.deps)

    def _captions(self, kind: str) -> Callable[..., Any]:
        # The word timings follow /audio's rules: the token, or a signed link of the job.
        async def handler(request: HttpRequest, job_id: str) -> HttpResponse:
            if signed_links.is_signed_link(request):
                request_limits.check_query(request, (*signed_links.SIGNED_LINK_QUERY, "kind"))
                return await jobs.get_signed_captions(request, self.deps, job_id, kind)
            return await self._authed(jobs.get_captions, query=("kind",))(request, job_id=job_id, kind=kind)

        return handler

    async def _models(self, request: HttpRequest) -> HttpResponse:
        # Only the models whose provider is configured here (shared.synthesis.providers).
        return await openai_catalogue.list_models(request, self.deps)

    async def _model(self, request: HttpRequest, model_id: str) -> HttpResponse:
        return await openai_catalogue.get_model(request, self.deps, model_id)

    async def _voices(self, request: HttpRequest) -> HttpResponse:
        return await openai_catalogue.list_voices(request, self.deps)

    async def _openapi(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, openapi_document())

    async def _health(self, request: HttpRequest) -> HttpResponse:
        # 503 while any background loop of the runtime is failing (local runtime: LoopHealth).
        failing = self.deps.health() if self.deps.health is not None else []
        if failing:
            return HttpResponse.json(503, {"ok": False, "failing": failing}, {"Retry-After": str(HEALTH_RETRY_AFTER)})
        return HttpResponse.json(200, {"ok": True})

    async def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            handler, params = self._router.resolve(request)
            response: HttpResponse = await handler(request, **params)
        except ApiError as exc:
            response = exc.to_response()
        except StorageUnavailableError as exc:
            self.deps.log.warning("storage_unavailable", path=request.path, method=request.method,
                                  condition=exc.condition, error=exc.detail[:300])
            response = storage_unavailable(exc.condition).to_response()
        except Exception as exc:
            self.deps.log.error("unhandled", path=request.path, method=request.method, error=repr(exc))
            response = ApiError(500, "internal", "internal error; the request can be retried").to_response()
        if request.method == "HEAD":
            response.body = b""
            response.stream = None
        return response
