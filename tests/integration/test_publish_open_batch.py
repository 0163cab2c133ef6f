"""A request's records appended to the partition's open batch (`Publisher.hand_over`,
without `producer.send`'s coroutine) land on Kafka exactly as `producer.send` put them:
the same partition for each key, the same key, value and headers, each key's records in
order — also when the open batch fills and the rest wait for it to go."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from opentelemetry.sdk.trace import TracerProvider

from bogfoer_contracts.topology import ServiceKafka
from bogfoer_devstack.offsets import records_to_end
from bogfoer_kit.kafka import PRODUCER_BATCH_BYTES, make_broker, producer_of
from bogfoer_kit.publish import Outgoing, Publisher
from bogfoer_kit.settings import ServiceSettings

pytestmark = pytest.mark.integration

PARTITIONS = 6
TENANTS = 8
REQUESTS = 48
# Large enough that the open batch fills while the requests hand their records over.
VALUE_BYTES = PRODUCER_BATCH_BYTES // 12


async def _topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    finally:
        await admin.close()


def _request(topic: str, n: int) -> list[Outgoing]:
    """Request `n`'s two records, for one of the tenants."""
    key = f"tenant-{n % TENANTS}".encode()
    return [
        Outgoing(topic, f"{n}-{i}".encode() + bytes(VALUE_BYTES), key, {"x-n": f"{n}.{i}"})
        for i in range(2)
    ]


def _landed(records: list[object]) -> dict[int, list[tuple[object, ...]]]:
    """Each partition's records as (key, value, headers), in the partition's order."""
    found: dict[int, list[tuple[object, ...]]] = {}
    for r in records:
        found.setdefault(r.partition, []).append((r.key, r.value, tuple(r.headers)))  # type: ignore[attr-defined]
    return found


async def test_a_requests_records_land_as_producer_send_put_them(topics: str) -> None:
    suffix = uuid4().hex[:8]
    sent, handed = f"it-open-send-{suffix}", f"it-open-hand-{suffix}"
    await _topics(topics, sent, handed)
    settings = ServiceSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": topics})
    kafka = ServiceKafka(service="it-open-batch", subscriptions=(), produces=(sent, handed))
    broker = make_broker(settings, TracerProvider(), kafka)
    await broker.start()
    try:
        producer = producer_of(broker)
        publisher = Publisher(broker, kafka)

        async def by_send(n: int) -> None:  # what the requests did before
            acks = [
                await producer.send(
                    out.topic,
                    out.value,
                    key=out.key,
                    headers=[(k, v.encode()) for k, v in out.headers.items()],
                )
                for out in _request(sent, n)
            ]
            await asyncio.gather(*acks)

        left_over = 0

        async def by_hand_over(n: int) -> None:
            nonlocal left_over
            acks, left = publisher.hand_over(_request(handed, n))
            left_over += len(left)
            acks += await publisher.send(left)
            await asyncio.gather(*acks)

        await asyncio.gather(*(by_send(n) for n in range(REQUESTS)))
        await asyncio.gather(*(by_hand_over(n) for n in range(REQUESTS)))
    finally:
        await broker.stop()

    assert left_over > 0  # the open batch did fill: the rest waited in `send`
    before = _landed(await records_to_end(topics, sent))
    after = _landed(await records_to_end(topics, handed))
    assert sum(len(rs) for rs in after.values()) == 2 * REQUESTS
    assert after.keys() == before.keys()
    for partition, records in before.items():
        # Concurrent requests may interleave differently; each key's records keep their order.
        for key in {key for key, _, _ in records}:
            assert [r for r in after[partition] if r[0] == key] == [
                r for r in records if r[0] == key
            ]
