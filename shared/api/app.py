"""The api Worker's application: auth, routing, error mapping.

``ApiApp.handle`` takes an ``HttpRequest`` and always returns an
``HttpResponse``: every failure becomes a JSON error body, never a bare 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shared.api import jobs
from shared.api.auth import authenticate
from shared.api.errors import ApiError
from shared.api.openapi import openapi_document
from shared.api.router import Router
from shared.config import Settings
from shared.http import HttpRequest, HttpResponse
from shared.jobs.rpc import JobsClient
from shared.logs import JsonLogger
from shared.ports import BlobStore, Clock, QueueProducer
from shared.synthesis.catalogue import Resolved
from shared.web import index_response


class CataloguePort(Protocol):
    """What the API needs of ``shared.synthesis.Catalogue``."""

    def validate(
        self, model: str | None, voice: str | None = None, format: str | None = None, *, text: str | None = None
    ) -> Resolved: ...

    def to_json_list(self) -> list[dict[str, Any]]: ...


@dataclass
class ApiDeps:
    settings: Settings
    jobs: JobsClient
    bucket: BlobStore
    queue: QueueProducer
    catalogue: CataloguePort
    clock: Clock
    new_job_id: Callable[[], str]
    log: JsonLogger


class ApiApp:
    def __init__(self, deps: ApiDeps) -> None:
        self.deps = deps
        self._router = Router()
        r = self._router
        r.add("POST", "/v1/jobs", self._authed(jobs.create_job))
        r.add("GET", "/v1/jobs", self._authed(jobs.list_jobs))
        r.add("GET", "/v1/jobs/{job_id}", self._authed(jobs.get_job))
        r.add("DELETE", "/v1/jobs/{job_id}", self._authed(jobs.delete_job))
        r.add("GET", "/v1/jobs/{job_id}/audio", self._authed(jobs.get_audio))
        r.add("GET", "/v1/jobs/{job_id}/result", self._authed(jobs.get_legacy_result))
        r.add("GET", "/v1/models", self._models)
        r.add("GET", "/openapi.json", self._openapi)
        r.add("GET", "/healthz", self._health)
        r.add("GET", "/", self._page)  # the web page (shared/web); not part of the API document

    def _authed(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapped(request: HttpRequest, **params: str) -> HttpResponse:
            tenant = authenticate(request, self.deps.settings)
            result: HttpResponse = await handler(request, self.deps, tenant, **params)
            return result

        return wrapped

    async def _models(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {"models": self.deps.catalogue.to_json_list()})

    async def _openapi(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, openapi_document())

    async def _health(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {"ok": True})

    async def _page(self, request: HttpRequest) -> HttpResponse:
        return index_response(request)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            handler, params = self._router.resolve(request)
            response: HttpResponse = await handler(request, **params)
        except ApiError as exc:
            response = exc.to_response()
        except Exception as exc:
            self.deps.log.error("unhandled", path=request.path, method=request.method, error=repr(exc))
            response = ApiError(500, "internal", "internal error; the request can be retried").to_response()
        if request.method == "HEAD":
            response.body = b""
        return response
