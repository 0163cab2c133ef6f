"""One sale, one trace: the W3C trace id started by ingest for a shop's event travels in the
Kafka headers through the mapper (across its outbox) and the poster (across its durable
queue and Dinero calls) to the results the ledger reads."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from bogfoer_contracts.topics import POSTINGS_COMMANDS, POSTINGS_RESULTS, SALES_EVENTS, key_for
from bogfoer_devstack.sales import AT, goods, order


def _trace_ids(bootstrap: str, topic: str, tenant: str) -> list[str]:
    async def read() -> list[str]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            found: list[str] = []
            batches = await consumer.getmany(timeout_ms=3000)
            while batches:
                for records in batches.values():
                    for record in records:
                        if record.key == key_for(tenant):
                            headers = {k: v.decode() for k, v in record.headers}
                            found.append(headers["traceparent"].split("-")[1])
                batches = await consumer.getmany(timeout_ms=1000)
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_one_sale_is_one_trace_from_ingest_to_the_results(
    new_tenant: Any, operator: Any, kafka_bootstrap: str
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    sent = tenant.shop.send("order.placed", "T1-placed", AT, order("T1", lines=[goods("1", 10000)]))
    assert sent.status_code == 202
    operator.wait_settled(tenant.tenant_id, expected=2)
    time.sleep(0.5)  # the last result's record is on Kafka before the ledger shows it

    events = _trace_ids(kafka_bootstrap, SALES_EVENTS, tenant.tenant_id)
    commands = _trace_ids(kafka_bootstrap, POSTINGS_COMMANDS, tenant.tenant_id)
    results = _trace_ids(kafka_bootstrap, POSTINGS_RESULTS, tenant.tenant_id)
    assert len(events) == 1
    assert len(commands) == 2  # contact and invoice
    assert len(results) >= 2  # each posting's outcome
    (trace_id,) = set(events)
    assert set(commands) == {trace_id}
    assert set(results) == {trace_id}
