"""A consumer's next records are fetched while a poll is handled, even when some of its
partitions have nothing to fetch (`bogfoer_kit.consumer.PREFETCH_HOLD_SECONDS`).

Left to itself, aiokafka's fetcher sends a fetch of a node's empty partitions once the
records buffered for its others are 0.1 s old; the broker holds that fetch for the fetch wait
(500 ms), and the node's next fetch of the partitions with records waits behind it.
"""

from __future__ import annotations

import asyncio
import time
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bogfoer_kit.consumer import hold_prefetched
from tests.integration.conftest import new_topic

pytestmark = pytest.mark.integration

HANDLING_SECONDS = 0.15  # a poll's handling: past aiokafka's 0.1 s, short of the fetch wait


async def _waits(bootstrap: str, topic: str, hold: bool) -> list[float]:
    """Each poll's wait for its records, a poll taking everything fetched and handled for
    `HANDLING_SECONDS`, the records all in partition 0 of the topic's two."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"fetch-{uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=64 * 1024,  # some 60 records a fetch
    )
    await consumer.start()
    if hold:
        hold_prefetched(consumer)
    waits: list[float] = []
    taken = 0
    try:
        while taken < 600:
            started = time.monotonic()
            batches = await consumer.getmany(timeout_ms=5000)
            waits.append(time.monotonic() - started)
            taken += sum(len(records) for records in batches.values())
            await asyncio.sleep(HANDLING_SECONDS)
    finally:
        await consumer.stop()
    return waits[1:]  # the first includes joining the group


async def test_the_next_records_are_fetched_while_a_poll_is_handled(kafka_bootstrap: str) -> None:
    topic = await new_topic(kafka_bootstrap, "fetch", partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(600):
            await producer.send(topic, b"x" * 1000, key=str(n).encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()

    held = await _waits(kafka_bootstrap, topic, hold=True)
    # Every fetch but the first was sent as a poll took the one before it, and was back long
    # before that poll's handling ended.
    assert max(held) < 0.1, held
    # aiokafka's own setting, as a check on the test: the empty partition's fetch, held by the
    # broker, delays the records' next fetch by hundreds of milliseconds.
    unheld = await _waits(kafka_bootstrap, topic, hold=False)
    assert max(unheld) > 0.2, unheld
