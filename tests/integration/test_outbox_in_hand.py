"""The outbox relay publishes rows its process committed from memory (`OutboxRelay.committed`):
exactly the records it would have read back from the table, in the order they were written,
after any older row that waits; the table is left empty, and what a failed run did not
publish stays there for the next. The records handed to the producer are recorded (the
table is the real PostgreSQL): what matters is that they are the very same records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from bogfoer_contracts.topics import POSTINGS_COMMANDS, POSTINGS_RESULTS, SALES_EVENTS, dlq_topic
from bogfoer_contracts.topology import MAPPER
from bogfoer_kit.db import create_pool, migrate
from bogfoer_kit.deadletter import dlq_headers
from bogfoer_kit.outbox import OutboxRelay, OutboxRow, enqueue_many
from bogfoer_kit.publish import Outgoing, Publisher

from .conftest import new_tenant


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


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(fresh_database, "mapper", max_size=2)
    await migrate(created, "bogfoer_mapper")
    try:
        yield created
    finally:
        await created.close()


def _rows(tenant: str) -> list[OutboxRow]:
    traced = trace.set_span_in_context(
        NonRecordingSpan(
            SpanContext(
                0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, TraceFlags(1)
            )
        )
    )
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


async def _left(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        left: int = await conn.fetchval("SELECT count(*) FROM outbox")
    return left


async def test_rows_published_from_memory_are_the_rows_read_back(pool: asyncpg.Pool) -> None:
    rows = _rows(new_tenant())
    read_back, from_memory = Recorded(), Recorded()
    async with pool.acquire() as conn, conn.transaction():
        await enqueue_many(conn, rows)
    assert await OutboxRelay(read_back, pool).relay() == 4

    relay = OutboxRelay(from_memory, pool)
    async with pool.acquire() as conn, conn.transaction():
        written = await enqueue_many(conn, rows)
    relay.committed(written)
    assert await relay.relay() == 4

    assert _as_sent(from_memory.records) == _as_sent(read_back.records)
    assert await _left(pool) == 0


async def test_an_older_row_waiting_sends_them_all_the_ordinary_way_in_order(
    pool: asyncpg.Pool,
) -> None:
    tenant = new_tenant()
    recorded = Recorded()
    relay = OutboxRelay(recorded, pool)
    older, mine = _rows(tenant)[:2], _rows(tenant)[2:]
    async with pool.acquire() as conn, conn.transaction():
        await enqueue_many(conn, older)  # another writer's, or a failed run's: not in hand
    async with pool.acquire() as conn, conn.transaction():
        written = await enqueue_many(conn, mine)
    relay.committed(written)
    assert await relay.relay() == 4
    assert [r.value for r in recorded.records] == [r.payload.encode() for r in older + mine]
    assert await _left(pool) == 0


async def test_a_row_written_between_two_of_them_is_published_in_between(
    pool: asyncpg.Pool,
) -> None:
    tenant = new_tenant()
    recorded = Recorded()
    relay = OutboxRelay(recorded, pool)
    first, between, last = _rows(tenant)[:1], _rows(tenant)[1:2], _rows(tenant)[2:]
    async with pool.acquire() as conn, conn.transaction():
        relay.committed(await enqueue_many(conn, first))
    async with pool.acquire() as conn, conn.transaction():
        await enqueue_many(conn, between)
    async with pool.acquire() as conn, conn.transaction():
        written = await enqueue_many(conn, last)
    relay.committed(written)
    await relay.relay()
    assert [r.value for r in recorded.records] == [
        r.payload.encode() for r in first + between + last
    ]


async def test_what_a_failed_run_did_not_publish_the_next_run_reads_back(
    pool: asyncpg.Pool,
) -> None:
    tenant = new_tenant()
    recorded = Recorded()
    relay = OutboxRelay(recorded, pool)
    async with pool.acquire() as conn, conn.transaction():
        written = await enqueue_many(conn, _rows(tenant))
    relay.committed(written)
    recorded.failing = True
    with pytest.raises(ConnectionError):
        await relay.relay()
    assert await _left(pool) == 4  # committed, not published: kept
    assert await relay.relay() == 4
    assert [r.value for r in recorded.records] == [r.payload.encode() for r in _rows(tenant)]
    assert await _left(pool) == 0


async def test_rows_of_a_transaction_rolled_back_are_never_handed_over(
    pool: asyncpg.Pool,
) -> None:
    # Only what committed is handed to the relay (the mapper does it after its commit):
    # a transaction that failed leaves nothing to publish, in the table or in memory.
    tenant = new_tenant()
    recorded = Recorded()
    relay = OutboxRelay(recorded, pool)

    async def failing_handler() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await enqueue_many(conn, _rows(tenant))
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await failing_handler()
    assert await relay.relay() == 0
    assert recorded.records == []
