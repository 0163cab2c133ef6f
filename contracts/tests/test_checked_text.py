"""Ingest's fast path through the contract (issue 9) decides and builds exactly what the full
one did: the validators without the models' walks for unstorable text (used only where the
JSON text proved storable) accept and refuse the same input with the same errors, and a
stamped event is the very event, and the very bytes, it always was."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bogfoer_contracts.events import (
    SALES_EVENT,
    TYPED_INBOUND_EVENT,
    InboundEvent,
    event_json,
    parse_event,
    parse_inbound,
    parse_inbound_json,
    parse_inbounds_json,
    stamp,
    stamped_json,
    upcast,
)
from bogfoer_contracts.model import checked_json, storable_json

RECEIVED = dt.datetime(2026, 11, 20, 9, 0, 1, 250000, tzinfo=dt.UTC)
# What `stamp` and `SALES_EVENT.dump_json` made of PLACED before the fast path: the id
# and every byte of the record must stay the same (the mapper drops by id).
PLACED_RECORD = (
    b'{"id":"3d2d45ef-76ca-5b20-8e4d-8470fc0c3aa2","source":"shopify",'
    b'"source_event_id":"order-1042-created","tenant_id":"shop-a",'
    b'"occurred_at":"2026-11-20T10:00:00+01:00","received_at":"2026-11-20T09:00:01.250000Z",'
    b'"schema_version":1,"backfill":false,"type":"order.placed","data":{"order_id":"1042",'
    b'"order_number":"#1042","placed_at":"2026-11-20T10:00:00+01:00","currency":"DKK",'
    b'"customer":{"email":"kunde@example.dk","name":"Mette Hansen","kind":"person",'
    b'"vat_number":null,"billing_address":{"country":"DK","postcode":"8000","city":"Aarhus C",'
    b'"street":null,"name":null},"shipping_address":null},"lines":[{"line_id":"1",'
    b'"kind":"goods","description":"T-shirt","sku":null,"quantity":2,"unit_price":12500,'
    b'"vat_rate":2500,"prices_include_vat":true},{"line_id":"2","kind":"shipping",'
    b'"description":"GLS","sku":null,"quantity":1,"unit_price":5000,"vat_rate":2500,'
    b'"prices_include_vat":true}],"total":30000,"vat_total":6000,"payments":[{"provider":'
    b'"stripe","reference":"pi_123","method":"card"}]}}'
)
PAYOUT: dict[str, Any] = {
    "type": "payout.paid",
    "source": "stripe",
    "source_event_id": "evt_po_1",
    "occurred_at": "2026-11-21T06:00:00Z",
    "backfill": True,
    "data": {
        "payout_id": "po_1",
        "amount": 100,
        "currency": "DKK",
        "arrival_date": "2026-11-23",
        "balance_transactions": [
            {"id": "txn_1", "reporting_category": "charge", "net": 100, "amount": 103, "fee": 3}
        ],
    },
}
Change = tuple[tuple[str | int, ...], Any]  # where, what (the `changed` fixture makes it)
Changed = Callable[[dict[str, Any], Change | None], Any]
VALID: list[tuple[str, Change | None]] = [
    ("placed", None),
    ("payout", None),
    ("placed", (("data", "customer", "name"), "Søren Ærø 🚲")),
    ("placed", (("occurred_at",), "2000-01-01t00:30:00.123456789+0100")),
    ("placed", (("occurred_at",), "2099-12-31 23:59:59z")),
    ("placed", (("occurred_at",), "2026-11-20T10:00-01:30")),
]
REFUSED: list[tuple[str, Change | None]] = [
    ("placed", (("data", "lines", 0, "unit_price"), 12.5)),
    ("placed", (("data", "lines", 0, "quantity"), 2.0)),  # a float, if a whole one
    ("placed", (("data", "lines", 0, "prices_include_vat"), 1)),
    ("placed", (("schema_version",), "1")),
    ("placed", (("data", "lines", 0, "unitprice"), 1)),
    ("placed", (("data", "placed_at"), "2100-01-01T00:00:00Z")),
    ("placed", (("data", "placed_at"), "2026-11-20")),
    ("placed", (("occurred_at",), "1999-12-31T23:59:59+01:00")),
    ("placed", (("occurred_at",), "1999-12-31T23:30:00-01:00")),
    ("placed", (("occurred_at",), "2026-02-30T10:00:00Z")),
    ("placed", (("occurred_at",), "2026-11-20T10:00:00")),
    ("placed", (("occurred_at",), "2026-11-20T10:00:00Z\n")),
    ("placed", (("occurred_at",), "٢٠٢٦-11-20T10:00:00Z")),
    ("placed", (("occurred_at",), 1763630000)),
    ("placed", (("data", "total"), 10**15 + 1)),
    ("placed", (("data", "customer", "name"), "Mette\x00Hansen")),
    ("placed", (("data", "customer", "billing_address", "city"), "\udfff")),
    ("placed", (("type",), "order.unknown")),
    ("payout", (("data", "arrival_date"), "9999-01-01")),
    ("payout", (("backfill",), "yes")),
]


@pytest.fixture
def inbound(placed_event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Valid inbound events by name: what a shop sends."""
    stamped = ("id", "tenant_id", "received_at")
    placed = {k: v for k, v in placed_event.items() if k not in stamped}
    return {"placed": placed, "payout": copy.deepcopy(PAYOUT)}


def _errors(exc: ValidationError) -> str:
    """The errors as the doors answer them (a ValueError in them compares by identity)."""
    return json.dumps(exc.errors(include_url=False), default=repr)


def outcome(validate: Callable[[], Any]) -> Any:
    try:
        return validate()
    except ValidationError as exc:
        return _errors(exc)


def doors(body: bytes) -> list[tuple[Any, Any]]:
    """What each of ingest's doors makes of `body` (a Kafka record, a single POST, an event
    of a batch POST: parsed with the whole body, `checked_json` around the batch), each
    beside what the full validation makes of it (every model walking its input)."""
    batch = b'{"events":[' + body + b"]}"

    def in_batch() -> Any:
        with checked_json(batch):
            return parse_inbound(json.loads(batch)["events"][0])

    parsed = partial(json.loads, body)
    return [
        (
            outcome(lambda: parse_inbound_json(body)),
            outcome(lambda: TYPED_INBOUND_EVENT.validate_json(body)),
        ),
        (
            outcome(lambda: parse_inbound(parsed(), body)),
            outcome(lambda: TYPED_INBOUND_EVENT.validate_python(parsed())),
        ),
        (outcome(in_batch), outcome(lambda: TYPED_INBOUND_EVENT.validate_python(parsed()))),
    ]


@pytest.mark.parametrize(("name", "change"), VALID + REFUSED)
def test_every_door_accepts_and_refuses_as_the_full_validation(
    inbound: dict[str, dict[str, Any]], changed: Changed, name: str, change: Change | None
) -> None:
    raw = changed(inbound[name], change)
    escaped = json.dumps(raw).encode()  # NUL and surrogates as escapes
    verbatim = json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass")
    for body in (escaped, verbatim):
        for fast, full in doors(body):
            assert fast == full
        assert isinstance(fast, InboundEvent) == ((name, change) in VALID)


def _stamped_by_models(body: bytes, tenant: str, received_at: dt.datetime) -> Any:
    """What the Kafka door published before `stamped_json`: the models' way."""
    try:
        event = stamp(parse_inbound_json(body), tenant, received_at)
    except ValueError:  # pydantic's ValidationError is one
        return None
    return event_json(event), event.id, event.type


@pytest.mark.parametrize(("name", "change"), VALID + REFUSED)
def test_an_event_stamped_as_plain_dicts_is_the_models_one_byte_for_byte(
    inbound: dict[str, dict[str, Any]], changed: Changed, name: str, change: Change | None
) -> None:
    """`stamped_json` (the Kafka door's way: no models) publishes exactly the bytes, id and
    type the models' way does, and takes nothing the models refuse (None: the models'
    way then answers with its reason)."""
    raw = changed(inbound[name], change)
    escaped = json.dumps(raw).encode()
    verbatim = json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass")
    for body in (escaped, verbatim):
        stamped = stamped_json(body, "shop-a", RECEIVED)
        assert (stamped is not None) == ((name, change) in VALID and storable_json(body))
        if stamped is not None:
            assert stamped == _stamped_by_models(body, "shop-a", RECEIVED)


@pytest.mark.parametrize(
    ("tenant", "received_at", "body"),
    [
        ("shop a", RECEIVED, None),  # not a tenant id
        ("shop-a", dt.datetime(1970, 1, 1, tzinfo=dt.UTC), None),  # outside the window
        ("shop-a", RECEIVED.replace(tzinfo=None), None),  # naive
        ("shop-a", RECEIVED, {"schema_version": 2}),
        ("shop-a", RECEIVED, {"unknown": 1}),
        ("shop-a", RECEIVED, b"{"),
        ("shop-a", RECEIVED, b"\xff"),
    ],
)
def test_what_the_models_refuse_is_not_stamped_as_plain_dicts(
    inbound: dict[str, dict[str, Any]],
    tenant: str,
    received_at: dt.datetime,
    body: dict[str, Any] | bytes | None,
) -> None:
    if isinstance(body, bytes):
        text = body
    else:
        text = json.dumps(inbound["placed"] | (body or {})).encode()
    assert _stamped_by_models(text, tenant, received_at) is None
    assert stamped_json(text, tenant, received_at) is None


def typed_from_text(text: bytes, max_items: int = 500) -> list[InboundEvent] | None:
    """The batch route's way: the whole body typed from its text (`checked_json` around it)."""
    with checked_json(text):
        return parse_inbounds_json(text, "events", max_items)


@pytest.mark.parametrize(("name", "change"), VALID + REFUSED)
def test_a_batch_typed_from_its_text_holds_what_each_event_alone_makes_or_nothing(
    inbound: dict[str, dict[str, Any]], changed: Changed, name: str, change: Change | None
) -> None:
    """The batch route types a body's events from its text in one call where it can: each
    the very event the single door makes of it; where any is refused, or the text is not
    proven storable (an emoji's escaped surrogate pair), nothing (the route then sorts
    them out one by one, for each its own answer)."""
    raw = changed(inbound[name], change)
    escaped = json.dumps(raw).encode()
    verbatim = json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass")
    other = json.dumps(inbound["payout"]).encode()
    typed_any = False
    for body in (escaped, verbatim):
        alone = outcome(lambda: parse_inbound_json(body))  # noqa: B023 - called at once
        text = b'{"events": [' + other + b", " + body + b", " + body + b"]}"
        typed = typed_from_text(text)
        if isinstance(alone, InboundEvent) and storable_json(text):
            assert typed == [parse_inbound_json(other), alone, alone]
            typed_any = True
        else:
            assert typed is None
    assert typed_any == ((name, change) in VALID)


@pytest.mark.parametrize(
    "text",
    [
        b"[]",
        b'{"events": {}}',
        b"{}",
        b'{"events": []}',
        b'{"events": [PAYOUT], "tenant": "x"}',
        b'{"events": [PAYOUT, PAYOUT, PAYOUT]}',  # over max_items
        b'{"events": [PAYOUT]} x',
        b'{"events": [PAYOUT], "events": []}',  # json.loads keeps the last
        b'{"events": [{"type": "payout.paid", "data": NaN}]}',
        b'{"events": [PAYOUT, "\\u0000"]}',  # unstorable: checked one by one
    ],
)
def test_a_batch_outside_the_shape_is_not_typed_from_its_text(text: bytes) -> None:
    payout = json.dumps(PAYOUT).encode()
    assert typed_from_text(text.replace(b"PAYOUT", payout), max_items=2) is None


def test_a_batch_is_typed_from_its_text_only_where_it_proved_storable() -> None:
    text = b'{"events": [' + json.dumps(PAYOUT).encode() + b"]}"
    assert typed_from_text(text) == [parse_inbound_json(json.dumps(PAYOUT).encode())]
    assert parse_inbounds_json(text, "events", 500) is None  # outside `checked_json`
    duplicated = b'{"events": [], "events": [' + json.dumps(PAYOUT).encode() + b"]}"
    assert typed_from_text(duplicated) == typed_from_text(text)  # the last, as json.loads


@pytest.mark.parametrize(("name", "change"), VALID)
def test_a_stamped_event_is_the_event_model_construct_made(
    inbound: dict[str, dict[str, Any]], changed: Changed, name: str, change: Change | None
) -> None:
    parsed = parse_inbound_json(json.dumps(changed(inbound[name], change)).encode())
    event = stamp(parsed, "shop-a", RECEIVED)
    event_class: Any = type(event)
    before = event_class.model_construct(  # what stamp did before the fast path
        id=event.id,
        type=parsed.type,
        source=parsed.source,
        source_event_id=parsed.source_event_id,
        tenant_id="shop-a",
        occurred_at=parsed.occurred_at,
        received_at=RECEIVED,
        schema_version=1,
        backfill=parsed.backfill,
        data=parsed.data,
    )
    assert event == before
    assert event.model_fields_set == before.model_fields_set
    assert event_json(event) == SALES_EVENT.dump_json(before)
    assert parse_event(event_json(event)) == event


def test_a_stamped_event_is_published_byte_for_byte_as_before(
    inbound: dict[str, dict[str, Any]],
) -> None:
    event = stamp(parse_inbound_json(json.dumps(inbound["placed"]).encode()), "shop-a", RECEIVED)
    assert event_json(event) == PLACED_RECORD


@pytest.mark.parametrize(
    "occurred_at",
    [
        "2026-11-20T10:00:00+01:00",
        "2000-01-01t00:30:00.5+0100",
        "1999-12-31T23:30:00-01:00",
        "2100-01-01T00:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-11-20T10:00:00",
        "1763630000",
    ],
)
def test_a_consumer_parses_a_canonical_event_as_the_full_validation(
    placed_event: dict[str, Any], occurred_at: str
) -> None:
    placed_event["occurred_at"] = occurred_at
    record = json.dumps(placed_event).encode()
    assert outcome(lambda: parse_event(record)) == outcome(
        lambda: SALES_EVENT.validate_python(json.loads(record))
    )


CANONICAL = {"id": "0b0c5d2e-1111-5222-8333-444455556667", "tenant_id": "shop-a"}
# Canonical-only variants (what ingest stamps) and what only `upcast` refuses.
CANONICAL_CHANGES: list[tuple[str, Change | None]] = [
    ("placed", (("received_at",), "2026-11-20T10:00:01.5Z")),
    ("placed", (("schema_version",), 2)),
    ("placed", (("schema_version",), 1.0)),
    ("placed", (("schema_version",), True)),
    ("placed", (("schema_version",), "1")),
    ("placed", (("id",), 12)),
    ("placed", (("data",), None)),
]


def _full_parse(record: bytes) -> Any:
    """What `parse_event` answered before it read the text itself: `json.loads`, `upcast`,
    then every model walking its input."""
    try:
        return SALES_EVENT.validate_python(upcast(json.loads(record)))
    except ValidationError as exc:
        return _errors(exc)
    except ValueError as exc:
        return repr(exc)


def _parsed(record: bytes) -> Any:
    try:
        return parse_event(record)
    except ValidationError as exc:
        return _errors(exc)
    except ValueError as exc:
        return repr(exc)


@pytest.mark.parametrize(("name", "change"), VALID + REFUSED + CANONICAL_CHANGES)
def test_a_consumer_parses_every_variant_as_the_full_validation(
    placed_event: dict[str, Any],
    inbound: dict[str, dict[str, Any]],
    changed: Changed,
    name: str,
    change: Change | None,
) -> None:
    """`parse_event` reads a record's text with pydantic's JSON parser first: the same
    events, the same refusals with the same errors, the same `upcast` answer, as text with
    escapes and as verbatim UTF-8 (a str, as read back from PostgreSQL, too)."""
    canonical = placed_event if name == "placed" else {**CANONICAL, **inbound[name]}
    canonical = {**canonical, "received_at": "2026-11-20T10:00:01+01:00"}
    raw = changed(canonical, change)
    escaped = json.dumps(raw).encode()
    verbatim = json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass")
    for record in (escaped, verbatim):
        expected = _full_parse(record)
        assert _parsed(record) == expected
        if not isinstance(expected, str):  # an event (else its errors)
            assert SALES_EVENT.dump_json(parse_event(record)) == SALES_EVENT.dump_json(expected)
            assert parse_event(record.decode()) == expected
    valid = (name, change) in VALID or change == CANONICAL_CHANGES[0][1]
    assert (not isinstance(_parsed(escaped), str)) == valid


@hypothesis.settings(max_examples=500, deadline=None)
@hypothesis.given(
    raw=st.binary(max_size=40)
    | st.lists(st.sampled_from(["\\u0000", "\\ud83d", "\\uDFFF", "\\u00e6", "\x00", "a"]))
    .map("".join)
    .map(str.encode)
    | st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogatepass"))
)
def test_the_storable_scan_finds_what_the_one_pattern_found(raw: bytes) -> None:
    """`storable_json`'s three searches decide as the single pattern of all three did."""
    one_pattern = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})|\x00|\xed[\xa0-\xbf]")
    assert storable_json(raw) is (one_pattern.search(raw) is None)


def test_only_models_that_are_their_fields_are_taken_as_dicts() -> None:
    """`as_dicts` refuses, when the validator is built, a model whose validation or JSON
    is more than its fields' (a model validator would be handed a dict; a model
    serializer or a computed field would not be written)."""
    from pydantic import computed_field, model_serializer, model_validator

    from bogfoer_contracts.model import ContractModel, as_dicts, checked_text_schema

    class Fields(ContractModel):
        name: str

    class After(ContractModel):
        name: str

        @model_validator(mode="after")
        def _named(self) -> After:
            return self

    class Before(ContractModel):
        name: str

        @model_validator(mode="before")
        @classmethod
        def _named(cls, data: Any) -> Any:
            return data

    class Written(ContractModel):
        name: str

        @model_serializer
        def _written(self) -> str:
            return self.name

    class Computed(ContractModel):
        name: str

        @computed_field  # type: ignore[prop-decorator]
        @property
        def upper(self) -> str:
            return self.name.upper()

    class Holder(ContractModel):
        inner: After

    assert as_dicts(checked_text_schema(TypeAdapter(Fields)))["type"] == "typed-dict"
    for model in (After, Before, Written, Computed, Holder):
        with pytest.raises(TypeError, match="more than its fields"):
            as_dicts(checked_text_schema(TypeAdapter(model)))


def test_a_model_that_writes_its_json_by_its_own_settings_is_not_taken_as_dicts() -> None:
    """A model's JSON settings (`ser_json_*`) hold for its own fields only: a typed dict's
    serializer does not carry them to a nested one, which would write a duration, a time,
    bytes or an infinite number otherwise (a duration of one second `"PT1S"` where the
    model wrote `1.0`). So `as_dicts` refuses such a model when the validator is built."""
    from pydantic import ConfigDict

    from bogfoer_contracts.model import ContractModel, as_dicts, checked_text_schema

    class Lasting(ContractModel):
        model_config = ConfigDict(extra="forbid", frozen=True, ser_json_timedelta="float")
        took: dt.timedelta

    class Holder(ContractModel):
        lasting: Lasting

    raw = b'{"lasting": {"took": "PT1S"}}'
    adapter = TypeAdapter(Holder)
    assert adapter.dump_json(adapter.validate_json(raw)) == b'{"lasting":{"took":1.0}}'
    with pytest.raises(TypeError, match="own JSON settings"):
        as_dicts(checked_text_schema(adapter))
