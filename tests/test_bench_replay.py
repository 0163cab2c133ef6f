"""The replay benchmark's fast stream writer makes exactly what ingest's `stamp` makes."""

from __future__ import annotations

from bench.mapper_decide import RECEIVED, inbound_bodies
from bench.replay import canonical
from bogfoer_contracts.events import InboundEvent, parse_event, parse_inbound_json, stamp


def test_the_fast_envelope_equals_stamped_events() -> None:
    for tenant, body in inbound_bodies(12):
        stamped = stamp(InboundEvent.model_validate_json(body), tenant, RECEIVED)
        assert parse_event(canonical(tenant, body)) == stamped
        # Typed at the door (ingest's Kafka path) and stamped without validating it again.
        assert stamp(parse_inbound_json(body), tenant, RECEIVED) == stamped
