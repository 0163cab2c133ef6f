"""A shop event as ingest's HTTP doors take it: the parsed JSON validated against the
contract and stamped with its tenant, its deterministic id and when it was received.

One function for the single route and the batch route, so an event is accepted, or refused
with the same reason and detail, whichever of them it came through.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from bogfoer_contracts.events import (
    InboundEvent,
    SalesEvent,
    parse_inbound,
    parse_inbound_json,
    stamp,
)
from bogfoer_ingest import body as request_body
from bogfoer_kit.errors import ApiError, validation_detail


def stamped(
    raw: Any,
    tenant: str,
    received_at: dt.datetime,
    text: bytes | None = None,
    *,
    typed: InboundEvent | None = None,
) -> SalesEvent:
    """The canonical event of `raw` (validated once, `parse_inbound`; `text`: the JSON it was
    parsed from, when that is all of it; `typed`: `raw` as `parse_inbound` already typed
    it, with the rest of a batch); 422 `invalid_event` (each error with its location) when
    it fails the contract."""
    try:
        inbound = typed if typed is not None else parse_inbound(raw, text)
        return stamp(inbound, tenant, received_at)
    except ValidationError as exc:
        detail = validation_detail(exc.errors(include_url=False))
        raise ApiError(422, "invalid_event", detail) from exc
    except ValueError as exc:
        raise ApiError(422, "invalid_event", str(exc)) from exc


def stamped_body(body: bytes, tenant: str, received_at: dt.datetime) -> SalesEvent:
    """The canonical event of a request's body holding one event: `stamped` of the body
    `request_body.parse` parses, with the same answer for every body (400 from the parse,
    422 from the contract). An event that passes is typed straight from the text
    (`parse_inbound_json`, as the Kafka door types a record: the doors agree,
    contracts/tests/test_door.py) instead of `json.loads` and validating what it made:
    about 30 → 18 µs an event. Whatever that refuses is parsed and validated as before, so
    a refusal keeps its own reason and detail."""
    text = request_body.text_of(body)  # not UTF-8, a byte-order mark, too deep: 400
    try:
        typed = parse_inbound_json(body)
    except ValidationError:
        return stamped(request_body.parsed(text), tenant, received_at, body)
    return stamped(None, tenant, received_at, typed=typed)
