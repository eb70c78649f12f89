"""``GET /v1/models``, ``GET /v1/models/{id}`` and ``GET /v1/audio/voices``: the catalogue as OpenAI's clients read it.

``/v1/models`` answers OpenAI's list shape (``"object": "list"``, ``"data"``:
one ``{"id", "object": "model", "created", "owned_by"}`` per model) *beside*
the fields our own clients read (``defaultModel``, ``models``: the full
specs), so ``client.models.list()`` of the OpenAI SDKs and our CLI, Python
client and web page all parse the same answer. The OpenAI model names of
``SPEECH_MODEL_MAP`` (``tts-1``, ...) are listed too, each with ``root``: the
model it maps to (vLLM's field for the same thing). ``created`` is 0: a model
here has no creation date.

``/v1/audio/voices`` lists every voice of every model this runtime offers, and
for each model the OpenAI voice names a request may use with it
(``aliasOf``: the model's voice it becomes, by the speech route's rule in
``shared.api.speech.map_voice``). ``?model=`` narrows it to one model (our
id or an OpenAI name). Errors on these routes are OpenAI's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from shared.api.errors import ApiError
from shared.api.request_limits import check_query
from shared.api.speech import OPENAI_VOICES, map_model, openai_error
from shared.http import HttpRequest, HttpResponse
from shared.synthesis.catalogue import ModelSpec
from shared.errors import CatalogueError

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

CREATED = 0  # OpenAI's "created" (Unix seconds); a model here has no creation date


def _model_object(model_id: str, owned_by: str, root: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": model_id, "object": "model", "created": CREATED, "owned_by": owned_by}
    if root is not None:
        entry["root"] = root
    return entry


def _offered(deps: Dependencies) -> dict[str, dict[str, Any]]:
    """Our model id -> its public JSON (``Catalogue.public_models``), for the models this runtime runs."""
    return {m["id"]: m for m in deps.catalogue.public_models()}


def aliases(deps: Dependencies, offered: dict[str, dict[str, Any]]) -> dict[str, str]:
    """OpenAI model name of ``SPEECH_MODEL_MAP`` -> the offered model it maps to (names mapping nowhere left out)."""
    out: dict[str, str] = {}
    for name, target in deps.settings.speech_model_map.items():
        model = target or deps.catalogue.default_model
        if name not in offered and model in offered:
            out[name] = model
    return out


def model_list(deps: Dependencies) -> dict[str, Any]:
    offered = _offered(deps)
    data = [_model_object(m["id"], m["provider"]) for m in offered.values()]
    data += [_model_object(name, offered[model]["provider"], model) for name, model in aliases(deps, offered).items()]
    return {"object": "list", "data": data, "defaultModel": deps.catalogue.default_model, "models": list(offered.values())}


async def list_models(request: HttpRequest, deps: Dependencies) -> HttpResponse:
    check_query(request, ())
    return HttpResponse.json(200, model_list(deps))


async def get_model(request: HttpRequest, deps: Dependencies, model_id: str) -> HttpResponse:
    """One model: OpenAI's model object; ours also carry their spec (camelCase fields)."""
    check_query(request, ())
    model_id = unquote(model_id)  # the SDKs send "openai%2Ftts-1"
    offered = _offered(deps)
    if model_id in offered:
        spec = offered[model_id]
        return HttpResponse.json(200, {**spec, **_model_object(model_id, spec["provider"])})
    mapped = aliases(deps, offered).get(model_id)
    if mapped is not None:
        return HttpResponse.json(200, _model_object(model_id, offered[mapped]["provider"], mapped))
    return openai_error(404, f"The model {model_id!r} does not exist here; GET /v1/models lists them",
                        param="model", code="model_not_found")


def voice_entries(deps: Dependencies, spec: ModelSpec) -> list[dict[str, Any]]:
    """The model's own voices, then the OpenAI voice names that reach one of them."""
    def language(voice: str) -> str | None:
        return spec.voice_languages.get(voice, spec.language)

    out = [
        {"id": v, "name": v, "model": spec.id, "language": language(v), "default": v == spec.default_voice}
        for v in spec.voices
    ]
    names = [*OPENAI_VOICES, *(n for n in deps.settings.speech_voice_map if n not in OPENAI_VOICES)]
    for name in names:
        if name in spec.voices:
            continue
        mapped = deps.settings.speech_voice_map.get(name)
        target = mapped if mapped in spec.voices else spec.default_voice
        out.append({"id": name, "name": name, "model": spec.id, "language": language(target), "default": False,
                    "aliasOf": target})
    return out


async def list_voices(request: HttpRequest, deps: Dependencies) -> HttpResponse:
    try:
        check_query(request, ("model",))
    except ApiError as exc:
        return openai_error(400, exc.message, param=exc.field, code=exc.code)
    asked = request.query_param("model")
    if asked is None:
        specs = [deps.catalogue.validate(m).spec for m in _offered(deps)]
    else:
        try:
            spec = deps.catalogue.validate(map_model(deps, asked)).spec
        except CatalogueError as exc:
            return openai_error(400, str(exc), param="model", code="model_not_found")
        if spec.id not in _offered(deps):
            return openai_error(400, f"model {spec.id!r} is not offered on this runtime", param="model",
                                code="model_not_found")
        specs = [spec]
    return HttpResponse.json(200, {"voices": [v for spec in specs for v in voice_entries(deps, spec)]})
