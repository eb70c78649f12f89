"""The cloud synthesis providers, and the one place that wires them from settings.

Both runtimes call ``build_catalogue`` (or ``build_registry``): a provider is
registered when its configuration is present, and its models are offered
(``GET /v1/models``) only then.

| provider     | registered when                                                            |
| ------------ | -------------------------------------------------------------------------- |
| ``workers-ai`` | an AI binding (Cloudflare), or ``CLOUDFLARE_ACCOUNT_ID`` + ``CLOUDFLARE_API_TOKEN`` |
| ``openai``   | ``OPENAI_API_KEY``, or an ``OPENAI_BASE_URL`` other than OpenAI's (a self-hosted copy) |
| ``elevenlabs`` | ``ELEVENLABS_API_KEY``                                                   |
| ``gemini``   | ``GEMINI_API_KEY``                                                         |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.config import Settings
from shared.ports import AiPort, HttpClient, Offload, Synthesizer, run_inline
from shared.synthesis.budget import declared_speed, fitting_chunk_chars
from shared.synthesis.catalogue import (
    AUTO_DEFAULT_ORDER,
    Catalogue,
    ModelSpec,
    ProviderRegistry,
    default_catalogue,
    default_registry,
)
from shared.synthesis.encoding import FormatEncoder, add_encoders
from shared.synthesis.providers.elevenlabs import ElevenLabsSynthesizer, elevenlabs_specs
from shared.synthesis.providers.gemini import GeminiSpeechSynthesizer, gemini_specs
from shared.synthesis.providers.openai import OpenAISpeechSynthesizer, openai_specs
from shared.synthesis.providers.workers_ai import WorkersAiRestClient, WorkersAiSynthesizer, workers_ai_specs

__all__ = ["build_catalogue", "build_registry", "cloud_specs"]

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def cloud_specs(settings: Settings) -> list[ModelSpec]:
    """Every cloud model, configured or not (the registry decides what is offered)."""
    return [*workers_ai_specs(), *openai_specs(), *elevenlabs_specs(settings.elevenlabs_voice_ids), *gemini_specs()]


def workers_ai_port(settings: Settings, http: HttpClient | None, ai: AiPort | None) -> AiPort | None:
    """The AI binding when there is one, else the REST API when credentials are set."""
    if ai is not None:
        return ai
    if http is not None and settings.cloudflare_account_id and settings.cloudflare_api_token:
        return WorkersAiRestClient(
            http,
            account_id=settings.cloudflare_account_id,
            api_token=settings.cloudflare_api_token,
            base_url=settings.cloudflare_api_base_url,
        )
    return None


def build_registry(
    settings: Settings,
    http: HttpClient | None,
    ai: AiPort | None = None,
    *,
    registry: ProviderRegistry | None = None,
) -> ProviderRegistry:
    """Register every configured cloud provider (into ``registry``, or a new empty one)."""
    registry = registry if registry is not None else ProviderRegistry()
    timeout = float(settings.provider_timeout_seconds)
    port = workers_ai_port(settings, http, ai)
    if port is not None:
        registry.register("workers-ai", WorkersAiSynthesizer(port, timeout=timeout))
    if http is None:
        return registry
    if settings.openai_api_key or settings.openai_base_url.rstrip("/") != OPENAI_DEFAULT_BASE_URL:
        registry.register(
            "openai",
            OpenAISpeechSynthesizer(
                http, base_url=settings.openai_base_url, api_key=settings.openai_api_key, timeout=timeout
            ),
        )
    if settings.elevenlabs_api_key:
        registry.register(
            "elevenlabs",
            ElevenLabsSynthesizer(
                http, api_key=settings.elevenlabs_api_key, base_url=settings.elevenlabs_base_url, timeout=timeout
            ),
        )
    if settings.gemini_api_key:
        registry.register(
            "gemini",
            GeminiSpeechSynthesizer(
                http, api_key=settings.gemini_api_key, base_url=settings.gemini_base_url, timeout=timeout
            ),
        )
    return registry


def build_catalogue(
    settings: Settings,
    *,
    http: HttpClient | None,
    ai: AiPort | None = None,
    espeak_available: bool = False,
    extra_specs: Sequence[ModelSpec] = (),
    mp3_encoder: FormatEncoder | None = None,
    encoders: Mapping[str, FormatEncoder] | None = None,
    offload: Offload = run_inline,
    local_models: Sequence[tuple[ModelSpec, Synthesizer]] = (),
) -> Catalogue:
    """The deployment's catalogue: offline models, every cloud model, the configured providers registered.

    ``local_models`` are offline models this runtime loaded (Piper, on the
    local runtime: ``shared.synthesis.piper``). With ``encoders`` (the local
    runtime's: format -> encoder; ``mp3_encoder`` is ``{"mp3": it}``), the
    offline models offer those formats too. Their blocking work (synthesis,
    encoding) goes to ``offload``: the runtime's thread pool where it has one,
    in place in a Worker.
    """
    registry = build_registry(settings, http, ai, registry=default_registry(espeak_available, offload))
    catalogue = default_catalogue(
        espeak_available,
        registry=registry,
        default_model=settings.default_model,
        max_text_chars=settings.max_text_chars,
        max_audio_bytes=settings.max_audio_bytes,
    )
    for spec, synthesizer in local_models:
        catalogue.add(spec, synthesizer)
    for spec in [*cloud_specs(settings), *extra_specs]:
        catalogue.add(spec)
    offered = {**({"mp3": mp3_encoder} if mp3_encoder is not None else {}), **(encoders or {})}
    add_encoders(catalogue, AUTO_DEFAULT_ORDER, offered, offload)  # the offline PCM models
    for spec in catalogue.models():
        # A chunk fits one consumer invocation's time and memory (shared/synthesis/budget.py);
        # MAX_INPUT_CHARS makes every model's chunks smaller still. The api and the consumer plan alike.
        limit = fitting_chunk_chars(
            spec, wall_seconds=settings.consumer_wall_seconds, memory_mb=settings.worker_memory_mb,
            speed=declared_speed(spec, settings.model_speeds),
        )
        if settings.max_input_chars:
            limit = min(limit, settings.max_input_chars)
        if limit < spec.max_input_chars:
            catalogue.add(spec.model_copy(update={"max_input_chars": limit}))
    return catalogue
