"""Shop events straight from Kafka, for platforms that produce instead of calling HTTP.

A platform writes `InboundEvent` JSON to `ingest.inbound.v1` with the tenant id as the
record key (who may write for which tenant is Kafka's ACLs' business). Each record is
validated and stamped exactly like an HTTP POST and published to `sales.events.v1`; one
that fails the contract, or names a tenant ingest does not know, is dead-lettered with the
reason (`ingest.inbound.dlq.v1`, listed by the ledger).
"""

from __future__ import annotations

import datetime as dt

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from bogfoer_contracts.events import SALES_EVENT, InboundEvent, stamp
from bogfoer_contracts.topics import SALES_EVENTS, key_for
from bogfoer_contracts.topology import INGEST
from bogfoer_ingest.metrics import EVENTS
from bogfoer_ingest.settings import IngestSettings
from bogfoer_ingest.tenants import TenantDirectory
from bogfoer_kit.deadletter import PoisonMessage, reliable_subscriber


def register(broker: KafkaBroker, settings: IngestSettings, tenants: TenantDirectory) -> None:
    @reliable_subscriber(broker, INGEST.subscription("inbound"), settings.group_id)
    async def on_inbound(msg: KafkaMessage) -> None:
        record = msg.raw_message
        assert not isinstance(record, tuple)
        tenant_id = record.key.decode() if record.key else ""
        if await tenants.get(tenant_id) is None:
            raise PoisonMessage("unknown_tenant", f"record key {tenant_id!r} is no tenant")
        received_at = dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
        try:
            event = stamp(InboundEvent.model_validate_json(msg.body), tenant_id, received_at)
        except (ValidationError, ValueError) as exc:
            raise PoisonMessage("invalid_event", str(exc)) from exc
        await broker.publish(
            SALES_EVENT.dump_json(event),
            topic=SALES_EVENTS,
            key=key_for(tenant_id),
            headers={"content-type": "application/json", "x-event-id": event.id},
        )
        EVENTS.labels(event.type, "kafka").inc()
