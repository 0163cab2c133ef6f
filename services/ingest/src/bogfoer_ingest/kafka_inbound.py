"""Shop events straight from Kafka, for platforms that produce instead of calling HTTP.

A platform writes `InboundEvent` JSON to `ingest.inbound.v1` with the tenant id as the
record key (who may write for which tenant is Kafka's ACLs' business). Each record is
validated once and stamped exactly like an HTTP POST and published to `sales.events.v1`, a
poll's records together (`bogfoer_kit.consumer`): as plain dicts, its stamped event written
from them (`stamped_json`: no model built, the same bytes); what that does not take goes the
models' way (`parse_inbound_json`, `stamp`), which gives the reason of a refusal. One that fails
the contract, or names a tenant ingest does not know, is dead-lettered with the reason
(`ingest.inbound.dlq.v1`, listed by the ledger). A record redelivered after a crash is
published again with the same event id, which the mapper drops.
"""

from __future__ import annotations

from pydantic import ValidationError

from bogfoer_contracts.events import event_json, parse_inbound_json, stamp, stamped_json
from bogfoer_contracts.topics import SALES_EVENTS, key_for
from bogfoer_ingest.metrics import events_via
from bogfoer_ingest.tenants import TenantDirectory
from bogfoer_kit.consumer import Consumers, TenantBatch


def register(consumers: Consumers, tenants: TenantDirectory) -> None:
    counted = events_via("kafka")

    async def on_inbound(batch: TenantBatch) -> None:
        if await tenants.get(batch.tenant) is None:
            for record in batch.records:
                batch.dead_letter(
                    record, "unknown_tenant", f"record key {batch.tenant!r} is no tenant"
                )
            return
        key = key_for(batch.tenant)
        for record in batch.records:
            stamped = stamped_json(record.value, batch.tenant, record.received_at)
            if stamped is None:  # refused, or not provably storable: the models decide
                try:
                    event = stamp(
                        parse_inbound_json(record.value), batch.tenant, record.received_at
                    )
                except (ValidationError, ValueError) as exc:
                    batch.dead_letter(record, "invalid_event", str(exc))
                    continue
                stamped = (event_json(event), event.id, event.type)
            value, event_id, event_type = stamped
            batch.publish(
                SALES_EVENTS,
                value,
                key=key,
                headers={"content-type": "application/json", "x-event-id": event_id},
                cause=record,
            )
            batch.count(counted[event_type])

    consumers.subscribe("inbound", on_inbound)
