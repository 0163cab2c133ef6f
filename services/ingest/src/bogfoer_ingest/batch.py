"""A batch of shop events in one signed request: what each event becomes (docs/ingest-api.md).

Pure: no I/O. The route (api.py) reads, authenticates and parses the body as it does for
one event, hands the parsed body here, publishes what this accepted (the raw body once and
each accepted event's canonical record, their acks awaited together), and only then answers
with `Sorted.answer()`. Each event is validated on its own, by the very function that
validates a single POST (`shop_events.stamped`), so an event is accepted, or refused with
the same reason and detail, whichever door it came through.

An event whose id (from tenant, source and source_event_id) already came earlier in the same
batch is a `duplicate`: it is published once, and its answer names the index it repeats. A
batch sent again is accepted again under the same ids (the mapper drops what it has seen),
exactly as a single event sent again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from bogfoer_contracts.events import InboundEvent, SalesEvent, parse_inbounds, parse_inbounds_json
from bogfoer_ingest.shop_events import stamped
from bogfoer_kit.errors import ApiError, ErrorBody

MAX_EVENTS = 500
# `json.dumps`'s way of writing an answer and its events' (`answer_json`).
_ANSWER = '{"accepted": %d, "duplicate": %d, "rejected": %d, "results": [%s]}'
_ACCEPTED = '{"status": "accepted", "event_id": "%s", "type": "%s"}'
_DUPLICATE = '{"status": "duplicate", "event_id": "%s", "type": "%s", "duplicate_of": %d}'
Status = Literal["accepted", "duplicate", "rejected"]


class EventResult(BaseModel):
    """What became of one event of the batch, at the same index as the event."""

    status: Status
    event_id: str | None = None  # accepted, duplicate
    type: str | None = None  # accepted, duplicate
    duplicate_of: int | None = None  # duplicate: the index of the first event with this id
    error: ErrorBody | None = None  # rejected: as the single route would have answered


class BatchAnswer(BaseModel):
    accepted: int
    duplicate: int
    rejected: int
    results: list[EventResult]


@dataclass
class Sorted:
    """A batch's events sorted out: what to publish, and the answer for each, in order."""

    tenant: str
    received_at: dt.datetime
    accepted: list[SalesEvent] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    first: dict[str, int] = field(default_factory=dict)  # event id -> index of its first

    def take_all(self, raws: list[Any]) -> None:
        """The next events, in order, each as `take` would: typed in one call where every
        one passes (`parse_inbounds`), else each on its own."""
        typed = parse_inbounds(raws)
        if typed is None:
            for raw in raws:
                self.take(raw)
            return
        for raw, inbound in zip(raws, typed, strict=True):
            self.take(raw, inbound)

    def take_typed(self, typed: list[InboundEvent]) -> None:
        """The next events, in order, typed already (`typed_at_once`)."""
        for inbound in typed:
            self.take(inbound, inbound)

    def take(self, raw: Any, typed: InboundEvent | None = None) -> None:
        """The next event: validated and stamped on its own (`typed`: as `parse_inbound`
        typed it already); an id seen before in the batch is a duplicate of the first."""
        index = len(self.results)
        try:
            event = stamped(raw, self.tenant, self.received_at, typed=typed)
        except ApiError as refused:
            error = {"reason": refused.reason, "detail": refused.detail}
            self.results.append({"status": "rejected", "error": error})
            return
        seen = self.first.setdefault(event.id, index)
        if seen != index:
            self.results.append(
                {
                    "status": "duplicate",
                    "event_id": event.id,
                    "type": event.type,
                    "duplicate_of": seen,
                }
            )
            return
        self.accepted.append(event)
        self.results.append({"status": "accepted", "event_id": event.id, "type": event.type})

    def answer_json(self) -> str:
        """`json.dumps(self.answer())` (ASCII JSON, as every error answer: a rejected
        event's detail may quote text, a lone surrogate, that could not be encoded
        otherwise), written out: an accepted or duplicate event's answer holds an id
        (`event_id`: hex digits and dashes) and a type (one of `EVENT_TYPES`), text JSON
        writes as it is, so only a rejected one's goes through `json.dumps`. The encoder
        took ~1-2.5 µs an event, a sixth of what is left of the route's own work."""
        counts = dict.fromkeys(("accepted", "duplicate", "rejected"), 0)
        written: list[str] = []
        for result in self.results:
            status = result["status"]
            counts[status] += 1
            if status == "accepted":
                written.append(_ACCEPTED % (result["event_id"], result["type"]))
            elif status == "duplicate":
                duplicate = (result["event_id"], result["type"], result["duplicate_of"])
                written.append(_DUPLICATE % duplicate)
            else:
                written.append(json.dumps(result))
        return _ANSWER % (
            counts["accepted"],
            counts["duplicate"],
            counts["rejected"],
            ", ".join(written),
        )

    def answer(self) -> dict[str, Any]:
        """`BatchAnswer` as plain JSON-ready data (500 models would cost more than the JSON)."""
        counts = Counter(result["status"] for result in self.results)
        return {
            "accepted": counts["accepted"],
            "duplicate": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": self.results,
        }


def events_of(body: Any) -> list[Any]:
    """The events of a parsed batch body `{"events": [...]}`: 1 to MAX_EVENTS of them.

    Only the envelope is checked here; each event is checked on its own by `sort_out`."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ApiError(422, "invalid_batch", 'the body must be an object {"events": [...]}')
    unknown = sorted(str(key) for key in body if key != "events")
    if unknown:
        raise ApiError(422, "invalid_batch", {"unknown_fields": unknown})
    events: list[Any] = body["events"]
    if not events:
        raise ApiError(422, "invalid_batch", "the batch holds no events")
    if len(events) > MAX_EVENTS:
        raise ApiError(413, "too_many_events", {"limit_events": MAX_EVENTS, "events": len(events)})
    return events


def typed_at_once(body: bytes) -> list[InboundEvent] | None:
    """The events of a batch body (JSON text `text_of` accepted; in a `checked_json` block
    of it), each as `parse_inbounds` types it, straight from the text in one call
    (`parse_inbounds_json`: no `json.loads`, no Python objects of the JSON in between),
    where the envelope is as `events_of` takes it, the text proved storable and every
    event passes; None otherwise (nothing is answered from a refusal here: the body is
    parsed and its events sorted out one by one, each with its own answer)."""
    return parse_inbounds_json(body, "events", MAX_EVENTS)


def sort_out(events: list[Any], tenant: str, received_at: dt.datetime) -> Sorted:
    """Every event of a batch sorted out at once."""
    out = Sorted(tenant, received_at)
    out.take_all(events)
    return out
