"""A month of one shop's sales, the same every time: the shop's order events and its Stripe
account's history (payments, a refund, weekly payouts) with consistent ids and amounts.

The end-to-end backfill test sends it live to one tenant and backfills it into another, and
expects the same books; `make demo` could use it too. Amounts are integer øre throughout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bogfoer_devstack.sales import discount, goods, order, shipping, stripe_ref
from bogfoer_devstack.stripe_double import StripeWorld

DAY = 86_400
OCTOBER = dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC)
ShopEvent = tuple[str, str, str, dict[str, Any]]  # type, source_event_id, occurred_at, data


@dataclass
class Month:
    world: StripeWorld
    shop_events: list[ShopEvent] = field(default_factory=list)
    orders: int = 0

    @property
    def first_day(self) -> dt.date:
        return OCTOBER.date()


def _iso(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def october(api_key: str, seed: int = 10) -> Month:
    """Six orders in October 2026 — domestic (one with a discount), an EU business with a
    VAT number, an export to Norway, a Swedish consumer — each paid through Stripe; a partial
    refund; two payouts that empty the Stripe balance."""
    world = StripeWorld(api_key=api_key, start=int(OCTOBER.timestamp()), seed=seed)
    month = Month(world)
    sales: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
        ("1001", [goods("1", 12500, 2), shipping(4900)], {}),
        (
            "1002",
            [goods("1", 34900, vat_rate=0)],
            {"country": "DE", "postcode": "10115", "kind": "business", "vat_number": "DE123456789"},
        ),
        (
            "1003",
            [goods("1", 19900, vat_rate=0), shipping(4900, vat_rate=0)],
            {"country": "NO", "postcode": "0150"},
        ),
        ("1004", [goods("1", 19900, 3), discount(2500)], {}),
        ("1005", [goods("1", 12500), goods("2", 19900)], {}),
        ("1006", [goods("1", 34900)], {"country": "SE", "postcode": "11122"}),
    ]
    payments = {}
    for number, (order_id, lines, where) in enumerate(sales):
        world.wait(3 * DAY + 3600 * number)
        placed = world.wait(0)
        data = order(order_id, lines=lines, placed_at=_iso(placed), **where)
        paid = world.payment(data["total"], order_id=order_id)
        payments[order_id] = paid
        data["payments"] = [stripe_ref(paid.id)]
        month.shop_events.append(("order.placed", f"{order_id}-placed", _iso(placed), data))
        month.orders += 1
        if order_id == "1003":
            world.payout()
    # The customer of 1005 sends one of two things back.
    world.wait(2 * DAY)
    refund = world.refund(payments["1005"], 12500)
    refunded_at = _iso(refund.refund["created"])
    month.shop_events.append(
        (
            "order.refunded",
            "1005-refund",
            refunded_at,
            {
                "order_id": "1005",
                "refund_id": refund.refund["id"],
                "currency": "DKK",
                "amount": 12500,
                "lines": [{"line_id": "1", "quantity": 1}],
                "payment": stripe_ref(payments["1005"].id),
                "refunded_at": refunded_at,
            },
        )
    )
    world.payout()
    return month
