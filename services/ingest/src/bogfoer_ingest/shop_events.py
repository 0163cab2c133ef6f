"""A shop event as ingest's HTTP doors take it: the parsed JSON validated against the
contract and stamped with its tenant, its deterministic id and when it was received.

One function for the single route and the batch route, so an event is accepted, or refused
with the same reason and detail, whichever of them it came through.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from bogfoer_contracts.events import InboundEvent, SalesEvent, parse_inbound, stamp
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
