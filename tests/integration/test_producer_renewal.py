"""A service's producer that lost its place in the partition's sequence (what aiokafka's
idempotent producer does to itself when a batch expires while the broker comes back) is
replaced, and publishing goes on without a process restart. Found by `make chaos`: after a
broker restart ingest answered every request with a 500 until it was restarted."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber
from opentelemetry.sdk.trace import TracerProvider

from bogfoer_contracts.topology import ServiceKafka
from bogfoer_kit.kafka import make_broker
from bogfoer_kit.settings import ServiceSettings
from tests.integration.conftest import eventually, new_topic, values_in

pytestmark = pytest.mark.integration


async def test_a_producer_out_of_sequence_is_replaced_and_publishing_goes_on(
    topics: str,
) -> None:
    topic = await new_topic(topics, "it-renewal")
    settings = ServiceSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": topics})
    kafka = ServiceKafka(service="it-renewal", subscriptions=(), produces=(topic,))
    broker = make_broker(settings, TracerProvider(), kafka)
    await broker.start()
    try:
        await broker.publish(b"before", topic=topic, key=b"k")
        # What aiokafka does to a batch that expires while its partition has no leader (a
        # broker coming back): the batch takes the next sequence numbers, is failed, and
        # never reaches the broker, which from then on refuses every later batch.
        producer = broker.config.producer._producer.producer  # type: ignore[attr-defined]
        producer._txn_manager.increment_sequence_number(TopicPartition(topic, 0), 3)
        with pytest.raises(OutOfOrderSequenceNumber):
            await broker.publish(b"refused", topic=topic, key=b"k")

        async def published() -> bool:
            try:
                await broker.publish(b"after", topic=topic, key=b"k")
            except OutOfOrderSequenceNumber:
                return False
            return True

        await eventually(published, within=20, what="a publish after the refusal", interval=0.5)
    finally:
        await broker.stop()

    assert await values_in(topics, topic) == [b"before", b"after"]
