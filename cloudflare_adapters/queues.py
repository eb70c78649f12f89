"""Queue producer and consumer-batch adapters over JS Queue objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudflare_adapters.convert import from_js_value, raw_binding, to_js_value
from shared.outcomes import Ack, BatchOutcome, Retry
from shared.ports import IncomingMessage, JsonValue


class QueueProducerAdapter:
    """``shared.ports.QueueProducer`` over a ``Queue`` producer binding."""

    def __init__(self, binding: Any) -> None:
        self._queue = raw_binding(binding)

    async def send(self, body: JsonValue, *, delay_seconds: int = 0) -> None:
        options = to_js_value({"delaySeconds": delay_seconds} if delay_seconds else {})
        await self._queue.send(to_js_value(body), options)

    async def send_batch(self, bodies: Sequence[JsonValue], *, delay_seconds: int = 0) -> None:
        messages = [{"body": b, **({"delaySeconds": delay_seconds} if delay_seconds else {})} for b in bodies]
        await self._queue.sendBatch(to_js_value(messages))


@dataclass
class JsMessage(IncomingMessage):
    """A delivered message that settles its JS ``Message`` at once (``ack()`` / ``retry()``), once."""

    js: Any = field(default=None, repr=False, compare=False)
    settled: bool = False

    def ack(self) -> None:
        if not self.settled:
            self.settled = True
            self.js.ack()

    def retry(self, delay_seconds: int | None = None) -> None:
        if not self.settled:
            self.settled = True
            self.js.retry(to_js_value({"delaySeconds": delay_seconds}) if delay_seconds else None)


def batch_messages(batch: Any) -> tuple[str, list[tuple[Any, IncomingMessage]]]:
    """A JS ``MessageBatch`` -> its queue name and (JS message, our message) pairs."""
    raw = raw_binding(batch)
    out: list[tuple[Any, IncomingMessage]] = []
    for message in raw.messages:
        timestamp = message.timestamp
        out.append(
            (
                message,
                JsMessage(
                    id=str(message.id),
                    body=from_js_value(message.body),
                    attempts=int(message.attempts),
                    timestamp=float(timestamp.getTime()) / 1000.0 if timestamp is not None else 0.0,
                    js=message,
                ),
            )
        )
    return str(raw.queue), out


def settle(pairs: list[tuple[Any, IncomingMessage]], outcome: BatchOutcome) -> None:
    """Ack or retry each JS message by itself, as the outcome says (those settled early stay as they are)."""
    for js_message, message in pairs:
        if isinstance(message, JsMessage) and message.settled:
            continue
        decision = outcome.outcomes.get(message.id)
        if isinstance(decision, Retry):
            js_message.retry(to_js_value({"delaySeconds": decision.delay_seconds}))
        elif isinstance(decision, Ack):
            js_message.ack()
        else:  # not decided: let Cloudflare redeliver it
            js_message.retry()
