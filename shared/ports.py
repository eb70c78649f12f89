"""The ports: what the core needs from a runtime, as protocols.

Two runtimes implement these: the Cloudflare adapters (``cloudflare_adapters``,
thin wrappers of JS bindings) and the local runtime (``local_runtime``, SQLite
and files). The core in ``shared`` only ever sees these shapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from shared.words import CaptionWord, WordTiming
from shared.platform_limits import R2_MAX_KEYS_PER_LIST, WORKER_MEMORY_BYTES

JsonValue = Any  # dict / list / str / int / float / bool / None, nothing else
Row = dict[str, Any]
T = TypeVar("T")


# --- Durable Object SQL (ctx.storage.sql) ------------------------------------


class SqlPort(Protocol):
    """Synchronous SQL over one Durable Object's SQLite database.

    Mirrors ``ctx.storage.sql.exec(query, *bindings)`` (rows as dicts) and
    ``ctx.storage.transactionSync(fn)``. At most 100 bound parameters and
    100 KB of statement text, as on Cloudflare.
    """

    def exec(self, query: str, *params: Any) -> list[Row]: ...

    def transaction(self, fn: Callable[[], T]) -> T: ...


# --- R2 ----------------------------------------------------------------------


@dataclass(frozen=True)
class ByteRange:
    """An HTTP byte range already resolved against the object size."""

    offset: int
    length: int


@dataclass
class BlobInfo:
    """An R2 object's metadata, as a listing or a head returns it."""

    key: str
    size: int
    etag: str
    uploaded: float  # unix seconds
    content_type: str | None = None
    custom_metadata: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class BlobBody(Protocol):
    """The body of an R2 object read with ``get``.

    ``raw`` is the runtime's own stream handle (a JS ``ReadableStream`` on
    Cloudflare, a file path on the local runtime) so an HTTP adapter can send
    it without copying it through Python. ``read()`` copies it into bytes, for
    the paths that must (the legacy base64 result); ``pieces(size)`` yields it
    in pieces of at most ``size`` bytes as it is read, for Python code that
    passes it on without holding it whole (the audio stream). A body is read
    once, by one of the three.
    """

    info: BlobInfo
    range: ByteRange | None

    @property
    def raw(self) -> Any: ...

    async def read(self) -> bytes: ...

    def pieces(self, size: int) -> AsyncIterator[bytes]: ...


@dataclass
class ListPage:
    objects: list[BlobInfo]
    truncated: bool
    cursor: str | None


@dataclass(frozen=True)
class MultipartUpload:
    """A multipart upload in progress: ``createMultipartUpload``'s answer."""

    key: str
    upload_id: str


@dataclass(frozen=True)
class UploadedPart:
    """One uploaded part: what ``complete`` needs back, in part order."""

    part_number: int  # 1..R2_MULTIPART_MAX_PARTS
    etag: str


class BlobStore(Protocol):
    """An R2 bucket.

    Multipart uploads are addressed by ``(key, upload_id)`` on every call, never
    by a handle kept between calls: on Cloudflare an upload object belongs to the
    request that made it, so each call resumes it (``resumeMultipartUpload``) for
    itself, and a retry in another invocation carries on from the stored id.
    """

    async def put(
        self,
        key: str,
        data: bytes | bytearray,
        *,
        content_type: str,
        custom_metadata: Mapping[str, str],
    ) -> BlobInfo: ...

    async def get(self, key: str, byte_range: ByteRange | None = None) -> BlobBody | None: ...

    async def head(self, key: str) -> BlobInfo | None: ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete up to ``R2_MAX_KEYS_PER_DELETE`` keys; missing keys are not an error."""
        ...

    async def list(
        self,
        *,
        prefix: str = "",
        cursor: str | None = None,
        limit: int = R2_MAX_KEYS_PER_LIST,
        start_after: str | None = None,
    ) -> ListPage:
        """List up to ``limit`` (at most ``R2_MAX_KEYS_PER_LIST``) objects with custom metadata."""
        ...

    async def create_multipart_upload(
        self, key: str, *, content_type: str, custom_metadata: Mapping[str, str]
    ) -> MultipartUpload:
        """Start a multipart upload of ``key``; metadata is the final object's."""
        ...

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes | bytearray) -> UploadedPart:
        """Upload (or replace) part ``part_number``; ``NoSuchUploadError`` if the upload is not in progress."""
        ...

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> BlobInfo:
        """Join ``parts`` (ascending part numbers, their ETags) into the object ``key``.

        ``NoSuchUploadError`` if the upload is not in progress, ``InvalidPartError``
        for a part not uploaded or with another ETag, ``LimitExceededError`` when
        the sizes break R2's rules (``R2_MULTIPART_*`` in ``shared.platform_limits``: every part
        but the last at least the minimum, all of them the same size, the last no larger).
        Parts not named are dropped.
        """
        ...

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Abort the upload and drop its parts; one already completed or aborted is not an error, an unknown id
        raises ``NoSuchUploadError``."""
        ...


# --- Queues ------------------------------------------------------------------


class QueueProducer(Protocol):
    """A queue producer binding (``env.TTS_JOBS``)."""

    async def send(self, body: JsonValue, *, delay_seconds: int = 0) -> None: ...

    async def send_batch(self, bodies: Sequence[JsonValue], *, delay_seconds: int = 0) -> None: ...


@dataclass
class IncomingMessage:
    """One delivered queue message, runtime-neutral."""

    id: str
    body: JsonValue
    attempts: int  # 1 on first delivery
    timestamp: float = 0.0

    def ack(self) -> None:
        """Settle the message now, as Cloudflare's ``message.ack()``: it stays acked even if the
        invocation is cut off later. A runtime without early settlement does nothing here (the
        batch's outcome settles it when the handler returns)."""

    def retry(self, delay_seconds: int | None = None) -> None:
        """Hand the message back now for a later delivery (counts an attempt), as ``message.retry()``."""


# --- Durable Object stubs (RPC) ----------------------------------------------


class ShardRpc(Protocol):
    """The RPC surface of one ``TtsJobDurableObject`` instance.

    Arguments and results are plain JSON-like values (what crosses
    Cloudflare's RPC boundary); each method takes one dict and returns one.
    """

    async def call(self, method: str, payload: dict[str, JsonValue]) -> JsonValue: ...


ShardResolver = Callable[[str], ShardRpc]
"""Maps a shard name (``shard-3``) to its stub."""


# --- Synthesis ---------------------------------------------------------------


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    model: str
    voice: str | None
    format: str  # "wav", "mp3", ...
    sample_rate: int | None = None
    speed: float | None = None  # 1.0 is normal; only for models that take it
    instructions: str | None = None  # delivery direction; only for models that take it
    timestamps: bool = False  # also report word timings (SynthesisResult.words), where the model can
    # Spans of ``text`` to be said by phonemes instead, as (start, end, phonemes in the model's
    # notation, ModelSpec.phonemes); only for models that take them (shared/text/render.py).
    phonemes: tuple[tuple[int, int, str], ...] = ()
    # This call's timeout (the consumer's pacing: its estimate, never past the invocation's
    # deadline); None: the provider's configured cap.
    timeout_seconds: float | None = None



@dataclass(frozen=True)
class SynthesisResult:
    audio: bytes
    mime_type: str
    extension: str  # without the dot
    sample_rate: int | None = None
    characters: int = 0
    # Word timings the engine reported for this audio (offsets into the request's text),
    # when the request asked for them and the engine has them; None otherwise.
    words: tuple[WordTiming, ...] | None = None
    words_estimated: bool = False  # True when (some of) ``words`` were estimated, not reported
    # Set when the audio is already in R2 (a long job assembled from its chunks,
    # shared.synthesis.assembly): the stored object; ``audio`` is then empty.
    stored: BlobInfo | None = None
    duration_seconds: float | None = None  # of a stored result's audio, when known (its bytes are not at hand)
    # The job's caption words when they are not the words of its text (SSML, lexicons): ``words`` then
    # carry offsets into the submitted text, one per entry here (shared/text/render.py).
    captions: tuple[CaptionWord, ...] | None = None
    # A multi-input job's chapters in the joined audio (shared/synthesis/inputs.py): ChapterEntry models.
    chapters: tuple[Any, ...] | None = None
    # The synthesis cache's part (shared/synthesis/cache.py): chunks of the audio reused from it, and the
    # provider characters they saved.
    chunks_reused: int = 0
    characters_saved: int = 0


class Synthesizer(Protocol):
    """A text-to-speech provider.

    Raises ``shared.errors.TransientSynthesisError`` (retry later, optionally
    after ``retry_after`` seconds) or ``PermanentSynthesisError`` (the job
    fails).
    """

    name: str

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult: ...


class Offload(Protocol):
    """Runs blocking CPU work (a native synthesizer, an encoder) where it does not hold up the event loop.

    ``await offload(fn, *args)`` is ``fn(*args)``: the local runtime runs it in
    its thread pool (``SYNTHESIS_THREADS``; native code releases the GIL, so it
    uses another core); a Worker has no threads and runs it in place
    (``run_inline``). An awaiting caller that is cancelled stops waiting, but
    work already started runs to its end.
    """

    def __call__(self, fn: Callable[..., T], /, *args: Any) -> Awaitable[T]: ...


async def run_inline(fn: Callable[..., T], /, *args: Any) -> T:
    """The ``Offload`` of a runtime without threads: ``fn(*args)``, here and now."""
    return fn(*args)


# --- Outbound HTTP (providers) -----------------------------------------------


@dataclass(frozen=True)
class HttpClientResponse:
    """A complete HTTP response: the body is read in full; header names are lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


HTTP_MAX_RESPONSE_BYTES = WORKER_MEMORY_BYTES // 2
"""The largest body an ``HttpClient`` reads whole (a larger one is an ``HttpConnectionError``):
half a Worker's memory, the other half for the copies the caller makes."""


class HttpClient(Protocol):
    """Outbound HTTP for synthesis providers (``fetch`` on Cloudflare, asyncio locally).

    ``timeout`` bounds the whole exchange, body included. Raises
    ``shared.errors.HttpTimeoutError`` when it runs out and
    ``HttpConnectionError`` when no response arrives (DNS, refused, reset,
    TLS, a body too large to hold); any status code is a response, not an error.
    """

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> HttpClientResponse: ...


HostCheck = Callable[[str], Awaitable[bool]]
"""Resolves a host and says whether the service may connect to it (local runtime only: Workers have no DNS)."""


class StreamUploader(Protocol):
    """An HTTP PUT whose body is an R2 object's, streamed with its length known (deliveries to customers' buckets).

    ``timeout`` bounds the whole exchange, the upload included. Returns the
    response's status code (redirects are not followed); raises
    ``shared.errors.HttpTimeoutError`` or ``HttpConnectionError`` when no
    response comes. The body is read once, as it is sent.
    """

    async def put(
        self, url: str, *, headers: Mapping[str, str], body: BlobBody, length: int, timeout: float
    ) -> int: ...

class AiPort(Protocol):
    """Workers AI: ``env.AI.run`` on Cloudflare, the REST API elsewhere.

    Returns the model's audio as bytes (aura's binary stream) or its JSON
    output as a dict (melotts' ``{"audio": base64}``). Raises
    ``TransientSynthesisError`` / ``PermanentSynthesisError``.
    """

    async def run(self, model: str, inputs: dict[str, JsonValue], *, timeout: float) -> bytes | dict[str, Any]: ...


# --- Time --------------------------------------------------------------------

Clock = Callable[[], float]
"""Returns unix seconds; injected so tests control time."""
