"""A shop's day of sales as the shop platform and Stripe report it: `make demo` plays a fixed
one, `make chaos` plays seeded random ones.

Orders come in the shapes a Danish webshop meets (domestic with shipping and a discount, EU
consumer, EU business with reverse charge, exports); each is paid by card through Stripe
(webhooks, and the objects ingest fetches from Stripe's API), then paid and fulfilled in the
shop; some are refunded (in Stripe and in the shop); a Stripe payout ends the day.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bogfoer_devstack.sales import AT, discount, goods, order, shipping, stripe_ref
from bogfoer_devstack.stripe_double import Payout, StripeWorld

# ("shop", (type, source_event_id, data)) or ("stripe", webhook event), in sending order.
Item = tuple[Literal["shop", "stripe"], Any]
Order = dict[str, Any]


def _domestic(oid: str, quantity: int) -> Order:
    return order(
        oid,
        lines=[goods("1", 24900, 2 * quantity), goods("2", 9900), discount(5000), shipping(4900)],
    )


def _eu_consumer(oid: str, quantity: int) -> Order:
    return order(
        oid,
        lines=[goods("1", 34900, quantity), shipping(7500)],
        country="DE",
        postcode="10115",
    )


def _eu_business(oid: str, quantity: int) -> Order:
    return order(
        oid,
        lines=[goods("1", 80000, 3 * quantity, vat_rate=0), shipping(12000, vat_rate=0)],
        country="SE",
        postcode="11122",
        kind="business",
        vat_number="SE556677889901",
    )


def _norway(oid: str, quantity: int) -> Order:
    return order(
        oid,
        lines=[goods("1", 45000, quantity, vat_rate=0), shipping(9000, vat_rate=0)],
        country="NO",
        postcode="0150",
    )


def _greenland(oid: str, quantity: int) -> Order:
    return order(
        oid, lines=[goods("1", 19900, quantity, vat_rate=0)], country="GL", postcode="3900"
    )


def _canary_islands(oid: str, quantity: int) -> Order:
    return order(
        oid, lines=[goods("1", 29900, quantity, vat_rate=0)], country="ES", postcode="35001"
    )


# Each shape's goods line "1" is what a refund gives back, one unit at a time.
SHAPES: tuple[tuple[str, Callable[[str, int], Order]], ...] = (
    ("domestic, multi-line with shipping and a discount", _domestic),
    ("EU consumer (DE), Danish VAT under the threshold", _eu_consumer),
    ("EU business (SE) with a VAT number: reverse charge", _eu_business),
    ("outside the EU (NO): export", _norway),
    ("Greenland: export", _greenland),
    ("Canary Islands (ES 35xxx): export", _canary_islands),
)


@dataclass(frozen=True)
class Refund:
    order_index: int
    units: int  # of goods line "1"


@dataclass
class DayOfSales:
    orders: list[tuple[str, Order]]  # (what it shows, the order)
    items: list[Item]
    payout: Payout
    refunds: int

    @property
    def postings(self) -> int:
        """Per order a contact, an invoice and its payment; per refund a credit note and the
        money back; the payout, and one voucher for the Stripe fees it settles."""
        return 3 * len(self.orders) + 2 * self.refunds + 2


def day_of_sales(
    world: StripeWorld, orders: list[tuple[str, Order]], refunds: list[Refund]
) -> DayOfSales:
    """The items of a day: each order placed, paid through Stripe, paid and fulfilled in
    the shop; then the refunds; then Stripe's payout of it all."""
    items: list[Item] = []
    payments = {}
    for _, placed in orders:
        oid = placed["order_id"]
        paid = world.payment(placed["total"], order_id=oid)
        payments[oid] = paid
        placed["payments"] = [stripe_ref(paid.id)]
        items.append(("shop", ("order.placed", f"{oid}-placed", placed)))
        items += [("stripe", event) for event in paid.events.values()]
        paid_data = {
            "order_id": oid,
            "amount": placed["total"],
            "currency": "DKK",
            "payment": stripe_ref(paid.id),
            "paid_at": AT,
        }
        items.append(("shop", ("order.paid", f"{oid}-paid", paid_data)))
        shipped = {"order_id": oid, "fulfilled_at": AT}
        items.append(("shop", ("order.fulfilled", f"{oid}-shipped", shipped)))
    for refund in refunds:
        placed = orders[refund.order_index][1]
        oid = placed["order_id"]
        line = next(line for line in placed["lines"] if line["line_id"] == "1")
        amount = line["unit_price"] * refund.units
        given_back = world.refund(payments[oid], amount)
        items += [("stripe", event) for event in given_back.events.values()]
        refunded = {
            "order_id": oid,
            "refund_id": given_back.refund["id"],
            "currency": "DKK",
            "amount": amount,
            "lines": [{"line_id": "1", "quantity": refund.units}],
            "payment": stripe_ref(payments[oid].id),
            "refunded_at": AT,
        }
        items.append(("shop", ("order.refunded", f"{oid}-refund", refunded)))
    payout = world.payout()
    items += [("stripe", event) for event in payout.events.values()]
    return DayOfSales(orders, items, payout, len(refunds))


def random_day(rng: random.Random, world: StripeWorld, prefix: str, orders: int) -> DayOfSales:
    """A day of `orders` orders of random shapes and sizes, about one in four refunded in
    part or in full, from `rng` (the same seed gives the same day)."""
    chosen = []
    refunds = []
    for n in range(orders):
        label, shape = rng.choice(SHAPES)
        quantity = rng.randint(1, 3)
        chosen.append((label, shape(f"{prefix}-{1001 + n}", quantity)))
        if rng.random() < 0.25:
            line = next(line for line in chosen[-1][1]["lines"] if line["line_id"] == "1")
            refunds.append(Refund(n, rng.randint(1, line["quantity"])))
    return day_of_sales(world, chosen, refunds)
