"""The batch policy of `bogfoer_kit.consumer.Progress` (in memory; the real broker paths are
in tests/integration: test_deadletter.py, test_sigterm_consumer.py, test_sigkill_batches.py):
per poll, tenants' records go to the handler together and in order; a poison record is
dead-lettered and the rest proceed; an outage redelivers in order for as long as it lasts; a
bug meeting one record is found by taking the records one at a time and dead-letters it
after a few attempts; a partition commits only up to its first record not done, and a
record done after it is not handled again."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from opentelemetry import trace

from bogfoer_kit import consumer
from bogfoer_kit.consumer import PollOutcome, Progress, Record, TenantBatch
from bogfoer_kit.deadletter import (
    MAX_BACKOFF_SECONDS,
    MAX_UNEXPECTED_ATTEMPTS,
    PoisonMessage,
    TransientFailure,
    is_transient,
)
from bogfoer_kit.publish import Outgoing
from tests.garbage import kept

TOPIC = "sales.events.v1"


def record(offset: int, tenant: str, value: bytes = b"ok", partition: int = 0) -> Record:
    return Record(TOPIC, partition, offset, tenant.encode(), value, (("x-id", b"%d" % offset),))


class Handler:
    """Publishes one record per record it takes; fails as told by the record's value."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []  # offsets per call
        self.handled: Counter[int] = Counter()  # offset -> times published
        self.outage = False
        self.failures: list[Exception] = []  # raised one per call, first first

    async def __call__(self, batch: TenantBatch) -> None:
        self.calls.append([r.offset for r in batch.records])
        if self.outage:
            raise TransientFailure("PostgreSQL is down")
        if self.failures:
            raise self.failures.pop(0)
        for r in batch.records:
            if r.value == b"bug":
                raise KeyError("a rule the mapper does not have")
            if r.value == b"raise-poison":
                raise PoisonMessage("invalid_event", "cannot be parsed")
        for r in batch.records:
            if r.value == b"poison":
                batch.dead_letter(r, "invalid_event", "bad amount")
            else:
                batch.publish("out.v1", r.value, key=r.key, headers={}, cause=r)

    def published(self, outcome: PollOutcome) -> None:
        for out in outcome.outgoing:
            if out.topic == "out.v1" and out.cause is not None:
                self.handled[out.cause.offset] += 1


def dead(outcome: PollOutcome) -> list[Outgoing]:
    return [o for o in outcome.outgoing if o.topic == "sales.events.dlq.v1"]


async def test_a_tenants_records_go_together_in_order_and_commit_past_the_poll() -> None:
    handler = Handler()
    progress = Progress(handler)
    records = [record(0, "a"), record(1, "b"), record(2, "a"), record(3, "b", partition=1)]
    outcome = await progress.run(records)
    assert sorted(handler.calls) == [[0, 2], [1], [3]]
    assert [o.cause.offset for o in outcome.outgoing if o.cause] == [0, 2, 1, 3]
    assert outcome.commit_offsets() == {(TOPIC, 0): 3, (TOPIC, 1): 4}
    assert (outcome.processed, outcome.dead_lettered, outcome.delay) == (4, 0, 0.0)


async def test_a_poison_record_is_dead_lettered_with_its_reason_and_the_rest_proceed() -> None:
    handler = Handler()
    outcome = await Progress(handler).run(
        [record(0, "a"), record(1, "a", b"poison"), record(2, "a")]
    )
    ((letter,),) = [dead(outcome)]
    assert letter.value == b"poison"
    assert letter.key == b"a"
    assert letter.headers["x-dlq-reason"] == "invalid_event"
    assert letter.headers["x-original-topic"] == TOPIC
    assert letter.headers["x-original-offset"] == "1"
    assert letter.headers["x-id"] == "1"  # the record's own headers travel with it
    assert [o.cause.offset for o in outcome.outgoing if o.topic == "out.v1" and o.cause] == [0, 2]
    assert outcome.commit_offsets() == {(TOPIC, 0): 3}
    assert (outcome.processed, outcome.dead_lettered) == (2, 1)


async def test_poison_raised_for_a_batch_is_found_by_taking_its_records_alone() -> None:
    handler = Handler()
    progress = Progress(handler)
    records = [record(0, "a"), record(1, "a", b"raise-poison"), record(2, "a")]
    first = await progress.run(records)
    assert first.outgoing == []
    assert first.rewind == {(TOPIC, 0): 0}
    assert first.delay == 0.0  # no waiting for a poison
    second = await progress.run(records)
    assert handler.calls[1:] == [[0], [1], [2]]
    assert [d.value for d in dead(second)] == [b"raise-poison"]
    assert second.commit_offsets() == {(TOPIC, 0): 3}


async def test_an_outage_redelivers_in_order_for_as_long_as_it_lasts() -> None:
    handler = Handler()
    handler.outage = True
    progress = Progress(handler)
    records = [record(0, "a"), record(1, "a")]
    delays = []
    for _ in range(3 * MAX_UNEXPECTED_ATTEMPTS):
        outcome = await progress.run(records)
        assert outcome.outgoing == []  # never dead-lettered
        assert outcome.commit_offsets() == {(TOPIC, 0): 0}
        assert outcome.rewind == {(TOPIC, 0): 0}
        delays.append(outcome.delay)
    assert delays == sorted(delays)
    assert delays[-1] == MAX_BACKOFF_SECONDS
    assert all(call == [0, 1] for call in handler.calls)  # still together: nothing is wrong
    handler.outage = False
    outcome = await progress.run(records)
    assert outcome.commit_offsets() == {(TOPIC, 0): 2}
    assert outcome.processed == 2


async def test_a_bug_meeting_one_record_dead_letters_it_after_its_attempts_only() -> None:
    handler = Handler()
    progress = Progress(handler)
    # Tenant a: a bug in the middle; tenant b shares the partition, before and after it.
    records = [
        record(0, "a"),
        record(1, "b"),
        record(2, "a", b"bug"),
        record(3, "b"),
        record(4, "a"),
    ]
    outcomes = []
    for _ in range(MAX_UNEXPECTED_ATTEMPTS + 1):
        outcome = await progress.run(records)
        handler.published(outcome)
        outcomes.append(outcome)
        # Kafka hands the partition back from where the poll rewound it.
        records = [r for r in records if r.offset >= outcome.commit_offsets()[(TOPIC, 0)]]
    first = outcomes[0]
    assert first.rewind == {(TOPIC, 0): 0}  # a's batch failed: from its first record
    assert first.delay > 0
    # a is taken one record at a time: 0 passes, 2 fails until it is dead-lettered.
    assert handler.calls.count([2]) == MAX_UNEXPECTED_ATTEMPTS
    last = outcomes[MAX_UNEXPECTED_ATTEMPTS]
    assert [d.headers["x-dlq-reason"] for d in dead(last)] == ["processing_error"]
    assert "a rule the mapper does not have" in dead(last)[0].headers["x-dlq-detail"]
    assert last.commit_offsets() == {(TOPIC, 0): 5}
    # Nothing was handled twice, though the partition came back six times.
    assert handler.handled == {0: 1, 1: 1, 3: 1, 4: 1}
    assert [o.commit_offsets() for o in outcomes[1:-1]] == [{(TOPIC, 0): 2}] * (
        MAX_UNEXPECTED_ATTEMPTS - 1
    )
    assert (progress.done, progress.alone, progress.attempts, progress.bugs) == (
        set(),
        set(),
        {},
        {},
    )


async def test_what_was_not_published_is_handled_again() -> None:
    handler = Handler()
    progress = Progress(handler)
    records = [record(0, "a", b"bug"), record(1, "b")]
    first = await progress.run(records)
    assert (TOPIC, 0, 1) in progress.done  # b's record is done after a's open one
    progress.unpublished(first)  # ... but its output never reached Kafka
    assert progress.done == set()


async def test_revoked_partitions_are_forgotten() -> None:
    progress = Progress(Handler())
    records = [record(0, "a", b"bug"), record(1, "b"), record(2, "a"), record(0, "c", partition=1)]
    await progress.run(records)
    await progress.run(records)
    assert progress.done
    assert progress.alone
    assert progress.attempts
    progress.forget([(TOPIC, 0)])
    assert (progress.done, progress.alone, progress.attempts, progress.bugs) == (
        set(),
        set(),
        {},
        {},
    )


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_tenants_run_side_by_side_but_each_in_order(concurrency: int) -> None:
    order: list[tuple[str, int]] = []

    async def handler(batch: TenantBatch) -> None:
        for r in batch.records:
            order.append((batch.tenant, r.offset))

    records = [record(i, f"t{i % 3}") for i in range(30)]
    await Progress(handler, concurrency).run(records)
    for tenant in ("t0", "t1", "t2"):
        mine = [offset for t, offset in order if t == tenant]
        assert mine == sorted(mine)
        assert len(mine) == 10


def _raised_while(handling: Exception, exc: Exception) -> Exception:
    """`exc` as Python leaves it when raised in an `except` block handling `handling`."""
    exc.__context__ = handling
    return exc


def _lost_mid_transaction() -> Exception:
    """What asyncpg raises when the server stops between two statements of a transaction:
    the transaction's exit fails on the closed connection (seen against the devstack's
    PostgreSQL: tests/integration/test_consumer_database_restart.py)."""
    return _raised_while(
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError(
            "cannot call Transaction.__aexit__(): the underlying connection is closed"
        ),
    )


def test_a_connection_lost_under_the_handler_is_an_outage_and_other_interface_errors_bugs() -> None:
    assert is_transient(_lost_mid_transaction())
    assert is_transient(asyncpg.InterfaceError("cannot perform operation: connection is closed"))
    released = "cannot call Connection.execute(): connection has been released back to the pool"
    # Released because the pool saw the connection go: transient; used after its release
    # by the handler itself: a bug.
    assert is_transient(
        _raised_while(ConnectionResetError("reset by peer"), asyncpg.InterfaceError(released))
    )
    assert not is_transient(asyncpg.InterfaceError(released))
    assert is_transient(asyncpg.AdminShutdownError("terminating connection"))
    assert not is_transient(
        asyncpg.InterfaceError("the number of query arguments cannot exceed 32767")
    )
    assert not is_transient(KeyError("a rule the mapper does not have"))


async def test_a_batch_whose_connection_was_lost_is_retried_together_and_never_dead_lettered() -> (
    None
):
    handler = Handler()
    progress = Progress(handler)
    records = [record(0, "a"), record(1, "a")]
    handler.failures = [_lost_mid_transaction() for _ in range(2 * MAX_UNEXPECTED_ATTEMPTS)]
    for _ in range(2 * MAX_UNEXPECTED_ATTEMPTS):
        outcome = await progress.run(records)
        assert dead(outcome) == []
        assert outcome.rewind == {(TOPIC, 0): 0}
    assert all(call == [0, 1] for call in handler.calls)  # nothing to single out
    outcome = await progress.run(records)
    assert outcome.commit_offsets() == {(TOPIC, 0): 2}
    assert (outcome.processed, outcome.dead_lettered) == (2, 0)


async def test_an_outage_does_not_use_up_the_attempts_a_bug_is_given() -> None:
    # One sale in flight while the database restarts twice: refused while it is down,
    # then its connection lost under it at the second restart, then booked.
    handler = Handler()
    progress = Progress(handler)
    records = [record(0, "a")]
    handler.failures = [
        ConnectionRefusedError("connect call failed") for _ in range(MAX_UNEXPECTED_ATTEMPTS)
    ]
    handler.failures += [_lost_mid_transaction(), KeyError("and a bug meets it once")]
    for _ in range(MAX_UNEXPECTED_ATTEMPTS + 2):
        outcome = await progress.run(records)
        assert dead(outcome) == []
    outcome = await progress.run(records)
    assert outcome.commit_offsets() == {(TOPIC, 0): 1}
    assert outcome.processed == 1
    assert (progress.attempts, progress.bugs) == ({}, {})


def test_a_records_received_at_is_its_timestamp_and_shared_within_a_millisecond() -> None:
    """`Record.received_at` remembers the last timestamp it converted: records of one
    millisecond (a producer's batch) share one datetime, so `stamp` checks it once."""
    import datetime as dt

    first, same, later = (Record("t", 0, n, b"k", b"v", (), ms) for n, ms in enumerate((5, 5, 7)))
    assert first.received_at == dt.datetime.fromtimestamp(0.005, dt.UTC)
    assert same.received_at is first.received_at
    assert later.received_at == dt.datetime.fromtimestamp(0.007, dt.UTC)
    assert first.received_at == dt.datetime.fromtimestamp(0.005, dt.UTC)  # again, after it


async def test_a_polls_counts_are_added_once_kafka_holds_what_it_published() -> None:
    """What handlers count (`TenantBatch.count`) is added after the poll's records are
    acknowledged — each series by how often it was counted, once a poll — and not at all
    when publishing fails (the poll comes again, and is counted then)."""
    from typing import Any

    from prometheus_client import CollectorRegistry
    from prometheus_client import Counter as Metric

    from bogfoer_contracts.topology import INGEST
    from bogfoer_kit.consumer import Consumers

    events = Metric("events", "events by type", ["type"], registry=CollectorRegistry())
    placed, paid = events.labels("placed"), events.labels("paid")

    async def handler(batch: TenantBatch) -> None:
        for record in batch.records:
            batch.publish("sales.events.v1", record.value, key=record.key, headers={})
            batch.count(placed if record.value == b"placed" else paid)

    class _Kafka:
        def assignment(self) -> set[Any]:
            return set()

    class _Publisher:
        def __init__(self) -> None:
            self.fail = False
            self.seen: list[float] = []

        async def publish(self, records: Any) -> None:
            self.seen.append(placed._value.get())  # nothing counted before the acks
            if self.fail:
                raise RuntimeError("refused")

    consumers = Consumers(None, INGEST, "test", {})  # type: ignore[arg-type]
    consumers.publisher = publisher = _Publisher()  # type: ignore[assignment]
    consumers.subscribe("inbound", handler)
    loop = consumers.loops["inbound"]
    loop.consumer = _Kafka()
    values = [b"placed", b"paid", b"placed", b"placed"]
    poll = [Record("ingest.inbound.v1", 0, n, b"shop-a", v) for n, v in enumerate(values)]
    publisher.fail = True
    await loop._handle(poll)
    assert (placed._value.get(), paid._value.get()) == (0, 0)
    publisher.fail = False
    await loop._handle(poll)
    assert (placed._value.get(), paid._value.get()) == (3, 1)
    assert publisher.seen == [0, 0]


def test_a_record_of_a_consumed_one_is_the_record_its_fields_make() -> None:
    """`Record.of` sets each field through its slot: the same record as `Record(...)` of
    the consumed one's fields (a field added to `Record` and not to `of` fails here)."""
    import dataclasses

    from aiokafka.structs import ConsumerRecord

    headers = [("traceparent", b"00-1-2-01")]
    consumed = ConsumerRecord("t", 2, 7, 1_795_600_000_000, 0, b"k", b"v", None, 1, 1, headers)
    made = Record.of(consumed)
    fields = [getattr(made, f.name) for f in dataclasses.fields(Record)]  # each one set
    assert made == Record("t", 2, 7, b"k", b"v", tuple(headers), 1_795_600_000_000)
    assert fields == ["t", 2, 7, b"k", b"v", tuple(headers), 1_795_600_000_000]
    empty = ConsumerRecord("t", 0, 1, 5, 0, None, None, None, 0, 0, [])
    assert Record.of(empty) == Record("t", 0, 1, None, b"", (), 5)
    assert hash(Record.of(empty)) == hash(Record("t", 0, 1, None, b"", (), 5))


def test_a_record_without_a_timestamp_is_refused_not_stamped_with_the_memos_first_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The memo's first value is a timestamp and what converting it gives, so it never
    answers for a record the conversion would refuse: a record without a timestamp (None)
    fails as it did before the memo, rather than being stamped 2000-01-01. Asked of a
    fresh copy of the module (the memo of the one imported holds other tests' records)."""
    import importlib.util
    import sys

    import prometheus_client

    from bogfoer_kit import consumer

    spec = importlib.util.spec_from_file_location("bogfoer_kit_consumer_fresh", consumer.__file__)
    assert spec is not None
    assert spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    # Its metrics are the imported module's names: not registered twice.
    monkeypatch.setattr(prometheus_client.REGISTRY, "register", lambda collector: None)
    monkeypatch.setitem(sys.modules, spec.name, fresh)  # dataclasses look it up there
    spec.loader.exec_module(fresh)
    untimed = fresh.Record("t", 0, 1, None, b"{}", (), None)
    with pytest.raises(TypeError):
        untimed.received_at  # noqa: B018 - the property's conversion is the test


def test_a_record_without_headers_has_the_one_empty_trace_context() -> None:
    bare = Record("sales.events.v1", 0, 1, b"shop-a", b"{}")
    assert bare.trace_context() == {}
    assert bare.trace_context() is bare.trace_context()
    parent = f"00-{'a' * 32}-{'b' * 16}-01"
    traced = Record("sales.events.v1", 0, 2, b"shop-a", b"{}", (("traceparent", parent.encode()),))
    span = trace.get_current_span(traced.trace_context()).get_span_context()
    assert format(span.trace_id, "032x") == "a" * 32


async def test_consumers_pay_the_starts_costs_before_the_first_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bogfoer_contracts.topology import INGEST
    from bogfoer_kit.consumer import Consumers

    calls: list[str] = []

    class _Broker:
        async def ping(self, **_: float) -> bool:
            calls.append("ping")
            return True

    class _Loop:
        async def start(self) -> None:
            calls.append("poll")

    def collect() -> int:
        calls.append("collect")
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    consumers = Consumers(_Broker(), INGEST, "test", {})  # type: ignore[arg-type]
    consumers.loops["inbound"] = _Loop()  # type: ignore[assignment]
    await consumers.start()
    assert calls == ["ping", "collect", "freeze", "poll"]


async def test_a_failed_poll_leaves_no_cycle() -> None:
    """A fetch that fails (`getmany` raising a KafkaError, polled again a second later)
    leaves nothing for the collector: the fetch is a task the poll awaits, and its exception,
    raised in the poll's frame, held that frame through its traceback while the frame held
    the task that held the exception — a cycle a failed poll, kept until the collector's next
    young pass (the mapper's every 1,000,000 objects)."""

    class Refusing:
        async def getmany(self, timeout_ms: int) -> dict[object, list[object]]:
            raise KafkaConnectionError("the broker went away")

    loop = object.__new__(consumer.SubscriptionLoop)
    loop.consumer = Refusing()
    loop.stopping = asyncio.Event()
    with kept() as garbage:
        with pytest.raises(KafkaConnectionError):
            await loop._poll()
        gc.collect()
        assert [o for o in garbage if isinstance(o, KafkaConnectionError | asyncio.Task)] == []
