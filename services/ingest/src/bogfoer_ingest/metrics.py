"""ingest's own metrics (requests by route, status and reason come from bogfoer_kit.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter(
    "bogfoer_ingest_events_total",
    "Canonical sales events published, by type and how they came in (http, kafka, stripe)",
    ["type", "via"],
)
