"""Batched, at-least-once consumption with dead letters: how every Bogfør consumer reads Kafka.

One loop per `Subscription` of the service (`bogfoer_contracts.topology`: its consumer group
and topics). Per poll (`getmany`: everything the fetcher holds, up to `POLL_RECORDS`):

1. the records are grouped by tenant (the record key: a tenant's records share a partition,
   in order) and each tenant's records go to the handler together, as one `TenantBatch`
   (one database transaction per tenant batch is the handler's business); tenant batches
   run concurrently, a tenant's own records strictly in order;
2. everything the poll produced — the records the handlers answered, the dead letters, and
   the subscription's `flush` (an outbox) — is published and the acks awaited together;
3. then the offsets are committed.

A handler's answer must be derivable again from its records: a record may be redelivered
after its transaction committed (a crash before the offsets are committed), and a handler
that dropped it as seen must not owe anything for it. Outputs that depend on stored state
therefore go through an outbox (`bogfoer_kit.outbox`), published by `flush`.

When a tenant batch fails (its transaction rolled back, nothing of it published):
- `PoisonMessage`: the record can never be processed as it is. A single record goes to
  `<topic>.dlq.v1` with the reason in headers; a batch is retried at once one record at a
  time, so the poison is found and the others proceed.
- a transient fault (`deadletter.is_transient`: a dependency is down, or a database
  connection was lost under the handler): the tenant's records are redelivered from the
  failed one after a backoff, in order, for as long as it takes.
- anything else (a bug meeting a record): retried one record at a time after a backoff; a
  record that has failed so `MAX_UNEXPECTED_ATTEMPTS` times is dead-lettered as
  `processing_error`, so it cannot stall its partition. Failures an outage caused do not
  count towards them (a database that restarts twice must not dead-letter a good sale).
A partition's offset is committed only up to its first record not done; the records after
it that were done are remembered (until committed or the partition is revoked) and skipped
when they come again, so retrying one tenant never handles another's records twice.

The loop is pure policy (`Progress`: which records went how, what to publish, where each
partition stands) around a thin Kafka shell (`SubscriptionLoop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import operator
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context
from opentelemetry import propagate
from prometheus_client import Counter, Histogram

from bogfoer_contracts.topics import dlq_topic
from bogfoer_contracts.topology import ServiceKafka, Subscription
from bogfoer_kit.deadletter import (
    MAX_BACKOFF_SECONDS,
    MAX_UNEXPECTED_ATTEMPTS,
    PoisonMessage,
    dlq_headers,
    is_transient,
)
from bogfoer_kit.kafka import UndeclaredSubscription, client_options
from bogfoer_kit.publish import Outgoing, Publisher
from bogfoer_kit.settings import ServiceSettings
from bogfoer_kit.slots import setters

log = logging.getLogger(__name__)

RECORDS = Counter(
    "bogfoer_consumer_records_total",
    "Records consumed, by service, subscription and outcome (processed, dead_lettered,"
    " redelivered: handed back to Kafka after a failure, to come again)",
    ["service", "subscription", "outcome"],
)
FAILURES = Counter(
    "bogfoer_consumer_failures_total",
    "Tenant batches that failed, by service, subscription and exception type",
    ["service", "subscription", "exception_type"],
)
BATCH_SECONDS = Histogram(
    "bogfoer_consumer_batch_seconds",
    "Time from a poll's records to their committed offsets (handlers, publishing, commit)",
    ["service", "subscription"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BATCH_RECORDS = Histogram(
    "bogfoer_consumer_batch_records",
    "Records per poll",
    ["service", "subscription"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000),
)

Position = tuple[str, int, int]  # topic, partition, offset
# A poll takes everything the consumer has fetched (up to this many records), so that the next
# fetch is in flight while the poll is handled. aiokafka sends no fetch to a broker while any
# partition it leads still has records buffered, and one fetch brings up to 1 MiB a partition
# (thousands of records): taken 500 at a time, the polls after the first found nothing
# buffered and waited a whole fetch round trip each — ingest's Kafka path half idle at 7,500
# records/s on a quiet machine; 12,600-20,000 taking everything (the bench `kafka_paths`).
POLL_RECORDS = 10_000
# How long aiokafka's fetcher lets a partition's buffered records hold back a node's next
# fetch (its `prefetch_backoff`: 0.1 s, which the consumer does not expose). Past it, the
# fetcher sends a fetch of that node's partitions with nothing buffered; when those have no
# new records (caught up, or no tenant's key reaches them) the broker holds that fetch for
# the whole fetch wait (500 ms), and the node takes no other fetch meanwhile: the partitions
# whose records the poll took waited for it. Every poll whose handling outlasted 0.1 s met it
# (the bench streams: records in one or two of six partitions; the ledger idle 150-420 ms for
# a fetch once or twice a repetition, the mapper up to 1 s). The loop takes everything
# buffered at each poll, so holding the fetch until then fetches every partition together.
PREFETCH_HOLD_SECONDS = 3600.0
# How long `Consumers.start` waits for its first ping of the broker (its answer is not
# asked: the readiness probe reports the broker).
START_PING_SECONDS = 5.0

T = TypeVar("T")


# The last record timestamp turned into a datetime, and that datetime: read and replaced as
# one tuple (a thread never pairs one with another's). At first the epoch, which is what
# converting its timestamp gives: the memo never answers otherwise than the conversion
# (a record without a timestamp fails as it did, not stamped with a stand-in).
_received: tuple[int, dt.datetime] = (0, dt.datetime.fromtimestamp(0, dt.UTC))


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record, as handlers see it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int = 0

    @classmethod
    def of(cls, record: Any) -> Record:
        """From an aiokafka `ConsumerRecord`: its fields set through their slots, as the
        frozen class's `__init__` sets them through `object.__setattr__` one by one, which
        cost more than twice as much (a poll makes thousands)."""
        made = _new_record(cls)
        _SET_TOPIC(made, record.topic)
        _SET_PARTITION(made, record.partition)
        _SET_OFFSET(made, record.offset)
        _SET_KEY(made, record.key)
        value = record.value
        _SET_VALUE(made, value if value is not None else b"")
        _SET_HEADERS(made, tuple(record.headers or ()))
        _SET_TIMESTAMP_MS(made, record.timestamp)
        return made

    @property
    def position(self) -> Position:
        return (self.topic, self.partition, self.offset)

    @property
    def tenant(self) -> str:
        """The record key: every Bogfør topic is keyed by tenant id."""
        return self.key.decode(errors="replace") if self.key else ""

    @property
    def received_at(self) -> dt.datetime:
        """The record's timestamp; the same datetime for each record of the same
        millisecond (`_received`), as a producer's batch has: `stamp` checks it once."""
        global _received
        ms, at = _received
        if ms != self.timestamp_ms:
            at = dt.datetime.fromtimestamp(self.timestamp_ms / 1000, dt.UTC)
            _received = (self.timestamp_ms, at)
        return at

    def header_map(self) -> dict[str, str]:
        return {name: value.decode(errors="replace") for name, value in self.headers}

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None

    def trace_context(self) -> otel_context.Context:
        """The context the record was produced in (its W3C `traceparent`). A record without
        headers has none: one shared empty context (a `Context` cannot be changed), not a
        new one extracted from nothing (~1 µs a record, and an object the collector walks)."""
        return propagate.extract(self.header_map()) if self.headers else _NO_TRACE


_NO_TRACE = otel_context.Context()

# A record's `position`, by one C call (the property's call and tuple cost twice as much).
_POSITION: Callable[[Record], Position] = operator.attrgetter("topic", "partition", "offset")

# Each of a record's slots, set directly (`Record.of`).
_new_record = object.__new__
(
    _SET_TOPIC,
    _SET_PARTITION,
    _SET_OFFSET,
    _SET_KEY,
    _SET_VALUE,
    _SET_HEADERS,
    _SET_TIMESTAMP_MS,
) = setters(Record, "topic", "partition", "offset", "key", "value", "headers", "timestamp_ms")


def dead_letter_of(record: Record, reason: str, detail: str) -> Outgoing:
    """The record as it goes to its topic's dead-letter topic, with the reason in headers
    (the ledger lists and re-drives dead letters by them)."""
    headers = record.header_map() | dlq_headers(
        reason,
        detail,
        record.topic,
        **{"x-original-partition": str(record.partition), "x-original-offset": str(record.offset)},
    )
    return Outgoing(dlq_topic(record.topic), record.value, record.key, headers, record)


@dataclass
class TenantBatch:
    """One tenant's records of one poll, in order, and what the handler makes of them."""

    tenant: str
    records: list[Record]
    outgoing: list[Outgoing] = field(default_factory=list)
    dead: dict[Position, Outgoing] = field(default_factory=dict)
    counts: list[Counter] = field(default_factory=list)

    def count(self, counter: Counter) -> None:
        """Increment `counter` (a labelled child) once what this batch publishes is acked."""
        self.counts.append(counter)

    def publish(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None,
        headers: dict[str, str],
        cause: Record | None = None,
    ) -> None:
        """Publish `value` once the poll is done (before its offsets are committed)."""
        self.outgoing.append(Outgoing(topic, value, key, headers, cause))

    def dead_letter(self, record: Record, reason: str, detail: str) -> None:
        """`record` can never be processed as it is: to its dead-letter topic."""
        self.dead[record.position] = dead_letter_of(record, reason, detail)

    def parsed(self, parse: Callable[[bytes], T], reason: str) -> list[tuple[Record, T]]:
        """Each record with what `parse` makes of its value; a record it refuses (a
        ValueError, as pydantic's ValidationError is) is dead-lettered with `reason`."""
        out: list[tuple[Record, T]] = []
        for record in self.records:
            try:
                out.append((record, parse(record.value)))
            except ValueError as exc:
                self.dead_letter(record, reason, str(exc))
        return out

    def handled(self) -> list[Record]:
        """The records the handler took (not dead-lettered)."""
        return [r for r in self.records if r.position not in self.dead]


Handler = Callable[[TenantBatch], Awaitable[None]]
Flush = Callable[[], Awaitable[object]]


@dataclass
class PollOutcome:
    """What one poll came to: what to publish, and where each partition goes next."""

    outgoing: list[Outgoing] = field(default_factory=list)
    # Per partition: the first record not done (committed up to it, consumed again from it).
    rewind: dict[tuple[str, int], int] = field(default_factory=dict)
    # Per partition: the offset after the last record of the poll.
    end: dict[tuple[str, int], int] = field(default_factory=dict)
    delay: float = 0.0
    processed: int = 0
    dead_lettered: int = 0
    redelivered: int = 0
    failures: list[str] = field(default_factory=list)
    finished: set[Position] = field(default_factory=set)
    counts: list[Counter] = field(default_factory=list)

    def commit_offsets(self) -> dict[tuple[str, int], int]:
        return {tp: self.rewind.get(tp, end) for tp, end in self.end.items()}


def _backoff(attempt: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 0.2 * 2**attempt))


class Progress:
    """The policy of one subscription's loop, without Kafka: which records of a poll are
    handled how, what is published, where each partition stands, when to try again."""

    def __init__(self, handler: Handler, concurrency: int = 4) -> None:
        self.handler = handler
        self.concurrency = asyncio.Semaphore(concurrency)
        self.attempts: dict[Position, int] = {}  # failed attempts from a record: the backoff
        self.bugs: dict[Position, int] = {}  # of those, the ones no outage explains
        self.alone: set[Position] = set()  # records to handle one at a time
        self.done: set[Position] = set()  # done, but after a record not done: not committed

    def unpublished(self, outcome: PollOutcome) -> None:
        """The poll's records were handled but their output not published: the poll comes
        again, and what it finished is handled again then."""
        self.done -= outcome.finished

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Partitions revoked: another member continues from their committed offsets."""
        gone = set(partitions)
        self.attempts = {p: n for p, n in self.attempts.items() if (p[0], p[1]) not in gone}
        self.bugs = {p: n for p, n in self.bugs.items() if (p[0], p[1]) not in gone}
        self.alone = {p for p in self.alone if (p[0], p[1]) not in gone}
        self.done = {p for p in self.done if (p[0], p[1]) not in gone}

    async def run(self, records: Sequence[Record]) -> PollOutcome:
        outcome = PollOutcome()
        # A tenant's records share a partition; a subscription of several topics (the
        # ledger's dead letters) may bring one tenant from several, each a batch of its own,
        # so that a batch that fails is taken again from its partition's right offset.
        by_tenant: dict[tuple[str, int, str], list[Record]] = {}
        done = self.done
        end = outcome.end
        # Each key's tenant decoded once a poll, not once a record (`Record.tenant`).
        tenant_of: dict[bytes | None, str] = {}
        for record in records:
            topic, partition, offset, key = (
                record.topic,
                record.partition,
                record.offset,
                record.key,
            )
            tp = (topic, partition)
            if end.get(tp, 0) <= offset:
                end[tp] = offset + 1
            if not done or (topic, partition, offset) not in done:  # else done after a failure
                tenant = tenant_of.get(key)
                if tenant is None:
                    tenant = tenant_of[key] = record.tenant
                group = by_tenant.get((topic, partition, tenant))
                if group is None:
                    by_tenant[(topic, partition, tenant)] = [record]
                else:
                    group.append(record)
        finished = outcome.finished
        tenants = await asyncio.gather(
            *(self._tenant(key[2], mine, finished) for key, mine in by_tenant.items())
        )
        for result in tenants:
            outcome.outgoing += result.outgoing
            outcome.counts += result.counts
            outcome.processed += result.processed
            outcome.dead_lettered += result.dead_lettered
            outcome.delay = max(outcome.delay, result.delay)
            outcome.failures += result.failures
            if result.stopped_at is not None:
                stopped = result.stopped_at
                tp = (stopped.topic, stopped.partition)
                outcome.rewind[tp] = min(outcome.rewind.get(tp, stopped.offset), stopped.offset)
        if not outcome.rewind and not self.done:
            return outcome  # every record done and committed with this poll: nothing to keep
        for record in records:
            first_open = outcome.rewind.get((record.topic, record.partition))
            if first_open is None or record.offset < first_open:
                self.done.discard(record.position)  # committed with this poll
            elif record.position in finished:
                self.done.add(record.position)  # comes again: skipped then
            elif record.position not in self.done:
                outcome.redelivered += 1
        return outcome

    async def _tenant(
        self, tenant: str, records: list[Record], finished: set[Position]
    ) -> _TenantResult:
        """A tenant's records in order, together or one at a time where that is due, up to
        the first failure."""
        result = _TenantResult()
        alone = bool(self.alone) and any(r.position in self.alone for r in records)
        groups = [[r] for r in records] if alone else [records]
        async with self.concurrency:
            for group in groups:
                batch = TenantBatch(tenant, group)
                try:
                    await self.handler(batch)
                except asyncio.CancelledError:
                    raise
                except PoisonMessage as poison:
                    if len(group) > 1:
                        # Which one? Each alone, at once; the others proceed.
                        self.alone.update(r.position for r in group)
                        result.stop(group[0], 0.0)
                        return result
                    log.warning("dead-lettering %s: %s", group[0].position, poison)
                    batch = TenantBatch(tenant, group)
                    batch.dead_letter(group[0], poison.reason, poison.detail)
                except Exception as exc:
                    result.failures.append(type(exc).__name__)
                    if not self._failed(batch, result, exc):
                        return result
                    batch = TenantBatch(tenant, group)
                    batch.dead_letter(group[0], "processing_error", f"{exc!r}")
                positions = list(map(_POSITION, group))
                if self.attempts or self.bugs or self.alone:  # after a failure only
                    for position in positions:
                        self.attempts.pop(position, None)
                        self.bugs.pop(position, None)
                        self.alone.discard(position)
                finished.update(positions)
                result.outgoing += batch.outgoing
                result.outgoing += batch.dead.values()
                result.counts += batch.counts
                result.dead_lettered += len(batch.dead)
                result.processed += len(group) - len(batch.dead)
        return result

    def _failed(self, batch: TenantBatch, result: _TenantResult, exc: Exception) -> bool:
        """Decide on a failed tenant batch: True when its one record is to be dead-lettered
        (a bug met it every time), else where and when to try again is in `result`."""
        first = batch.records[0]
        transient = is_transient(exc)
        if not transient and len(batch.records) > 1:
            # A bug meeting one of them: found by taking them one at a time.
            self.alone.update(r.position for r in batch.records)
            log.exception(
                "a batch of %d records of %r failed; each is tried alone",
                len(batch.records),
                batch.tenant,
            )
            result.stop(first, _backoff(1))
            return False
        attempt = self.attempts.get(first.position, 0) + 1
        self.attempts[first.position] = attempt
        if not transient:
            bugs = self.bugs.get(first.position, 0) + 1
            self.bugs[first.position] = bugs
            if bugs >= MAX_UNEXPECTED_ATTEMPTS:
                log.exception(
                    "dead-lettering %s: it failed %d times (%d attempts in all)",
                    first.position,
                    bugs,
                    attempt,
                )
                return True
        delay = _backoff(attempt)
        if transient:  # an outage: one line, not a traceback per try
            log.warning(
                "%s (%d records of %r from it) waits for a dependency (%r), attempt %d;"
                " retry in %.1fs",
                first.position,
                len(batch.records),
                batch.tenant,
                exc,
                attempt,
                delay,
            )
        else:
            log.exception(
                "failure on %s (%d records of %r from it), attempt %d; retry in %.1fs",
                first.position,
                len(batch.records),
                batch.tenant,
                attempt,
                delay,
            )
        result.stop(first, delay)
        return False


@dataclass
class _TenantResult:
    outgoing: list[Outgoing] = field(default_factory=list)
    counts: list[Counter] = field(default_factory=list)
    processed: int = 0
    dead_lettered: int = 0
    delay: float = 0.0
    stopped_at: Record | None = None
    failures: list[str] = field(default_factory=list)

    def stop(self, record: Record, delay: float) -> None:
        self.stopped_at = record
        self.delay = delay


def hold_prefetched(consumer: AIOKafkaConsumer) -> None:
    """The started consumer's fetcher sends no fetch to a node while records of one of its
    partitions are buffered (`PREFETCH_HOLD_SECONDS`). The fetcher reads the setting as each
    fetch's records arrive, all after the consumer started (it joins its group first)."""
    fetcher = consumer._fetcher
    if not hasattr(fetcher, "_prefetch_backoff"):
        raise RuntimeError(
            f"aiokafka's Fetcher has no _prefetch_backoff: see {__name__}.PREFETCH_HOLD_SECONDS"
        )
    fetcher._prefetch_backoff = PREFETCH_HOLD_SECONDS


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """A rebalance waits for the poll in hand to be committed, then forgets what the loop
    remembered of the partitions taken away."""

    def __init__(self, loop: SubscriptionLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.loop.polling:
            self.loop.progress.forget((tp.topic, tp.partition) for tp in revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None


class SubscriptionLoop:
    """One subscription's consumer and its poll → handle → publish → commit loop."""

    def __init__(
        self,
        consumers: Consumers,
        subscription: Subscription,
        handler: Handler,
        flush: Flush | None,
        max_records: int,
        concurrency: int,
        fetch_min_bytes: int = 1,
    ) -> None:
        self.consumers = consumers
        self.subscription = subscription
        self.group_id = subscription.group(consumers.group_prefix)
        self.flush = flush
        self.max_records = max_records
        self.fetch_min_bytes = fetch_min_bytes
        self.progress = Progress(handler, concurrency)
        self.polling = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.task: asyncio.Task[None] | None = None
        self._labels = (consumers.kafka.principal, subscription.name)

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            group_id=self.group_id,
            client_id=f"{self.consumers.kafka.principal}.{self.subscription.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            fetch_min_bytes=self.fetch_min_bytes,
            **self.consumers.client_options,
        )
        self.consumer.subscribe(list(self.subscription.topics), listener=_Revocations(self))
        await self.consumer.start()
        hold_prefetched(self.consumer)
        self.task = asyncio.create_task(self._run(), name=f"consume {self.group_id}")

    async def stop(self, within: float) -> None:
        """Finish the poll in hand (its offsets committed), then leave the group."""
        self.stopping.set()
        if self.task is not None and self.task.done():
            # The loop ended before (readiness said so): nothing in hand; still leave the group.
            await asyncio.gather(self.task, return_exceptions=True)
        elif self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), within)
            except TimeoutError:
                log.warning("%s: the poll in hand did not finish in %.0f s", self.group_id, within)
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)
        if self.consumer is not None:
            await self.consumer.stop()

    def failing(self) -> str | None:
        if self.task is None:
            return "not started"
        if self.task.done() and not self.stopping.is_set():
            return "its loop ended"
        return None

    async def _poll(self) -> list[Record]:
        assert self.consumer is not None
        fetch = asyncio.ensure_future(self.consumer.getmany(timeout_ms=1000))
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait((fetch, stop), return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not fetch.done():
            fetch.cancel()  # stopping: nothing taken is committed, it comes again
            await asyncio.gather(fetch, return_exceptions=True)
            return []
        try:
            batches = fetch.result()
        finally:
            # A failed fetch's task holds its exception, whose traceback holds this frame:
            # let go of the tasks, or each failed poll is a cycle left for the collector.
            del fetch, stop
        return [Record.of(r) for records in batches.values() for r in records]

    async def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                records = await self._poll()
            except KafkaError as exc:
                log.warning("%s: polling failed (%r); again in 1 s", self.group_id, exc)
                await self._pause(1.0)
                continue
            if not records:
                continue
            async with self.polling:
                delay = await self._handle(records)
            if delay:
                await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _handle(self, records: list[Record]) -> float:
        """One poll: handled, published, committed. Returns how long to wait before the next."""
        assert self.consumer is not None
        started = time.perf_counter()
        BATCH_RECORDS.labels(*self._labels).observe(len(records))
        outcome = await self.progress.run(records)
        for failure in outcome.failures:
            FAILURES.labels(*self._labels, failure).inc()
        try:
            await self.consumers.publisher.publish(outcome.outgoing)
            if self.flush is not None:
                await self.flush()
        except Exception as exc:
            # Nothing of this poll is committed: it all comes again (handlers drop what
            # they have seen; an outbox keeps what was stored).
            if is_transient(exc):  # the broker or the outbox's database away: one line
                log.warning("%s: publishing a poll failed (%r); it comes again", self.group_id, exc)
            else:
                log.exception(
                    "%s: publishing a poll's records failed; it comes again", self.group_id
                )
            FAILURES.labels(*self._labels, type(exc).__name__).inc()
            self.progress.unpublished(outcome)
            first: dict[tuple[str, int], int] = {}
            for r in records:
                first.setdefault((r.topic, r.partition), r.offset)
            self._seek(first)
            RECORDS.labels(*self._labels, "redelivered").inc(len(records))
            return max(outcome.delay, 1.0)
        for counter, times in Tally(outcome.counts).items():  # once a series, not a record
            counter.inc(times)
        await self._commit(outcome.commit_offsets())
        self._seek(outcome.rewind)
        RECORDS.labels(*self._labels, "processed").inc(outcome.processed)
        if outcome.dead_lettered:
            RECORDS.labels(*self._labels, "dead_lettered").inc(outcome.dead_lettered)
        if outcome.redelivered:
            RECORDS.labels(*self._labels, "redelivered").inc(outcome.redelivered)
        BATCH_SECONDS.labels(*self._labels).observe(time.perf_counter() - started)
        return outcome.delay

    def _seek(self, offsets: dict[tuple[str, int], int]) -> None:
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for (topic, partition), offset in offsets.items():
            tp = TopicPartition(topic, partition)
            if tp in assigned:
                self.consumer.seek(tp, offset)

    async def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        mine = {
            TopicPartition(topic, partition): offset
            for (topic, partition), offset in offsets.items()
            if TopicPartition(topic, partition) in assigned
        }
        if not mine:
            return
        try:
            await self.consumer.commit(mine)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # The records come again, to this member or to the one that took the partition;
            # handlers drop what they have seen.
            log.warning("%s: committing %s failed: %r", self.group_id, mine, exc)


class Consumers:
    """A service's consumer loops, exactly the subscriptions its topology declares."""

    def __init__(
        self,
        broker: KafkaBroker,
        kafka: ServiceKafka,
        group_prefix: str,
        client_options: dict[str, Any],
        graceful_seconds: float = 20.0,
        poll_records: int = POLL_RECORDS,
    ) -> None:
        self.broker = broker
        self.publisher = Publisher(broker, kafka)
        self.kafka = kafka
        self.group_prefix = group_prefix
        self.client_options = client_options
        self.graceful_seconds = graceful_seconds
        self.poll_records = poll_records
        self.loops: dict[str, SubscriptionLoop] = {}

    def subscribe(
        self,
        name: str,
        handler: Handler,
        *,
        flush: Flush | None = None,
        concurrency: int = 4,
        fetch_min_bytes: int = 1,
    ) -> None:
        """Consume the service's subscription `name` (its group and topics come from the
        topology) with `handler`, one tenant batch at a time; `flush` runs after the
        handlers of each poll, before its offsets are committed. `fetch_min_bytes`: what
        the broker waits for before it answers a fetch (at most the fetch wait, 500 ms):
        above 1 for a subscription that takes few of the records it reads, which need not
        be polled, handled and committed as soon as each arrives."""
        subscription = self.kafka.subscription(name)
        if name in self.loops:
            raise ValueError(f"{self.kafka.service} subscribes {name!r} twice")
        self.loops[name] = SubscriptionLoop(
            self,
            subscription,
            handler,
            flush,
            self.poll_records,
            concurrency,
            fetch_min_bytes,
        )

    async def start(self) -> None:
        """Start every loop, with the start's own costs paid first, not by the first polls:
        FastStream's first ping of the broker imports anyio's asyncio backend (40-60 ms of
        CPU, which the first readiness probe, coming with the first polls, spent inside a
        poll), and the heap the start made is collected and frozen (`bogfoer_kit.serve`
        does it again once the app has started, by when the loops poll: a full collection
        of 35-65 ms inside the first poll)."""
        await self.broker.ping(timeout=START_PING_SECONDS)
        gc.collect()
        gc.freeze()
        for loop in self.loops.values():
            await loop.start()

    async def stop(self) -> None:
        await asyncio.gather(*(loop.stop(self.graceful_seconds) for loop in self.loops.values()))

    async def ready(self) -> str | None:
        """The readiness check `consumers` (`bogfoer_kit.http.Readiness`)."""
        failing = self.failing()
        return None if failing is None else f"not consuming: {failing}"

    def failing(self) -> str | None:
        """For readiness: which loops are not consuming, if any."""
        dead = [f"{name}: {why}" for name, loop in self.loops.items() if (why := loop.failing())]
        return "; ".join(dead) or None


def make_consumers(
    settings: ServiceSettings, broker: KafkaBroker, kafka: ServiceKafka, group_prefix: str
) -> Consumers:
    """The service's consumer loops (`bogfoer_kit.consumer`), on the same connection
    settings as its broker, publishing through it."""
    return Consumers(
        broker,
        kafka,
        group_prefix,
        client_options(settings),
        settings.graceful_timeout_seconds,
        settings.kafka_poll_records,
    )


def check_subscriptions(broker: KafkaBroker, consumers: Consumers) -> None:
    """Called before consuming starts: every declared subscription of the service has its
    consumer loop, and nothing consumes past them (a FastStream subscriber would)."""
    kafka = consumers.kafka
    declared = sorted(s.name for s in kafka.subscriptions)
    actual = sorted(consumers.loops)
    stray = [
        f"{getattr(s, 'group_id', None)} on {list(getattr(s, 'topic_names', []))}"
        for s in broker.subscribers
    ]
    if actual != declared or stray:
        raise UndeclaredSubscription(
            f"{kafka.principal} consumes {actual} (and FastStream subscribers {stray}), but"
            f" bogfoer_contracts.topology declares {declared}"
        )
