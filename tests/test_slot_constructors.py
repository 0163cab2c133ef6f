"""The frozen records the mapper makes per event and per command (`Arrival.of`,
`OutboxRow.of`, `Outgoing.of`) set each field through its slot instead of the dataclass's
`__init__`: each must be the record its `__init__` makes of the same values (a field added
to the class and not to its `of` is left unset, and fails here)."""

from __future__ import annotations

import dataclasses
from typing import Any

from opentelemetry.context import Context

from bench.mapper_decide import canonical_events
from bogfoer_contracts.events import parse_event
from bogfoer_kit.outbox import OutboxRow
from bogfoer_kit.publish import Outgoing
from bogfoer_mapper.handlers import Arrival


def _fields(made: Any) -> list[Any]:
    return [getattr(made, f.name) for f in dataclasses.fields(made)]  # each one set


def test_an_outgoing_record_of_its_fields_is_the_one_its_init_makes() -> None:
    headers = {"content-type": "application/json"}
    made = Outgoing.of("postings.commands.v1", b'{"n": 1}', b"shop-a", headers)
    assert made == Outgoing("postings.commands.v1", b'{"n": 1}', b"shop-a", headers)
    assert _fields(made) == ["postings.commands.v1", b'{"n": 1}', b"shop-a", headers, None, None]
    assert Outgoing.of("t", b"", None, {}) == Outgoing("t", b"", None)


def test_an_outbox_row_of_its_fields_is_the_one_its_init_makes() -> None:
    trace = Context()
    made = OutboxRow.of("shop-a", "postings.commands.v1", '{"n": 1}', trace)
    assert made == OutboxRow("shop-a", "postings.commands.v1", '{"n": 1}', trace=trace)
    assert _fields(made) == ["shop-a", "postings.commands.v1", '{"n": 1}', {}, trace]
    assert OutboxRow.of("shop-a", "t", "{}", None) == OutboxRow("shop-a", "t", "{}")
    # Each row its own headers dict, as the default factory gives.
    assert made.headers is not OutboxRow.of("shop-a", "t", "{}", None).headers


def test_an_arrival_of_its_fields_is_the_one_its_init_makes() -> None:
    raw = canonical_events(1)[0]
    event = parse_event(raw)
    made = Arrival.of(event, raw.decode(), None)
    assert made == Arrival(event, raw.decode())
    assert _fields(made) == [event, raw.decode(), None]
