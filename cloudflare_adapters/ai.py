"""``shared.ports.AiPort`` over the Workers AI binding (``env.AI``).

``env.AI.run(model, inputs, {signal})`` returns, per the Workers AI docs and
``@cloudflare/workers-types``: for Deepgram aura a ``ReadableStream`` of the
audio (typed as a string of MP3; older runtimes gave a ``Uint8Array``), for
melotts an object ``{audio: <base64 MP3>}``. Every shape is turned into bytes
or a dict here: a stream is read to the end through ``new Response(stream)``.
Errors thrown by the binding (``AiError: 3040: Capacity temporarily
exceeded``...) are classified by ``classify_ai_error``.
"""

from __future__ import annotations

from typing import Any

from cloudflare_adapters.convert import array_buffer_to_bytes, from_js_value, raw_binding, to_js_value
from js import AbortSignal, Response
from pyodide.ffi import JsException, JsProxy
from shared.errors import SynthesisError
from shared.ports import JsonValue
from shared.synthesis.providers.workers_ai import classify_ai_error


async def output_to_python(output: Any) -> bytes | dict[str, Any]:
    """One ``AI.run`` result as bytes (audio) or a dict (JSON output)."""
    if isinstance(output, (bytes, bytearray)):
        return bytes(output)
    if isinstance(output, str):
        return {"audio": output}
    if not isinstance(output, JsProxy):
        value = output
    elif hasattr(output, "getReader") or hasattr(output, "arrayBuffer"):
        # A ReadableStream (or a Response, with returnRawResponse): read it all.
        source = output if hasattr(output, "arrayBuffer") else Response.new(output)
        return await array_buffer_to_bytes(source.arrayBuffer())
    elif hasattr(output, "byteLength"):  # an ArrayBuffer or a typed array
        return await array_buffer_to_bytes(output)
    else:
        value = from_js_value(output)
    if isinstance(value, dict):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise SynthesisError(f"Workers AI returned {type(value).__name__}, neither audio nor an object")


class AiBinding:
    """The ``AI`` binding of a Worker."""

    def __init__(self, binding: Any) -> None:
        self._ai = raw_binding(binding)

    async def run(self, model: str, inputs: dict[str, JsonValue], *, timeout: float) -> bytes | dict[str, Any]:
        options = to_js_value({})
        options.signal = AbortSignal.timeout(max(1, int(timeout * 1000)))
        try:
            output = await self._ai.run(model, to_js_value(inputs), options)
            return await output_to_python(output)
        except SynthesisError:
            raise
        except (JsException, Exception) as exc:  # noqa: BLE001 - the binding throws plain JS errors
            name = str(getattr(exc, "name", "") or type(exc).__name__)
            raise classify_ai_error(f"{name}: {exc}") from exc
