"""In-memory fakes of the ports, for unit tests of shared/.

They keep state and tests assert on that state (``queue.sent == [...]``);
nothing here mocks project code.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from local_runtime.bindings.r2_multipart import check_completion, check_part, multipart_etag, part_etag
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.dependencies import Dependencies
from shared.errors import LimitExceededError, NoSuchUploadError
from shared.jobs.outbox import JOBS, WEBHOOKS
from shared.jobs.rpc import JobsClient, ShardService
from shared.jobs.shard import JobShard
from shared.platform_limits import R2_MAX_KEYS_PER_DELETE, R2_MAX_KEYS_PER_LIST
from shared.ports import (
    BlobInfo,
    BlobStore,
    ByteRange,
    HostCheck,
    HttpClient,
    JsonValue,
    ListPage,
    MultipartUpload,
    StreamUploader,
    SynthesisRequest,
    SynthesisResult,
    UploadedPart,
)

T = TypeVar("T")


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemorySql:
    """SqlPort over an in-memory SQLite database."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._depth = 0

    def exec(self, query: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(query, params).fetchall()]

    def transaction(self, fn: Callable[[], T]) -> T:
        if self._depth:
            return fn()
        self._depth += 1
        self._db.execute("BEGIN")
        try:
            result = fn()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
            return result
        finally:
            self._depth -= 1


class MemoryShardStub:
    def __init__(self, service: ShardService, calls: list[tuple[str, str]], name: str) -> None:
        self._service = service
        self._calls = calls
        self._name = name

    async def call(self, method: str, payload: dict[str, JsonValue]) -> Any:
        self._calls.append((self._name, method))
        return await self._service.handle_async(method, payload)


class MemoryAlarm:
    """A shard's alarm that only remembers when it should ring; tests ring it (``ring_due``)."""

    def __init__(self) -> None:
        self.at: float | None = None

    async def set(self, at: float) -> None:
        self.at = at


class MemoryShards:
    """Every shard in memory; ``calls`` records (shard, method) of each RPC.

    The shards' outboxes send to ``queue`` (the jobs queue; a new ``MemoryQueue``
    unless given) and, when given, ``webhook_queue``; ``ring_due()`` rings every
    alarm that is due by the clock, as the runtime would."""

    def __init__(
        self,
        clock: Callable[[], float],
        shard_count: int = 2,
        *,
        queue: MemoryQueue | None = None,
        webhook_queue: MemoryQueue | None = None,
        max_waiters: int = 1000,
    ) -> None:
        self.clock = clock
        self.max_waiters = max_waiters
        self.services: dict[str, ShardService] = {}
        self.shards: dict[str, JobShard] = {}
        self.alarms: dict[str, MemoryAlarm] = {}
        self.calls: list[tuple[str, str]] = []
        self.queue = queue if queue is not None else MemoryQueue()
        self.producers: dict[str, Any] = {JOBS: self.queue}
        if webhook_queue is not None:
            self.producers[WEBHOOKS] = webhook_queue
        self.shard_count = shard_count
        self.client = JobsClient(self.stub, shard_count)

    def stub(self, name: str) -> MemoryShardStub:
        if name not in self.services:
            self.shards[name] = JobShard(MemorySql(), self.clock, shard_count=self.shard_count)
            self.alarms[name] = MemoryAlarm()
            self.services[name] = ShardService(
                self.shards[name], self.max_waiters, producers=self.producers, alarm=self.alarms[name]
            )
        return MemoryShardStub(self.services[name], self.calls, name)

    async def ring_due(self) -> int:
        """Ring the alarms due by now; returns how many messages they sent."""
        sent = 0
        for name, alarm in self.alarms.items():
            if alarm.at is not None and alarm.at <= self.clock():
                alarm.at = None
                sent += await self.services[name].alarm()
        return sent


@dataclass
class StoredObject:
    data: bytes
    info: BlobInfo


@dataclass
class MemoryBody:
    info: BlobInfo
    range: ByteRange | None
    data: bytes

    @property
    def raw(self) -> bytes:
        return self.data

    async def read(self) -> bytes:
        return self.data

    async def pieces(self, size: int) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), size):
            yield self.data[start : start + size]


@dataclass
class MemoryUpload:
    key: str
    content_type: str
    custom_metadata: dict[str, str]
    parts: dict[int, tuple[bytes, str]] = field(default_factory=dict)  # number -> (data, etag)
    state: str = "in_progress"  # "completed", "aborted"


class MemoryBucket:
    """An R2 bucket in memory, with R2's multipart rules (``local_runtime/bindings/r2_multipart``).

    ``fail_part_numbers`` makes the upload of those part numbers fail once (a
    crash between parts); ``before_part(number)`` runs first in each
    ``upload_part``; ``calls`` counts the multipart calls by name.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.objects: dict[str, StoredObject] = {}
        self.fail_puts = 0
        self.fail_part_numbers: set[int] = set()
        self.before_part: Callable[[int], Any] | None = None
        self.uploads: dict[str, MemoryUpload] = {}
        self.calls: dict[str, int] = {}
        self._next_upload = 0

    async def put(
        self, key: str, data: bytes | bytearray, *, content_type: str, custom_metadata: Mapping[str, str]
    ) -> BlobInfo:
        if self.fail_puts:
            self.fail_puts -= 1
            raise OSError("injected put failure")
        info = BlobInfo(key, len(data), hashlib.md5(data).hexdigest(), self.clock(), content_type, dict(custom_metadata))
        self.objects[key] = StoredObject(bytes(data), info)
        return info

    async def get(self, key: str, byte_range: ByteRange | None = None) -> MemoryBody | None:
        obj = self.objects.get(key)
        if obj is None:
            return None
        data = obj.data if byte_range is None else obj.data[byte_range.offset : byte_range.offset + byte_range.length]
        return MemoryBody(obj.info, byte_range, data)

    async def head(self, key: str) -> BlobInfo | None:
        obj = self.objects.get(key)
        return obj.info if obj else None

    async def delete(self, keys: Sequence[str]) -> None:
        if len(keys) > R2_MAX_KEYS_PER_DELETE:
            raise LimitExceededError(f"R2 delete of {len(keys)} keys, over the limit of {R2_MAX_KEYS_PER_DELETE} a call")
        for key in keys:
            self.objects.pop(key, None)

    async def list(
        self,
        *,
        prefix: str = "",
        cursor: str | None = None,
        limit: int = R2_MAX_KEYS_PER_LIST,
        start_after: str | None = None,
    ) -> ListPage:
        if not 1 <= limit <= R2_MAX_KEYS_PER_LIST:
            raise LimitExceededError(f"R2 list limit {limit} must be 1..{R2_MAX_KEYS_PER_LIST}")
        # As R2: a cursor resumes after the last key returned; start_after
        # holds too when both are given.
        after = max(cursor or "", start_after or "")
        keys = sorted(k for k in self.objects if k.startswith(prefix) and k > after)
        page = keys[:limit]
        truncated = len(keys) > limit
        return ListPage([self.objects[k].info for k in page], truncated, page[-1] if truncated and page else None)


    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _upload(self, key: str, upload_id: str) -> MemoryUpload:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.key != key or upload.state != "in_progress":
            raise NoSuchUploadError(f"multipart upload {upload_id!r} of {key!r} is not in progress")
        return upload

    async def create_multipart_upload(
        self, key: str, *, content_type: str, custom_metadata: Mapping[str, str]
    ) -> MultipartUpload:
        self._count("create")
        self._next_upload += 1
        upload_id = f"upload-{self._next_upload}"
        self.uploads[upload_id] = MemoryUpload(key, content_type, dict(custom_metadata))
        return MultipartUpload(key, upload_id)

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes | bytearray) -> UploadedPart:
        self._count("upload_part")
        check_part(part_number, len(data))
        if self.before_part is not None:
            await self.before_part(part_number)
        upload = self._upload(key, upload_id)
        if part_number in self.fail_part_numbers:
            self.fail_part_numbers.discard(part_number)
            raise OSError(f"injected failure of part {part_number}")
        etag = part_etag(data)
        upload.parts[part_number] = (bytes(data), etag)
        return UploadedPart(part_number, etag)

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> BlobInfo:
        self._count("complete")
        upload = self._upload(key, upload_id)
        check_completion(parts, {n: (len(d), e) for n, (d, e) in upload.parts.items()})
        data = b"".join(upload.parts[p.part_number][0] for p in parts)
        info = BlobInfo(key, len(data), multipart_etag([p.etag for p in parts]), self.clock(), upload.content_type,
                        dict(upload.custom_metadata))
        self.objects[key] = StoredObject(data, info)
        upload.state, upload.parts = "completed", {}
        return info

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self._count("abort")
        upload = self.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise NoSuchUploadError(f"multipart upload {upload_id!r} of {key!r} does not exist")
        if upload.state == "in_progress":
            upload.state, upload.parts = "aborted", {}

    def in_progress(self) -> list[str]:
        """Upload ids neither completed nor aborted."""
        return [i for i, u in self.uploads.items() if u.state == "in_progress"]


@dataclass
class MemoryQueue:
    sent: list[tuple[JsonValue, int]] = field(default_factory=list)
    fail_sends: int = 0

    async def send(self, body: JsonValue, *, delay_seconds: int = 0) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise ConnectionError("injected send failure")
        self.sent.append((body, delay_seconds))

    async def send_batch(self, bodies: Sequence[JsonValue], *, delay_seconds: int = 0) -> None:
        for body in bodies:
            await self.send(body, delay_seconds=delay_seconds)


@dataclass
class ScriptedSynthesizer:
    """Raises the scripted errors in order, then returns audio."""

    name: str = "scripted"
    errors: list[Exception] = field(default_factory=list)
    calls: list[SynthesisRequest] = field(default_factory=list)

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        self.calls.append(request)
        if self.errors:
            raise self.errors.pop(0)
        return SynthesisResult(audio=request.text.encode() * 10, mime_type="audio/wav", extension="wav")


class FakeCatalogue:
    """The two lookups of a model catalogue the consumer makes: every model speaks through ``synthesizer``
    and has ``spec`` (None: no spec, so a job's text is one request; a function: the model's spec)."""

    def __init__(self, synthesizer: Any, spec: Any = None) -> None:
        self.synthesizer = synthesizer
        self.spec = spec

    def synthesizer_for(self, model: str) -> Any:
        return self.synthesizer

    def get(self, model: str) -> Any:
        return self.spec(model) if callable(self.spec) else self.spec


def bootstrap_test_app(
    settings: Settings | None = None,
    *,
    clock: FakeClock | None = None,
    shards: MemoryShards | None = None,
    bucket: BlobStore | None = None,
    queue: MemoryQueue | None = None,
    chunk_queue: MemoryQueue | None = None,
    catalogue: Callable[[], Any] | None = None,
    synthesizer: Any = None,
    spec: Any = None,
    webhook_queue: MemoryQueue | None = None,
    http: HttpClient | None = None,
    uploader: StreamUploader | None = None,
    host_allowed: HostCheck | None = None,
    rate_limiter: Callable[[int, int], Any] | None = None,
    new_job_id: Callable[[], str] | None = None,
    log_stream: Any = None,
    health: Callable[[], list[dict[str, Any]]] | None = None,
    meter: Callable[[str, int], None] | None = None,
) -> Dependencies:
    """The pipeline's dependencies as a runtime bootstraps them (shared/bootstrap.py), on these fakes:
    what is not given is made fresh (a ``FakeClock``, memory shards, bucket and jobs queue);
    ``synthesizer`` and ``spec`` stand for a catalogue (``FakeCatalogue``). The one way tests get
    ``Dependencies`` (tests/config/test_dependencies_by_name.py): ``api_app(deps)`` is the api,
    ``deps.acting_as(...)`` logs as a given Worker."""
    settings = settings or Settings()
    clock = clock or FakeClock()
    queue = queue if queue is not None else (shards.queue if shards is not None else MemoryQueue())
    if catalogue is None and synthesizer is not None:
        catalogue = lambda: FakeCatalogue(synthesizer, spec)  # noqa: E731
    shards = shards or MemoryShards(clock, settings.shard_count, queue=queue, webhook_queue=webhook_queue)
    return bootstrap(
        settings=settings,
        jobs=shards.client,
        bucket=bucket if bucket is not None else MemoryBucket(clock),
        queue=queue,
        clock=clock,
        chunk_queue=chunk_queue,
        catalogue=catalogue,
        webhook_queue=webhook_queue,
        http=http,
        uploader=uploader,
        host_allowed=host_allowed,
        rate_limiter=rate_limiter,
        log_stream=log_stream,
        health=health,
        meter=meter,
        **({"new_job_id": new_job_id} if new_job_id is not None else {}),
    )
