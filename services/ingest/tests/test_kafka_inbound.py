"""Ingest's Kafka door publishes, record for record and byte for byte, what it published when
each record was typed into models, stamped and dumped (before `stamped_json`, issue 9):
the same values, keys and headers on `sales.events.v1`, the same dead letters with the same
reasons and details, the same counts — for valid events of every type and every kind of
record the door refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from bogfoer_contracts.events import (
    EVENT_TYPES,
    event_json,
    parse_inbound_json,
    stamp,
    stamped_json,
)
from bogfoer_contracts.topics import INGEST_INBOUND, SALES_EVENTS, key_for
from bogfoer_ingest import kafka_inbound
from bogfoer_ingest.metrics import events_via
from bogfoer_kit.consumer import Handler, Record, TenantBatch

AT = "2026-11-20T10:00:00+01:00"
MS = 1_795_600_000_000  # 2026-11-24
PAYMENT = {"provider": "stripe", "reference": "pi_1"}
ADDRESS = {"country": "DK", "postcode": "8000", "city": "Aarhus C"}
LINE = {
    "line_id": "k1",
    "kind": "goods",
    "description": "Kaffe",
    "quantity": 3,
    "unit_price": 8000,
    "vat_rate": 2500,
}
# The `data` of each event type: its required fields only, then with every optional one.
DATA: dict[str, list[dict[str, Any]]] = {
    "order.placed": [
        {
            "order_id": "1",
            "placed_at": AT,
            "currency": "DKK",
            "customer": {"name": "Mette", "billing_address": {"country": "DK"}},
            "lines": [LINE],
            "total": 24000,
            "vat_total": 4800,
        },
        {
            "order_id": "2",
            "order_number": "#2",
            "placed_at": "2026-11-20T09:00:00.5Z",
            "currency": "EUR",
            "customer": {
                "email": "a@example.de",
                "name": "Søren Ærø 🚲",
                "kind": "business",
                "vat_number": "DE123456789",
                "billing_address": ADDRESS | {"street": "Gade 1", "name": "Firma"},
                "shipping_address": {"country": "DE"},
            },
            "lines": [LINE, LINE | {"line_id": "2", "sku": "X", "prices_include_vat": False}],
            "total": 55000,
            "vat_total": 10000,
            "payments": [PAYMENT | {"method": "mobilepay"}],
        },
    ],
    "order.paid": [
        {"order_id": "1", "amount": 100, "currency": "DKK", "payment": PAYMENT, "paid_at": AT}
    ],
    "order.fulfilled": [{"order_id": "1", "fulfilled_at": AT}],
    "order.cancelled": [{"order_id": "1"}, {"order_id": "1", "reason": "kunden fortrød"}],
    "order.refunded": [
        {"order_id": "1", "refund_id": "r1", "currency": "DKK", "amount": 100, "refunded_at": AT},
        {
            "order_id": "1",
            "refund_id": "r2",
            "currency": "DKK",
            "amount": 100,
            "lines": [{"line_id": "1", "quantity": 1}],
            "payment": PAYMENT,
            "reason": "retur",
            "refunded_at": AT,
        },
    ],
    "payment.captured": [
        {"payment_id": "pi_1", "amount": 100, "currency": "DKK", "captured_at": AT},
        {
            "payment_id": "pi_1",
            "order_id": "1",
            "amount": 100,
            "currency": "DKK",
            "method": "card",
            "provider": "stripe",
            "balance_transaction_id": "txn_1",
            "fee": 3,
            "captured_at": AT,
        },
    ],
    "payment.refunded": [
        {
            "refund_id": "re_1",
            "payment_id": "pi_1",
            "amount": 100,
            "currency": "DKK",
            "refunded_at": AT,
        }
    ],
    "payment.fee": [
        {"payment_id": "pi_1", "amount": 3, "currency": "DKK", "charged_at": AT},
        {
            "payment_id": "pi_1",
            "amount": 3,
            "currency": "DKK",
            "balance_transaction_id": "txn_1",
            "description": "Stripe fee",
            "charged_at": AT,
        },
    ],
    "payout.paid": [
        {"payout_id": "po_1", "amount": 100, "currency": "DKK", "arrival_date": "2026-11-23"},
        {
            "payout_id": "po_2",
            "amount": 100,
            "currency": "DKK",
            "arrival_date": "2026-11-23",
            "balance_transactions": [
                {"id": "txn_1", "reporting_category": "charge", "amount": 103, "net": 100},
                {"id": "txn_2", "reporting_category": "fee", "amount": -3, "fee": 0, "net": -3},
            ],
        },
    ],
}


def inbound(type_: str, data: dict[str, Any], n: int, **envelope: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "source": "shopify",
        "source_event_id": f"{type_}-{n}",
        "occurred_at": AT,
        "data": data,
        **envelope,
    }


def valid() -> list[dict[str, Any]]:
    events = [
        inbound(type_, data, n)
        for type_, variants in DATA.items()
        for n, data in enumerate(variants)
    ]
    assert {e["type"] for e in events} == set(EVENT_TYPES)
    first = events[0]
    return [
        *events,
        first | {"backfill": True, "schema_version": 1, "source_event_id": "b"},
        first | {"occurred_at": "2000-01-01t00:30:00.123456789+0100", "source_event_id": "t"},
        first | {"source": 'a "quoted" \\ source\n', "source_event_id": "ø/🚲"},
    ]


def refused() -> list[dict[str, Any]]:
    first = inbound("order.placed", DATA["order.placed"][0], 0)
    line = first["data"]["lines"][0]
    return [
        first | {"schema_version": 2},  # stamp's ValueError
        first | {"schema_version": True},
        first | {"backfill": "yes"},
        first | {"occurred_at": "1999-12-31T23:59:59+01:00"},
        first | {"occurred_at": 1763630000},
        first | {"type": "order.unknown"},
        first | {"unknown": 1},
        first | {"source_event_id": "a\x00b"},  # NUL (escaped, and raw below)
        first | {"source_event_id": "\udfff"},  # a lone surrogate
        first | {"data": first["data"] | {"lines": [line | {"unit_price": 12.5}]}},
        first | {"data": first["data"] | {"customer": {"name": "x\x00"}}},
        {k: v for k, v in first.items() if k != "source"},
    ]


def values() -> list[bytes]:
    """Each event as a platform may write it: JSON with escapes, and verbatim UTF-8."""
    out: list[bytes] = []
    for event in valid() + refused():
        out.append(json.dumps(event).encode())
        out.append(json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    first = json.dumps(valid()[0]).encode()
    return [
        *out,
        b"",
        b"{",
        b"\xff",
        b"null",
        b"[]",
        b"\xef\xbb\xbf" + first,  # a byte-order mark
        first + b" x",
        first + b" \n",
        first[:-1] + b', "type": "order.paid"}',  # the key twice
    ]


class _Subscribing:
    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def subscribe(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler


class _Tenants:
    def __init__(self, known: set[str]) -> None:
        self.known = known

    async def get(self, tenant: str) -> object | None:
        return object() if tenant in self.known else None


def by_models(counted: dict[str, Any]) -> Handler:
    """The door as it was for a known tenant: every record typed into models, stamped and
    dumped (the unknown tenant's records are dead-lettered before any of this)."""

    async def on_inbound(batch: TenantBatch) -> None:
        key = key_for(batch.tenant)
        for record in batch.records:
            try:
                event = stamp(parse_inbound_json(record.value), batch.tenant, record.received_at)
            except (ValidationError, ValueError) as exc:
                batch.dead_letter(record, "invalid_event", str(exc))
                continue
            batch.publish(
                SALES_EVENTS,
                event_json(event),
                key=key,
                headers={"content-type": "application/json", "x-event-id": event.id},
                cause=record,
            )
            batch.count(counted[event.type])

    return on_inbound


KNOWN = {"shop-a", "shop-b", "shop c"}  # "shop c": known, but no tenant id


def batches() -> list[TenantBatch]:
    out: list[TenantBatch] = []
    offset = 0
    trace = (("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),)
    for tenant in ("shop-a", "shop-b", "shop c", "nobody"):
        records: list[Record] = []
        for n, value in enumerate(values()):
            headers = trace if n % 3 == 0 else ()
            stamp_ms = 0 if (tenant, n) == ("shop-b", 1) else MS + n // 4  # 1970: refused
            records.append(
                Record(INGEST_INBOUND, 0, offset, key_for(tenant), value, headers, stamp_ms)
            )
            offset += 1
        out.append(TenantBatch(tenant, records))
    return out


def outcome(batch: TenantBatch) -> tuple[Any, ...]:
    """What a handler made of a batch: each record published (value, key, headers, which
    record it follows from), each dead letter, each count."""

    def sent(out: Any) -> tuple[Any, ...]:
        headers = {k: v for k, v in out.headers.items() if k != "x-dead-lettered-at"}
        return (out.topic, out.value, out.key, headers, out.cause.position)

    return (
        [sent(out) for out in batch.outgoing],
        {position: sent(out) for position, out in batch.dead.items()},
        batch.counts,
    )


async def test_the_door_publishes_and_dead_letters_exactly_what_the_models_way_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed_as_dicts: list[bool] = []

    def counted(raw: bytes, tenant: str, received_at: Any) -> Any:
        stamped = stamped_json(raw, tenant, received_at)
        typed_as_dicts.append(stamped is not None)
        return stamped

    monkeypatch.setattr(kafka_inbound, "stamped_json", counted)
    subscribing = _Subscribing()
    kafka_inbound.register(subscribing, _Tenants(KNOWN))  # type: ignore[arg-type]
    door = subscribing.handlers["inbound"]
    before = by_models(events_via("kafka"))
    reasons: set[str] = set()
    published = 0
    for now, then in zip(batches(), batches(), strict=True):
        await door(now)
        if now.tenant in KNOWN:
            await before(then)
            assert outcome(now) == outcome(then)
        else:
            assert not now.outgoing
            assert {out.headers["x-dlq-reason"] for out in now.dead.values()} == {"unknown_tenant"}
            assert len(now.dead) == len(now.records)
        published += len(now.outgoing)
        reasons |= {out.headers["x-dlq-reason"] for out in now.dead.values()}
    # Every valid event, as escapes and verbatim, and one with trailing whitespace, for
    # shop-a and shop-b (its record of 1970 refused); most without models.
    assert published == 2 * (2 * len(valid()) + 1) - 1
    assert sum(typed_as_dicts) >= 2 * len(valid())
    assert reasons == {"invalid_event", "unknown_tenant"}
