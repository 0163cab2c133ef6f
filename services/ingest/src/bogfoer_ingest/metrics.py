"""ingest's own metrics (requests by route, status and reason come from bogfoer_kit.metrics)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from bogfoer_contracts.events import EVENT_TYPES

EVENTS = Counter(
    "bogfoer_ingest_events_total",
    "Canonical sales events published, by type and how they came in (http, kafka, stripe)",
    ["type", "via"],
)


def events_via(via: str) -> dict[str, Any]:
    """`EVENTS`' series of each event type coming in `via`, looked up once: `labels` on
    every event cost more than counting it."""
    return {event_type: EVENTS.labels(event_type, via) for event_type in EVENT_TYPES}
