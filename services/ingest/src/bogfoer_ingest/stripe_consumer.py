"""Stripe events from the raw topic to canonical sales events.

The webhook route only verifies and stores the raw event (so Stripe gets its 2xx fast and
nothing is lost); here, off the request path, each one is normalised, with the fee of a
charge and the contents of a payout fetched from Stripe's API (with retries), and the
canonical events published with the rest of the poll (`bogfoer_kit.consumer`). A Stripe
outage is transient (the tenant's records are redelivered after a backoff); an event that
can never be normalised goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import datetime as dt
import json

from bogfoer_contracts.events import InboundEvent, SalesEvent, event_json, stamp
from bogfoer_contracts.topics import SALES_EVENTS, key_for
from bogfoer_ingest.metrics import EVENTS
from bogfoer_ingest.stripe.api import StripeApi, StripePermanent, StripeTransient
from bogfoer_ingest.stripe.normalise import StripeEventError, normalise
from bogfoer_ingest.tenants import TenantDirectory
from bogfoer_kit.consumer import Consumers, Record, TenantBatch
from bogfoer_kit.deadletter import PoisonMessage, TransientFailure
from bogfoer_kit.publish import Outgoing, Publisher

# The header the Stripe webhook route gives each raw record it publishes, and no one else.
STRIPE_EVENT_ID = "x-stripe-event-id"


def canonical_record(event: SalesEvent, cause: Record | None = None) -> Outgoing:
    """A canonical event as published to `sales.events.v1` (keyed by its tenant)."""
    return Outgoing(
        SALES_EVENTS,
        event_json(event),
        key_for(event.tenant_id),
        {"content-type": "application/json", "x-event-id": event.id},
        cause,
    )


async def publish_canonical(
    publisher: Publisher,
    tenant_id: str,
    inbound: list[InboundEvent],
    received_at: dt.datetime,
    via: str,
) -> None:
    """Stamp Stripe's canonical events for the tenant and publish them together (acks=all,
    in order), then count them."""
    events = [stamp(item, tenant_id, received_at) for item in inbound]
    await publisher.publish([canonical_record(event) for event in events])
    for event in events:
        EVENTS.labels(event.type, via).inc()


class StripeNormaliser:
    def __init__(self, tenants: TenantDirectory, api: StripeApi) -> None:
        self.tenants = tenants
        self.api = api

    async def normalise(self, headers: dict[str, str], body: bytes) -> list[SalesEvent]:
        """The canonical events of one raw Stripe event."""
        tenant_id = headers.get("x-tenant", "")
        tenant = await self.tenants.get(tenant_id)
        if tenant is None or tenant.stripe_api_key is None:
            raise PoisonMessage("stripe_not_configured", f"tenant {tenant_id!r} has no Stripe key")
        received_at = dt.datetime.fromisoformat(headers["x-received-at"])
        try:
            inbound = await normalise(json.loads(body), self.api.for_tenant(tenant.stripe_api_key))
        except (StripeEventError, json.JSONDecodeError) as exc:
            raise PoisonMessage("invalid_stripe_event", str(exc)) from exc
        except StripePermanent as exc:
            raise PoisonMessage("stripe_api_refused", str(exc)) from exc
        except StripeTransient as exc:
            raise TransientFailure(f"Stripe API: {exc}") from exc
        return [stamp(item, tenant_id, received_at) for item in inbound]

    async def on_raw(self, batch: TenantBatch) -> None:
        for record in batch.records:
            # Only the webhook route writes this header. A shop event may name "stripe"
            # as its `x-source` (a payment a platform captured there): it was normalised
            # in the request path, and its body is no Stripe event.
            if record.header(STRIPE_EVENT_ID) is None:
                continue
            headers = record.header_map()
            try:
                events = await self.normalise(headers, record.value)
            except PoisonMessage as poison:
                batch.dead_letter(record, poison.reason, poison.detail)
                continue
            for event in events:
                batch.outgoing.append(canonical_record(event, cause=record))
                batch.count(EVENTS.labels(event.type, "stripe"))


# The raw topic carries every shop event's body too, which this consumer only skips: it
# fetches once this much has come (or the fetch wait, 500 ms, has passed) instead of
# polling, handling and committing every few records: 12 % of ingest's py-spy samples under
# the single route's load, 1.4 % at 256 KiB. The batch route's raw bodies (~200 kB each)
# filled 256 KiB every other request, 5 % of its samples (a fetch, a poll and a commit
# each); at 4 MiB (more than the fetch wait brings at 20,000 events/s) 1.5 %. A Stripe
# event waits at most the fetch wait longer, as before.
FETCH_MIN_BYTES = 4 * 1024 * 1024


def register(consumers: Consumers, normaliser: StripeNormaliser) -> None:
    consumers.subscribe("stripe", normaliser.on_raw, fetch_min_bytes=FETCH_MIN_BYTES)
