"""The outbox relay publishes rows its process committed from memory (`OutboxRelay.committed`):
exactly the records it would have read back from the table, in the order they were written,
after any older row that waits; the table is left empty, and what a failed run did not
publish stays there for the next. The records handed to the producer are recorded (the
table is the real PostgreSQL): what matters is that they are the very same records."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from bogfoer_contracts.topics import POSTINGS_COMMANDS, POSTINGS_RESULTS, SALES_EVENTS, dlq_topic
from bogfoer_contracts.topology import MAPPER
from bogfoer_kit import outbox
from bogfoer_kit.deadletter import dlq_headers
from bogfoer_kit.outbox import OutboxRelay, OutboxRow, Written, enqueue_many
from bogfoer_kit.publish import Outgoing, Publisher

from .conftest import new_tenant
from .test_mapper_isolation import pool

__all__ = ["pool"]  # the fixture: a real PostgreSQL with the mapper's migrations


class Recorded(Publisher):
    """Keeps what it is asked to publish; `failing` makes the next call fail."""

    def __init__(self) -> None:
        super().__init__(KafkaBroker("127.0.0.1:1"), MAPPER)  # never started
        self.records: list[Outgoing] = []
        self.failing = False

    async def publish(self, records: Sequence[Outgoing]) -> None:
        if self.failing:
            self.failing = False
            raise ConnectionError("the broker is away")
        self.records += records


def _traced() -> Context:
    return trace.set_span_in_context(
        NonRecordingSpan(
            SpanContext(
                0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, TraceFlags(1)
            )
        )
    )


def _rows(tenant: str) -> list[OutboxRow]:
    traced = _traced()
    return [
        OutboxRow(tenant, POSTINGS_COMMANDS, '{"posting_key": "ordre/1", "kind": "invoice"}'),
        OutboxRow(tenant, POSTINGS_COMMANDS, '{"posting_key": "ordre/2", "æ": "ø"}', trace=traced),
        OutboxRow(
            tenant,
            dlq_topic(SALES_EVENTS),
            '{"id": "e-1"}',
            dlq_headers("processing_error", "KeyError('ø — \"x\"')", SALES_EVENTS),
            trace=traced,
        ),
        OutboxRow(
            tenant,
            POSTINGS_RESULTS,
            '{"status": "held"}',
            {"zz": "1", "a": "2", "content-type": "text/plain", "bb": "3", "ab": "4"},
        ),
    ]


def _as_sent(records: list[Outgoing]) -> list[tuple[str, bytes, bytes | None, list[object]]]:
    """Everything of a record that reaches Kafka, its headers in their order."""
    return [(r.topic, r.value, r.key, list(r.headers.items())) for r in records]


async def _committed(pool: asyncpg.Pool, rows: list[OutboxRow]) -> Written:
    """`rows` written in a transaction of their own, committed."""
    async with pool.acquire() as conn, conn.transaction():
        return await enqueue_many(conn, rows)


async def _left(pool: asyncpg.Pool) -> int:
    """Records left in the outbox (a row holds one or a run of them)."""
    async with pool.acquire() as conn:
        left: int = await conn.fetchval(
            "SELECT coalesce(sum(coalesce(cardinality(payloads), 1)), 0) FROM outbox"
        )
    return left


async def test_rows_published_from_memory_are_the_rows_read_back(pool: asyncpg.Pool) -> None:
    rows = _rows(new_tenant())
    read_back, from_memory = Recorded(), Recorded()
    await _committed(pool, rows)
    assert await OutboxRelay(read_back, pool).relay() == 4

    relay = OutboxRelay(from_memory, pool)
    relay.committed(await _committed(pool, rows))
    assert await relay.relay() == 4

    assert _as_sent(from_memory.records) == _as_sent(read_back.records)
    assert await _left(pool) == 0


@pytest.mark.parametrize(
    "handed_over",
    [
        (False, True),  # an older row waits (another writer's, or a failed run's)
        (True, False, True),  # a row not in hand was written between two that are
        (True, True),
    ],
)
async def test_rows_are_published_in_the_order_they_were_written(
    pool: asyncpg.Pool, handed_over: tuple[bool, ...]
) -> None:
    """Rows committed one group after another, some groups handed to the relay: all are
    published, in order, and the table is left empty."""
    rows = _rows(new_tenant())
    relay = OutboxRelay(recorded := Recorded(), pool)
    groups = [rows[n : n + 1] for n in range(len(handed_over) - 1)]
    groups.append(rows[len(handed_over) - 1 :])
    for group, in_hand in zip(groups, handed_over, strict=True):
        written = await _committed(pool, group)
        if in_hand:
            relay.committed(written)
    assert await relay.relay() == 4
    assert [r.value for r in recorded.records] == [r.payload.encode() for r in rows]
    assert await _left(pool) == 0


async def test_what_a_failed_run_did_not_publish_the_next_run_reads_back(
    pool: asyncpg.Pool,
) -> None:
    rows = _rows(new_tenant())
    relay = OutboxRelay(recorded := Recorded(), pool)
    relay.committed(await _committed(pool, rows))
    recorded.failing = True
    with pytest.raises(ConnectionError):
        await relay.relay()
    assert await _left(pool) == 4  # committed, not published: kept
    assert await relay.relay() == 4
    assert [r.value for r in recorded.records] == [r.payload.encode() for r in rows]
    assert await _left(pool) == 0


async def test_rows_of_a_transaction_rolled_back_are_never_handed_over(
    pool: asyncpg.Pool,
) -> None:
    # Only what committed is handed to the relay (the mapper does it after its commit):
    # a transaction that failed leaves nothing to publish, in the table or in memory.
    async def failing_handler() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await enqueue_many(conn, _rows(new_tenant()))
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await failing_handler()
    recorded = Recorded()
    assert await OutboxRelay(recorded, pool).relay() == 0
    assert recorded.records == []


async def test_a_row_another_run_holds_is_left_to_it(pool: asyncpg.Pool) -> None:
    """Another replica's run holds one of the rows in hand (locked, being published): this
    run publishes the older row the ordinary way and leaves that one to it — not a second
    copy of it from memory —, and the tenant's later rows too, which must not reach the
    tenant's partition before it; they go once it is released."""
    rows = _rows(new_tenant())
    relay = OutboxRelay(recorded := Recorded(), pool)
    # Three rows: one record, one, and a run of two.
    relay.committed(await _committed(pool, rows[:1]))
    relay.committed(written := await _committed(pool, rows[1:2]))
    relay.committed(await _committed(pool, rows[2:]))
    async with pool.acquire() as other, other.transaction():
        await other.execute("SELECT seq FROM outbox WHERE seq = $1 FOR UPDATE", written.seqs[0])
        # A deadline, not a timing: a run that waited for the held row would never end.
        assert await asyncio.wait_for(relay.relay(), 30) == 1
        assert [r.value for r in recorded.records] == [rows[0].payload.encode()]
        assert await _left(pool) == 3
    for _ in range(300):  # released (not published: rolled back): the relay's retry takes it
        if await _left(pool) == 0:
            break
        await asyncio.sleep(0.05)
    await relay.settle()
    assert [r.value for r in recorded.records] == [r.payload.encode() for r in rows]
    assert await _left(pool) == 0


async def test_a_row_keeps_the_trace_it_was_written_in_and_an_empty_one_none(
    pool: asyncpg.Pool,
) -> None:
    """A row written in a trace keeps its traceparent; one written with the empty context
    of a record that came without one (what the mapper's rows mostly have: nothing to
    inject, so nothing is) or with none at all, outside any span, keeps no trace header —
    in memory and in the table alike."""
    tenant = new_tenant()
    rows = [
        OutboxRow(tenant, POSTINGS_COMMANDS, '{"n": 1}', trace=_traced()),
        OutboxRow(tenant, POSTINGS_COMMANDS, '{"n": 2}', trace=Context()),
        OutboxRow(tenant, POSTINGS_COMMANDS, '{"n": 3}', {"x-a": "b"}, trace=Context()),
        OutboxRow(tenant, POSTINGS_COMMANDS, '{"n": 4}'),
    ]
    written = await _committed(pool, rows)
    assert [r.headers for r in written.records] == [
        {
            "content-type": "application/json",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
        {"content-type": "application/json"},
        {"content-type": "application/json", "x-a": "b"},
        {"content-type": "application/json"},
    ]
    read_back = Recorded()
    assert await OutboxRelay(read_back, pool).relay() == 4
    assert _as_sent(read_back.records) == _as_sent(written.records)


async def test_a_run_of_a_tenants_records_is_one_row_published_in_order(
    pool: asyncpg.Pool,
) -> None:
    """`enqueue_many` writes each run of consecutive records of one tenant as one table row
    (a lone record as a row of its own): records of tenants interleaved are still published
    in the order they were written, read back or from memory alike."""
    first, second = new_tenant(), new_tenant()
    a, b = _rows(first), _rows(second)
    rows = [a[0], a[1], b[0], a[2], a[3], b[1], b[2]]
    written = await _committed(pool, rows)
    assert len(written.seqs) == 4
    async with pool.acquire() as conn:
        shapes = await conn.fetch(
            "SELECT tenant_id, cardinality(payloads) AS n FROM outbox WHERE seq = ANY($1)"
            " ORDER BY seq",
            written.seqs,
        )
    assert [(r["tenant_id"], r["n"]) for r in shapes] == [
        (first, 2),
        (second, None),
        (first, 2),
        (second, 2),
    ]
    read_back = Recorded()
    assert await OutboxRelay(read_back, pool).relay() == 7
    assert [r.value for r in read_back.records] == [r.payload.encode() for r in rows]
    assert _as_sent(read_back.records) == _as_sent(written.records)
    assert await _left(pool) == 0


async def test_a_relay_run_holds_a_bounded_number_of_records(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run longer than RUN_RECORDS is written as several rows, and a relay run takes
    RELAY_ROWS rows at a time: however long the backlog (polls mapped while Kafka refused
    every publish), a relay run holds at most RELAY_ROWS x RUN_RECORDS records, and still
    publishes all of them, in order."""
    monkeypatch.setattr(outbox, "RUN_RECORDS", 3)
    monkeypatch.setattr(outbox, "RELAY_ROWS", 2)
    tenant = new_tenant()
    rows = [
        OutboxRow(tenant, POSTINGS_COMMANDS, f'{{"posting_key": "ordre/{n}"}}') for n in range(11)
    ]
    written = await _committed(pool, rows)
    async with pool.acquire() as conn:
        sizes = await conn.fetch(
            "SELECT coalesce(cardinality(payloads), 1) AS n FROM outbox WHERE seq = ANY($1)"
            " ORDER BY seq",
            written.seqs,
        )
    assert [r["n"] for r in sizes] == [3, 3, 3, 2]

    class Largest(Recorded):
        largest = 0

        async def publish(self, records: Sequence[Outgoing]) -> None:
            self.largest = max(self.largest, len(records))
            await super().publish(records)

    read_back = Largest()
    assert await OutboxRelay(read_back, pool).relay() == 11
    assert read_back.largest == 6  # two rows of three
    assert [r.value for r in read_back.records] == [r.payload.encode() for r in rows]
    assert await _left(pool) == 0
