"""The sales-event contract: round trips, validation, deterministic ids."""

from __future__ import annotations

import datetime as dt
import typing
import uuid
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from pydantic import ValidationError

from bogfoer_contracts.events import (
    SALES_EVENT,
    InboundEvent,
    Order,
    OrderPlacedEvent,
    PaymentCapturedEvent,
    event_json,
    parse_event,
    parse_inbound,
    stamp,
    upcast,
)
from bogfoer_contracts.ids import event_id


def test_order_placed_round_trips_through_json(placed_event: dict[str, Any]) -> None:
    event = parse_event(placed_event)
    assert isinstance(event, OrderPlacedEvent)
    assert event.data.lines[0].unit_price == 12500
    again = parse_event(SALES_EVENT.dump_json(event))
    assert again == event


def test_the_type_field_selects_the_data_model(placed_event: dict[str, Any]) -> None:
    placed_event["type"] = "payment.captured"
    with pytest.raises(ValidationError):
        parse_event(placed_event)  # order data is not a payment
    placed_event["data"] = {
        "payment_id": "pi_1",
        "amount": 30000,
        "currency": "DKK",
        "captured_at": "2026-11-20T10:00:00Z",
    }
    assert isinstance(parse_event(placed_event), PaymentCapturedEvent)


@pytest.mark.parametrize("bad", [125.0, "12500", 12500.5, None])
def test_money_must_be_integer_minor_units(placed_event: dict[str, Any], bad: object) -> None:
    placed_event["data"]["lines"][0]["unit_price"] = bad
    with pytest.raises(ValidationError):
        parse_event(placed_event)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("data", "currency"), "dkk"),
        (("tenant_id", None), "Shop A"),
        (("occurred_at", None), "2026-11-20T10:00:00"),  # naive time is ambiguous
        (("data", "lines"), []),
        (("data", "customer"), {"name": "x", "billing_address": {"country": "Denmark"}}),
    ],
)
def test_invalid_fields_are_rejected(
    placed_event: dict[str, Any], path: tuple[str, str | None], value: object
) -> None:
    outer, inner = path
    if inner is None:
        placed_event[outer] = value
    else:
        placed_event[outer][inner] = value
    with pytest.raises(ValidationError):
        parse_event(placed_event)


def test_unknown_fields_are_refused_so_typos_cannot_zero_an_amount(
    placed_event: dict[str, Any],
) -> None:
    placed_event["data"]["lines"][0]["unitprice"] = 100
    with pytest.raises(ValidationError, match="unitprice"):
        parse_event(placed_event)


def test_event_ids_are_deterministic_and_tenant_scoped() -> None:
    a = event_id("shop-a", "stripe", "evt_1")
    assert a == event_id("shop-a", "stripe", "evt_1")
    assert a != event_id("shop-b", "stripe", "evt_1")
    assert a != event_id("shop-a", "shopify", "evt_1")


@pytest.mark.parametrize(
    ("tenant", "source", "source_event_id"),
    [("shop-a", "stripe", "evt_1"), ("b", "api", "ordre/æøå 🚲"), ("shop-c", "x" * 64, "9" * 256)],
)
def test_event_ids_are_the_name_based_uuids_they_always_were(
    tenant: str, source: str, source_event_id: str
) -> None:
    """Written out without `uuid.UUID` for speed; every id ever stamped must stay the same."""
    namespace = uuid.UUID("6f1d8a3e-6a8c-4c69-9d2e-0b9f1c2a7e55")
    expected = str(uuid.uuid5(namespace, f"{tenant}/{source}/{source_event_id}"))
    assert event_id(tenant, source, source_event_id) == expected


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    source_event_id=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)
)
def test_every_event_id_is_the_name_based_uuid(source_event_id: str) -> None:
    """Every version and variant digit of the hash written out as `uuid.uuid5` writes it."""
    namespace = uuid.UUID("6f1d8a3e-6a8c-4c69-9d2e-0b9f1c2a7e55")
    expected = str(uuid.uuid5(namespace, f"shop-a/shopify/{source_event_id}"))
    assert event_id("shop-a", "shopify", source_event_id) == expected


def test_a_batch_s_received_at_is_checked_once_and_written_as_given(
    placed_event: dict[str, Any],
) -> None:
    """`stamp` checks a batch's shared `received_at` once (by identity): an equal time in
    another zone is still its own, written out as given."""
    raw = {k: placed_event[k] for k in ("type", "source", "source_event_id", "occurred_at", "data")}
    inbound = parse_inbound(raw)
    utc = dt.datetime(2026, 11, 20, 9, 0, 1, tzinfo=dt.UTC)
    copenhagen = utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert utc == copenhagen
    stamped = [stamp(inbound, "shop-a", at) for at in (utc, utc, copenhagen, utc)]
    written = [event_json(event) for event in stamped]
    assert b'"received_at":"2026-11-20T09:00:01Z"' in written[0]
    assert b'"received_at":"2026-11-20T10:00:01+01:00"' in written[2]
    assert written == [written[0], written[0], written[2], written[0]]
    too_late = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    for refused in (too_late, too_late, None, None):  # refused each time
        with pytest.raises(ValidationError):
            stamp(inbound, "shop-a", refused)  # type: ignore[arg-type]


def test_an_event_typed_at_the_door_is_not_validated_again_when_stamped(
    placed_event: dict[str, Any],
) -> None:
    raw = {k: placed_event[k] for k in ("type", "source", "source_event_id", "occurred_at", "data")}
    inbound = parse_inbound(raw)
    typed: Any = inbound.data
    assert isinstance(typed, Order)  # checked completely, once
    event = stamp(inbound, "shop-a", dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    assert event.data is typed
    untyped = stamp(InboundEvent.model_validate(raw), "shop-a", event.received_at)
    assert untyped == event  # an untyped inbound event's data is validated by stamp
    with pytest.raises(ValidationError):
        stamp(inbound, "Not A Tenant", event.received_at)  # the stamped envelope is checked


def test_stamp_gives_a_redelivered_event_the_same_id(placed_event: dict[str, Any]) -> None:
    inbound = InboundEvent.model_validate(
        {k: placed_event[k] for k in ("type", "source", "source_event_id", "occurred_at", "data")}
    )
    first = stamp(inbound, "shop-a", dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    second = stamp(inbound, "shop-a", dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
    assert first.id == second.id == event_id("shop-a", "shopify", "order-1042-created")
    assert first.received_at != second.received_at


def test_upcast_refuses_unknown_versions(placed_event: dict[str, Any]) -> None:
    assert upcast(placed_event) is placed_event
    placed_event["schema_version"] = 99
    with pytest.raises(ValueError, match="schema_version"):
        upcast(placed_event)


def test_every_event_type_has_its_model_in_the_union() -> None:
    from bogfoer_contracts.events import EVENT_TYPES, SalesEvent

    models = typing.get_args(typing.get_args(SalesEvent)[0])
    assert sorted(m.model_fields["type"].annotation.__args__[0] for m in models) == sorted(
        EVENT_TYPES
    )
