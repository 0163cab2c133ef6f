"""Publishing many records at once: handed to the broker's idempotent producer (acks=all)
in order, then every ack awaited together (a partition keeps its order: the producer is
idempotent).

The consumer loops, the outbox and ingest's requests publish this way instead of through
FastStream's `publish`, whose middlewares (a span and metrics per record) cost several
times the produce itself. What they did is done here, per batch: a topic the service's
topology does not give it is refused (`UndeclaredTopic`), each record carries the W3C
trace of what caused it (`traceparent`), and the records are counted by topic
(`bogfoer_published_records_total`).
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaBroker
from opentelemetry import propagate
from opentelemetry.context import Context
from prometheus_client import Counter

from bogfoer_contracts.topology import ServiceKafka
from bogfoer_kit.kafka import UndeclaredTopic, notice_publish_failure, producer_of

if TYPE_CHECKING:
    from bogfoer_kit.consumer import Record

PUBLISHED = Counter(
    "bogfoer_published_records_total",
    "Records published in batches (consumer loops, outboxes, ingest's requests), by service"
    " and topic; single publishes are FastStream's faststream_published_messages_total",
    ["service", "topic"],
)
_TRACE = ("traceparent", "tracestate")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record to publish. Its trace: that of `cause` (the consumed record it follows
    from), else the `traceparent` in `headers` (an outbox row keeps the one it was written
    in), else `trace`, else the current context."""

    topic: str
    value: bytes
    key: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    cause: Record | None = None
    trace: Context | None = None


class Publisher:
    def __init__(self, broker: KafkaBroker, kafka: ServiceKafka) -> None:
        self.broker = broker
        self.kafka = kafka
        self.allowed = frozenset(kafka.writes_to)

    async def send(self, records: Sequence[Outgoing]) -> list[asyncio.Future[Any]]:
        """Hand every record to the producer, in order; the futures of their acks."""
        for out in records:
            if out.topic not in self.allowed:
                raise UndeclaredTopic(
                    f"{self.kafka.principal} publishes to {out.topic!r}, which "
                    "bogfoer_contracts.topology does not list for it; add it there (its "
                    "production ACLs are rendered from that list)"
                )
        producer = producer_of(self.broker)
        acks: list[asyncio.Future[Any]] = []
        for out in records:
            acks.append(
                await producer.send(out.topic, out.value, key=out.key, headers=_headers(out))
            )
        return acks

    async def publish(self, records: Sequence[Outgoing]) -> None:
        """Publish every record and wait until Kafka holds all of them."""
        if not records:
            return
        acks = await self.send(records)
        try:
            await asyncio.gather(*acks)
        except Exception as exc:
            self.failed(exc)
            raise
        self.count(records)

    def failed(self, exc: BaseException) -> None:
        """A record was refused: a producer out of sequence with the broker is replaced
        (`bogfoer_kit.kafka.ProducerRenewal`; these publishes pass its middleware by)."""
        notice_publish_failure(self.broker, exc)

    def count(self, records: Sequence[Outgoing]) -> None:
        """Count records Kafka acknowledged."""
        for topic, n in Tally(out.topic for out in records).items():
            PUBLISHED.labels(self.kafka.principal, topic).inc(n)


def _headers(out: Outgoing) -> list[tuple[str, bytes]]:
    if out.cause is None and "traceparent" in out.headers:
        return [(k, v.encode()) for k, v in out.headers.items()]
    headers = [(k, v.encode()) for k, v in out.headers.items() if k not in _TRACE]
    if out.cause is not None:
        trace = [(k, v) for k, v in out.cause.headers if k in _TRACE]
        if trace:
            return headers + trace
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=out.trace)
    return headers + [(k, v.encode()) for k, v in carrier.items()]
