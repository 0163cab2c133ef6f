"""The devstack's broker and database stop and start again on their existing data and ports,
so services connected before the restart reconnect by themselves (the recovery tests and
`make chaos` rely on it)."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bogfoer_devstack.kafka import KafkaBroker
from bogfoer_devstack.postgres import Postgres
from tests.integration.conftest import eventually, new_topic, values_in

# Each test starts (or restarts) a broker or a database server: slow on a busy machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_a_killed_broker_starts_again_on_its_data_and_port(
    restartable_kafka: KafkaBroker,
) -> None:
    # Killed, the harsher case (tests/e2e/test_recovery.py stops it cleanly).
    broker = restartable_kafka
    bootstrap = broker.bootstrap_servers
    topic = await new_topic(bootstrap, "restart")
    group = f"restart-{uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"before")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.commit({TopicPartition(topic, 0): 1})
        finally:
            await consumer.stop()

        await asyncio.to_thread(_bounce, broker)

        assert broker.bootstrap_servers == bootstrap
        # The producer made before the restart reconnects and goes on in sequence.
        await producer.send_and_wait(topic, b"after")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        # The offset survived. Right after the restart the broker may still be loading the
        # group's offsets, and aiokafka reports some of those answers as "no offset" rather
        # than asking again: asked until it is there (an offset lost never comes back).
        async def offset_back() -> bool:
            return bool(await consumer.committed(TopicPartition(topic, 0)) == 1)

        await eventually(offset_back, within=30, what="the committed offset", interval=0.5)
    finally:
        await consumer.stop()
    assert await values_in(bootstrap, topic) == [b"before", b"after"]


def _bounce(broker: KafkaBroker) -> None:
    with broker.stopped(crash=True):
        pass


async def test_a_database_stopped_as_in_a_crash_starts_again_on_its_data_and_port(
    restartable_postgres: Postgres,
) -> None:
    # Immediate shutdown, recovered from the WAL (tests/e2e/test_recovery.py stops it cleanly).
    pg = restartable_postgres
    url = pg.url
    table = f"restart_{uuid4().hex[:8]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE TABLE {table} (n int); INSERT INTO {table} VALUES (42)")  # noqa: S608
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        down = pg.stopped("immediate")
        refused = pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError))
        with down, refused:
            await pool.fetchval("SELECT 1")
        assert pg.url == url
        # The pool opened before the restart hands out new connections by itself.
        assert await pool.fetchval(f"SELECT n FROM {table}") == 42  # noqa: S608
    finally:
        await pool.close()
