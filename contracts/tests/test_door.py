"""What the contracts refuse at the door (issue 12, findings 3, 6 and 11): text that cannot be
stored, absurd dates, numbers where date-times belong, words where booleans belong.

Each case goes through each of ingest's doors exactly as ingest does (`parse_inbound` of the
parsed HTTP body, `parse_inbound_json` of a Kafka record, then `stamp`; and `stamp` of an
untyped `InboundEvent`, as the Stripe normaliser makes them); a refusal here is a 422
there, before anything is published, instead of a dead letter after a 202.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bogfoer_contracts.events import (
    InboundEvent,
    SalesEvent,
    parse_inbound,
    parse_inbound_json,
    stamp,
)
from bogfoer_contracts.tenants import TenantSettings

RECEIVED = dt.datetime(2026, 11, 20, 9, 0, 1, tzinfo=dt.UTC)
Path = tuple[str | int, ...]


@pytest.fixture
def inbound(placed_event: dict[str, Any]) -> dict[str, Any]:
    """What a shop POSTs: the envelope without what ingest stamps."""
    return {
        k: v
        for k, v in copy.deepcopy(placed_event).items()
        if k not in ("id", "tenant_id", "received_at")
    }


def accept(raw: dict[str, Any]) -> SalesEvent:
    """What ingest does with a body at each door; raises what it answers 422 for (each
    door must come to the same answer)."""
    body = json.dumps(raw).encode()  # NUL and surrogates as escapes
    record = json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass")
    events: list[SalesEvent] = []
    refusals: list[ValidationError] = []
    doors: list[Callable[[], InboundEvent]] = [
        lambda: parse_inbound(json.loads(body), body),  # HTTP
        lambda: parse_inbound(raw),
        lambda: parse_inbound_json(record),  # Kafka
        lambda: parse_inbound_json(body),
        lambda: InboundEvent.model_validate(raw),  # the Stripe normaliser's, untyped data
    ]
    for door in doors:
        try:
            events.append(stamp(door(), "shop-a", RECEIVED))
        except ValidationError as exc:
            refusals.append(exc)
    assert not (events and refusals), f"the doors disagree: {refusals}"
    if refusals:
        raise refusals[0]
    assert all(event == events[0] for event in events)
    return events[0]


def put(raw: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    target: Any = raw
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return raw


CUSTOMER = ("data", "customer")
LINE = ("data", "lines", 0)


@pytest.mark.parametrize(
    ("case", "path", "value"),
    [
        ("NUL in a customer name", (*CUSTOMER, "name"), "Mette\x00Hansen"),
        ("NUL in an e-mail", (*CUSTOMER, "email"), "mette\x00@example.dk"),
        ("NUL in a line description", (*LINE, "description"), "T-\x00shirt"),
        ("NUL in an order id", ("data", "order_id"), "10\x0042"),
        ("NUL in the source event id", ("source_event_id",), "a\x00b"),
        ("lone surrogate in a name", (*CUSTOMER, "name"), "Mette \ud800"),
        ("lone surrogate in an address", (*CUSTOMER, "billing_address", "city"), "\udfff"),
        ("placed_at in the year 9999", ("data", "placed_at"), "9999-12-31T23:00:00-05:00"),
        ("placed_at in the year 1", ("data", "placed_at"), "0001-01-01T00:00:00+00:00"),
        ("occurred_at as a number", ("occurred_at",), -1),
        ("occurred_at as a numeric string", ("occurred_at",), "-1"),
        ("occurred_at as unix seconds text", ("occurred_at",), "1700000000"),
        ("occurred_at as a float", ("occurred_at",), 1.7e9),
        ("backfill as a word", ("backfill",), "yes"),
        ("backfill as a number", ("backfill",), 1),
        ("prices_include_vat as a word", (*LINE, "prices_include_vat"), "true"),
        ("schema_version as a boolean", ("schema_version",), True),
    ],
)
def test_the_contract_refuses(inbound: dict[str, Any], case: str, path: Path, value: Any) -> None:
    accept(inbound)  # the body itself is fine
    with pytest.raises(ValidationError):
        accept(put(inbound, path, value))


def test_a_payout_day_must_be_a_day(inbound: dict[str, Any]) -> None:
    inbound["type"] = "payout.paid"
    inbound["data"] = {"payout_id": "po_1", "amount": 100, "currency": "DKK"}
    for refused in ("2026-11-20T00:00:00", "9999-01-01", 20261120):
        with pytest.raises(ValidationError):
            accept(put(inbound, ("data", "arrival_date"), refused))
    assert accept(put(inbound, ("data", "arrival_date"), "2026-11-20"))


@pytest.mark.parametrize(
    "field",
    [{"collective_contact_name": "a\x00"}, {"cutover": "9999-01-01"}, {"active": "yes"}],
)
def test_settings_refuse_nul_absurd_cutovers_and_words_for_booleans(
    field: dict[str, Any],
) -> None:
    settings = {"dinero_organization_id": 1, "cutover": "2026-01-01"}
    TenantSettings.model_validate(settings)
    with pytest.raises(ValidationError):
        TenantSettings.model_validate(settings | field)
