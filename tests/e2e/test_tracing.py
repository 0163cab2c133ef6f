"""One sale, one trace: the W3C trace id started by ingest for a shop's event travels in the
Kafka headers through the mapper (across its outbox) and the poster (across its durable
queue and Dinero calls) to the results the ledger reads."""

from __future__ import annotations

import time
from typing import Any

from bogfoer_contracts.topics import POSTINGS_COMMANDS, POSTINGS_RESULTS, SALES_EVENTS
from bogfoer_devstack.sales import AT, goods, order
from tests.e2e.conftest import kafka_records


def _trace_ids(bootstrap: str, topic: str, tenant: str) -> list[str]:
    return [
        dict(record.headers)["traceparent"].decode().split("-")[1]
        for record in kafka_records(bootstrap, topic, tenant)
    ]


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
