"""PostgreSQL restarts in the middle of a batch dead-letter nothing, lose nothing, book
nothing twice, and the consumer loop keeps going (`bogfoer_kit.consumer`).

The mapper's events loop, wired as its app wires it, on the real broker and the devstack's
restartable PostgreSQL. A tenant's transaction is held (another session holds its lock)
when the database stops, so its batch dies between two statements, as in a failover:
asyncpg then raises `InterfaceError` ("cannot call Transaction.__aexit__(): the underlying
connection is closed"), the connection error only its context. The database stops twice
(a failover that flaps), the second time when the held tenant's one sale has already been
refused while it was down one time short of the attempts a bug is given
(`MAX_UNEXPECTED_ATTEMPTS`): before the fix, that second `InterfaceError` dead-lettered a
good sale as `processing_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace import TracerProvider

from bogfoer_contracts.topics import POSTINGS_COMMANDS, SALES_EVENTS, dlq_topic, key_for
from bogfoer_contracts.topology import MAPPER
from bogfoer_devstack.offsets import end_offsets, records_to_end
from bogfoer_devstack.postgres import Postgres
from bogfoer_kit.consumer import Consumers, make_consumers
from bogfoer_kit.db import create_pool, migrate
from bogfoer_kit.deadletter import MAX_UNEXPECTED_ATTEMPTS
from bogfoer_kit.kafka import make_broker
from bogfoer_kit.settings import ServiceSettings
from bogfoer_mapper import handlers
from tests.integration.conftest import (
    create_database,
    drop_database,
    eventually,
    idempotent_producer,
    new_tenant,
    read_from,
    start_group_at_end,
)
from tests.integration.test_mapper_isolation import placed
from tests.integration.test_mapper_settings import settings

pytestmark = pytest.mark.integration

ORDERS = 3  # of the tenant that is not held, one batch


@pytest.fixture
async def database(restartable_postgres: Postgres) -> AsyncIterator[str]:
    url = await create_database(restartable_postgres.url)
    yield url
    await drop_database(restartable_postgres.url, url)


@pytest.fixture
async def mapper(topics: str, database: str) -> AsyncIterator[tuple[handlers.Mapper, Consumers]]:
    """The mapper as its app wires it (`bogfoer_mapper.app`), its groups starting at the
    end of the shared topics."""
    prefix = f"it-pgrestart-{uuid4().hex[:8]}"
    for subscription in MAPPER.subscriptions:
        for topic in subscription.topics:
            await start_group_at_end(topics, subscription.group(prefix), topic)
    settings = ServiceSettings(KAFKA_BOOTSTRAP_SERVERS=topics)
    broker = make_broker(settings, TracerProvider(), MAPPER)
    consumers = make_consumers(settings, broker, MAPPER, prefix)
    pool = await create_pool(database, "mapper", max_size=4)
    await migrate(pool, "bogfoer_mapper")
    mapper = handlers.Mapper(consumers.publisher, pool)
    handlers.register(consumers, mapper)
    await broker.start()
    await consumers.start()
    try:
        yield mapper, consumers
    finally:
        await consumers.stop()
        await broker.stop()
        await asyncio.wait_for(pool.close(), 10)


async def _blocked_behind(admin: asyncpg.Connection) -> bool:
    """Is a session waiting for a lock `admin` holds?"""
    waiting = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        admin.get_server_pid(),
    )
    return bool(waiting)


def _posting_keys(records: list[Any], tenants: set[str]) -> list[str]:
    return [
        json.loads(r.value)["posting_key"]
        for r in records
        if r.key is not None and r.key.decode() in tenants
    ]


async def _hold_tenant(database: str, tenant: str) -> asyncpg.Connection:
    """A session holding the tenant's mapper lock: the tenant's next batch waits inside its
    transaction (`bogfoer_mapper.store.lock_tenant`) until the session ends."""
    admin = await asyncpg.connect(database)
    await admin.execute("SELECT pg_advisory_lock(hashtext($1))", f"mapper:{tenant}")
    return admin


async def test_a_database_restart_mid_batch_dead_letters_nothing_and_books_everything_once(
    topics: str,
    restartable_postgres: Postgres,
    database: str,
    mapper: tuple[handlers.Mapper, Consumers],
) -> None:
    the_mapper, consumers = mapper
    loop = consumers.loops["events"]
    held, free = new_tenant(), new_tenant()
    for tenant in (held, free):
        await the_mapper.on_config(settings(tenant, 1))
    commands_from = await end_offsets(topics, POSTINGS_COMMANDS)

    admin = await _hold_tenant(database, held)
    producer: AIOKafkaProducer = await idempotent_producer(topics)
    try:
        # The held tenant has one sale in flight (a small shop's usual batch), the other
        # several.
        sale = await producer.send_and_wait(
            SALES_EVENTS, placed(held, f"{held}-0"), key=key_for(held)
        )
        for n in range(ORDERS):
            await producer.send(SALES_EVENTS, placed(free, f"{free}-{n}"), key=key_for(free))
        await producer.flush()
        first = (SALES_EVENTS, sale.partition, sale.offset)

        def attempts() -> int:
            return loop.progress.attempts.get(first, 0)

        # 1. The database stops under the held batch, between its statements.
        await eventually(lambda: _blocked_behind(admin), within=30, what="the held batch")
        await asyncio.to_thread(restartable_postgres.stop, "fast")
        with contextlib.suppress(Exception):
            await admin.close()

        # It stays away until the held tenant's first record has failed one time short of
        # the attempts a bug is given ...
        async def nearly_out_of_attempts() -> bool:
            return attempts() >= MAX_UNEXPECTED_ATTEMPTS - 1

        await eventually(nearly_out_of_attempts, within=60, what="retries while down")
        assert consumers.failing() is None
        # 2. ... comes back, and the held batch is held again before the loop's next try
        # (the loop waits for its poll lock, as in a rebalance) ...
        async with loop.polling:
            await asyncio.to_thread(restartable_postgres.start)
            admin = await _hold_tenant(database, held)
        await eventually(lambda: _blocked_behind(admin), within=30, what="held again")
        tried = attempts()

        # 3. ... and goes away once more under it (a failover that flaps), killed this time.
        await asyncio.to_thread(restartable_postgres.stop, "immediate")
        with contextlib.suppress(Exception):
            await admin.close()

        async def failed_again() -> bool:
            return attempts() != tried

        await eventually(failed_again, within=30, what="the held batch failing again")
        await asyncio.to_thread(restartable_postgres.start)

        # After the restarts: one more sale, which the same loop books too.
        await producer.send_and_wait(SALES_EVENTS, placed(held, f"{held}-after"), key=key_for(held))
    finally:
        await producer.stop()
        if not admin.is_closed():
            with contextlib.suppress(Exception):
                await admin.close()

    def invoices(keys: list[str]) -> set[str]:
        return {k for k in keys if ":invoice:" in k}

    expected_invoices = 1 + ORDERS + 1
    commands = await read_from(
        topics,
        commands_from,
        lambda rs: len(invoices(_posting_keys(rs, {held, free}))) >= expected_invoices,
        within=60,
        settle=1.0,
    )
    keys = _posting_keys(commands, {held, free})
    # Nothing dead-lettered: no sale of either tenant waits for ops' re-drive.
    dead = await records_to_end(topics, dlq_topic(SALES_EVENTS))
    assert [
        (r.key, dict(r.headers).get("x-dlq-reason"), dict(r.headers).get("x-dlq-detail"))
        for r in dead
        if r.key in (key_for(held), key_for(free))
    ] == []
    # Nothing lost: every order's invoice and its customer's contact; nothing twice.
    assert len(invoices(keys)) == expected_invoices, keys
    assert len([k for k in keys if ":contact:" in k]) == expected_invoices, keys
    assert len(keys) == len(set(keys)), sorted(keys)
    assert consumers.failing() is None
