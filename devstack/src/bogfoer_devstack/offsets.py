"""Where a topic ends and where a consumer group starts: what tests and benchmarks read and
set around a service under measurement."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

Offsets = dict[TopicPartition, int]


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described["error_code"] == 0, described
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


async def end_offsets(bootstrap: str, topic: str) -> Offsets:
    partitions = await partitions_of(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends: Offsets = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def commit_group(bootstrap: str, group: str, offsets: Offsets) -> None:
    """Set `group`'s committed offsets, so a consumer joining it starts there."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


async def records_to_end(
    bootstrap: str, topic: str, within: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from the start up to its end as it is now.

    Read up to the end offsets taken first, not "until a poll comes back empty": on a loaded
    machine a fresh consumer's first fetches can come back empty while records are there."""
    ends = await end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        todo = {tp: end for tp, end in ends.items() if end > 0}
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        deadline = asyncio.get_running_loop().time() + within
        while todo:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{topic} not read to its end {dict(ends)} within {within} s")
            for tp, batch in (await consumer.getmany(*todo, timeout_ms=500)).items():
                records += [r for r in batch if r.offset < ends[tp]]
            todo = {tp: end for tp, end in todo.items() if await consumer.position(tp) < end}
        return records
    finally:
        await consumer.stop()
