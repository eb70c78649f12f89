"""A small router: method + path pattern -> handler, with 404/405 answers.

Chosen over a framework for cold start: on Python Workers every top-level
import counts against the 1 s startup budget, and this needs only ``re``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.api.errors import ApiError
from shared.http import HttpRequest, HttpResponse

Handler = Callable[..., Awaitable[HttpResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        # "/v1/jobs/{jobId}" -> named group matching one path segment; the rest literally ("captions.vtt");
        # "{name:path}" matches the rest of the path, slashes included (model ids such as "openai/tts-1").
        parts = re.split(r"\{(\w+(?::path)?)\}", path)
        regex = "".join(
            (f"(?P<{part[:-5]}>.+)" if part.endswith(":path") else f"(?P<{part}>[^/]+)") if i % 2 else re.escape(part)
            for i, part in enumerate(parts)
        )
        self._routes.append(Route(method.upper(), re.compile(f"^{regex}$"), handler))

    def resolve(self, request: HttpRequest) -> tuple[Handler, dict[str, str]]:
        allowed: list[str] = []
        for route in self._routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            if route.method == request.method or (route.method == "GET" and request.method == "HEAD"):
                return route.handler, match.groupdict()
            allowed.append(route.method)
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.path}; allowed: {', '.join(sorted(set(allowed)))}",
                headers={"Allow": ", ".join(sorted(set(allowed)))},
            )
        raise ApiError(404, "not_found", f"no route for {request.path}")
