"""Stripe events from the raw topic to canonical sales events.

The webhook route only verifies and stores the raw event (so Stripe gets its 2xx fast and
nothing is lost); here, off the request path, each one is normalised, with the fee of a
charge and the contents of a payout fetched from Stripe's API (with retries), and the
canonical events published. A Stripe outage is transient (redelivered after a backoff);
an event that can never be normalised goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import datetime as dt
import json

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from bogfoer_contracts.events import SALES_EVENT, InboundEvent, stamp
from bogfoer_contracts.topics import SALES_EVENTS, key_for
from bogfoer_contracts.topology import INGEST
from bogfoer_ingest.metrics import EVENTS
from bogfoer_ingest.settings import IngestSettings
from bogfoer_ingest.stripe.api import StripeApi, StripePermanent, StripeTransient
from bogfoer_ingest.stripe.normalise import StripeEventError, normalise
from bogfoer_ingest.tenants import TenantDirectory
from bogfoer_kit.deadletter import PoisonMessage, TransientFailure, reliable_subscriber


async def publish_canonical(
    broker: KafkaBroker,
    tenant_id: str,
    inbound: list[InboundEvent],
    received_at: dt.datetime,
    via: str,
) -> None:
    """Stamp Stripe's canonical events for the tenant and publish them (acks=all), in order."""
    for event in (stamp(item, tenant_id, received_at) for item in inbound):
        await broker.publish(
            SALES_EVENT.dump_json(event),
            topic=SALES_EVENTS,
            key=key_for(tenant_id),
            headers={"content-type": "application/json", "x-event-id": event.id},
        )
        EVENTS.labels(event.type, via).inc()


class StripeNormaliser:
    def __init__(self, broker: KafkaBroker, tenants: TenantDirectory, api: StripeApi) -> None:
        self.broker = broker
        self.tenants = tenants
        self.api = api

    async def handle(self, headers: dict[str, str], body: bytes) -> int:
        """Publish the canonical events of one raw Stripe event; returns how many."""
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
        await publish_canonical(self.broker, tenant_id, inbound, received_at, "stripe")
        return len(inbound)


def register(broker: KafkaBroker, settings: IngestSettings, normaliser: StripeNormaliser) -> None:
    @reliable_subscriber(broker, INGEST.subscription("stripe"), settings.group_id)
    async def on_raw(msg: KafkaMessage) -> None:
        headers = {k: v if isinstance(v, str) else v.decode() for k, v in msg.headers.items()}
        if headers.get("x-source") != "stripe":
            return  # shop events were normalised in the request path
        await normaliser.handle(headers, msg.body)
