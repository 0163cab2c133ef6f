"""Publishing many records at once: handed to the broker's idempotent producer (acks=all)
in order, then every ack awaited together (a partition keeps its order: the producer is
idempotent).

A partition's many records in one call (a consumer's poll, a batch request: `BATCH_FROM`
or more) are appended to a record batch of their own, in order (`create_batch` /
`send_batch`), instead of one `send` each: that cost more than the rest of a consumer's
work per record (a coroutine, a metadata check, the partitioner and an ack future each). A
partition's few records (an HTTP request's) are one `send` each, into the partition's open
batch, which concurrent requests share: a batch of their own would wait for the one before
it. Each record goes to the partition the producer's own partitioner gives its key, as
`send` would; the batches take the idempotent producer's sequence numbers when the sender
takes them, as `send`'s do; and a refused batch fails its ack with the broker's error, as
each record's did.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka.structs import TopicPartition
from faststream.kafka import KafkaBroker
from opentelemetry import propagate
from opentelemetry.context import Context
from prometheus_client import Counter

from bogfoer_contracts.topology import ServiceKafka
from bogfoer_kit.kafka import UndeclaredTopic, notice_publish_failure, producer_of
from bogfoer_kit.slots import setters

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
    headers: Mapping[str, str] = field(default_factory=dict)  # read only: may be shared
    cause: Record | None = None
    trace: Context | None = None

    @classmethod
    def of(
        cls, topic: str, value: bytes, key: bytes | None, headers: Mapping[str, str]
    ) -> Outgoing:
        """`Outgoing(topic, value, key, headers)`, its fields set through their slots: the
        frozen class's `__init__` sets each through `object.__setattr__` (~1.1 against
        ~0.4 µs; an outbox makes one a row, the mapper's poll thousands)."""
        made = _new(cls)
        _SET_OUT_TOPIC(made, topic)
        _SET_OUT_VALUE(made, value)
        _SET_OUT_KEY(made, key)
        _SET_OUT_HEADERS(made, headers)
        _SET_OUT_CAUSE(made, None)
        _SET_OUT_TRACE(made, None)
        return made


# Each of an outgoing record's slots, set directly (`Outgoing.of`).
_new = object.__new__
_SET_OUT_TOPIC, _SET_OUT_VALUE, _SET_OUT_KEY, _SET_OUT_HEADERS, _SET_OUT_CAUSE, _SET_OUT_TRACE = (
    setters(Outgoing, "topic", "value", "key", "headers", "cause", "trace")
)

# A partition's records of one call: each with its key, value and headers as handed over.
_Placed = list[tuple[Outgoing, bytes | None, bytes, list[tuple[str, bytes]]]]

# (topic, key) pairs whose partition is remembered between metadata updates (tenants' keys).
PLACED_KEYS = 10_000

# Records for one partition in one call from which they go as a record batch of their own,
# appended directly (a consumer's poll, a batch request): below it, one `send` each.
BATCH_FROM = 16


class Publisher:
    def __init__(self, broker: KafkaBroker, kafka: ServiceKafka) -> None:
        self.broker = broker
        self.kafka = kafka
        self.allowed = frozenset(kafka.writes_to)
        # Each topic's series, looked up once (`labels` per call cost more than the count).
        self._published = {t: PUBLISHED.labels(kafka.principal, t) for t in self.allowed}
        self._cluster: Any = None
        self._partitions: dict[tuple[str, bytes], int] = {}

    def hand_over(
        self, records: Sequence[Outgoing]
    ) -> tuple[list[asyncio.Future[Any]], list[Outgoing]]:
        """`send` as far as it goes without waiting: the futures of the records handed to
        the producer, and the records left (in order), which `send` hands over waiting
        (a topic the producer has no metadata for yet, a partition's open batch full, or
        many records: `BATCH_FROM` or more). A request's records are usually all handed over
        here, without a coroutine per record and without the deadline a wait needs."""
        self._check_topics(records)
        producer = producer_of(self.broker)
        cluster = producer.client.cluster
        if len(records) >= BATCH_FROM or any(  # many: all for `send`, placed once, there
            cluster.partitions_for_topic(topic) is None for topic in {r.topic for r in records}
        ):
            return [], list(records)
        acks: list[asyncio.Future[Any]] = []
        left: list[Outgoing] = []
        for (topic, partition), mine in self._placed(producer, records).items():
            taken = _into_open_batch(producer, topic, partition, mine, acks)
            left += (out for out, _, _, _ in mine[taken:])
        return acks, left

    async def send(self, records: Sequence[Outgoing]) -> list[asyncio.Future[Any]]:
        """Hand every record to the producer, in order; the futures of their acks (one per
        record sent alone, one per record batch: it resolves when Kafka holds all of the
        batch's records)."""
        self._check_topics(records)
        producer = producer_of(self.broker)
        for topic in {out.topic for out in records}:
            await producer.client._wait_on_metadata(topic)  # as `send` does, once a topic
        acks: list[asyncio.Future[Any]] = []
        for (topic, partition), mine in self._placed(producer, records).items():
            if len(mine) < BATCH_FROM:
                # A few records (a request's): into the partition's open batch, where
                # concurrent callers' records join them in one produce request. A batch of
                # their own would wait for the partition's batch before it (one waits at a
                # time) and go alone: requests to one tenant's partition one at a time.
                # Appended directly while the open batch takes them; what it does not take
                # waits in `send` for the batch to go, as it would have.
                taken = _into_open_batch(producer, topic, partition, mine, acks)
                for _, key, value, headers in mine[taken:]:
                    acks.append(
                        await producer.send(
                            topic, value, key=key, partition=partition, headers=headers
                        )
                    )
                continue
            batch = producer.create_batch()
            for _, key, value, headers in mine:
                if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    acks.append(await _handed(producer, batch, topic, partition))
                    batch = producer.create_batch()  # the first record always fits
                    batch.append(timestamp=None, key=key, value=value, headers=headers)
            acks.append(await _handed(producer, batch, topic, partition))
        return acks

    def _check_topics(self, records: Sequence[Outgoing]) -> None:
        for out in records:
            if out.topic not in self.allowed:
                raise UndeclaredTopic(
                    f"{self.kafka.principal} publishes to {out.topic!r}, which "
                    "bogfoer_contracts.topology does not list for it; add it there (its "
                    "production ACLs are rendered from that list)"
                )

    def _placed(self, producer: Any, records: Sequence[Outgoing]) -> dict[tuple[str, int], _Placed]:
        """Each partition's records in order, with their key, value and headers: checked
        and placed before any is handed over."""
        partitions: dict[tuple[str, int], _Placed] = {}
        injected: dict[int, list[tuple[str, bytes]]] = {}
        encoded: dict[int, tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], bool]] = {}
        placed = self._partitions_of(producer)
        for out in records:
            headers = _headers(out, injected, encoded)
            key, value = producer._serialize(out.key, out.value, headers)  # the size check
            if key is None or (partition := placed.get((out.topic, key))) is None:
                partition = producer._partition(out.topic, None, out.key, out.value, key, value)
                if key is not None:
                    placed[(out.topic, key)] = partition
            partitions.setdefault((out.topic, partition), []).append((out, key, value, headers))
        return partitions

    def _partitions_of(self, producer: Any) -> dict[tuple[str, bytes], int]:
        """The partition of each (topic, key) placed so far, while the producer's metadata
        stays as it is: the producer's partitioner maps a key to the same partition each
        time for as long as the topic's partitions do not change (only a record without a
        key goes to any partition), and its hash is pure Python. Forgotten on each
        metadata update, and with a renewed producer (its own metadata)."""
        cluster = producer.client.cluster
        if cluster is not self._cluster:
            cluster.add_listener(self._metadata_changed)  # called on every update
            self._cluster = cluster
            self._partitions = {}
        elif len(self._partitions) > PLACED_KEYS:  # keys a platform made up: kept bounded
            self._partitions = {}
        return self._partitions

    def _metadata_changed(self, cluster: Any) -> None:
        if cluster is self._cluster:
            self._partitions = {}

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
            self._published[topic].inc(n)


def _into_open_batch(
    producer: Any, topic: str, partition: int, mine: _Placed, acks: list[asyncio.Future[Any]]
) -> int:
    """How many of `mine` (in order) the partition's open batch took, appended as
    `producer.send` appends a record (`MessageAccumulator.add_message`, without its
    coroutine): into the last batch waiting for the partition, or a new one; each record's
    future to `acks`. The rest (the batch full, or closed: a batch of a poll's records) are
    for `producer.send`, which waits until the batch has gone."""
    accumulator = producer._message_accumulator
    if accumulator._closed or accumulator._exception is not None:
        return 0  # `send` raises what it raises
    tp = TopicPartition(topic, partition)
    waiting = accumulator._batches.get(tp)
    batch = waiting[-1] if waiting else accumulator._append_batch(accumulator.create_builder(), tp)
    for taken, (_, key, value, headers) in enumerate(mine):
        ack = batch.append(key, value, None, headers=headers)
        if ack is None:
            return taken
        acks.append(ack)
    return len(mine)


async def _handed(producer: Any, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
    """`batch` to the producer: closed, so it goes as soon as the sender can take it
    instead of lingering for records that will not come (a partition holds one batch in
    waiting at a time: this waits until the one before it has gone, as `send` would)."""
    batch.close()
    ack: asyncio.Future[Any] = await producer.send_batch(batch, topic, partition=partition)
    return ack


def _headers(
    out: Outgoing,
    injected: dict[int, list[tuple[str, bytes]]],
    encoded: dict[int, tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], bool]],
) -> list[tuple[str, bytes]]:
    """The record's headers with its trace; `injected`: the trace headers of each context
    already propagated in this call (a batch request's records share the request's);
    `encoded`: each headers dict encoded in this call, by its `id` (the records hold them;
    an outbox's rows without headers of their own share one): all of it, without the
    trace headers, and whether it has a `traceparent`. A list returned may be another
    record's of the call too: the producer only reads it."""
    found = encoded.get(id(out.headers))
    if found is None:
        every = [(k, v.encode()) for k, v in out.headers.items()]
        found = encoded[id(out.headers)] = (
            every,
            [header for header in every if header[0] not in _TRACE],
            "traceparent" in out.headers,
        )
    every, headers, traced = found
    if out.cause is None and traced:
        return every
    if out.cause is not None:
        trace = [(k, v) for k, v in out.cause.headers if k in _TRACE]
        if trace:
            return headers + trace
    context = id(out.trace)  # a Context is a dict: not hashable; the records hold it
    if context not in injected:
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=out.trace)
        injected[context] = [(k, v.encode()) for k, v in carrier.items()]
    trace_headers = injected[context]
    return headers + trace_headers if trace_headers else headers
