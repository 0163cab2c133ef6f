"""mapper_decide: the mapper's pure decision against parsing the same events.

Workload: ORDERS orders over two tenants configured like the demo's (drafts on payment;
booked and e-mailed on fulfilment), in the six VAT zones. Each order has order.placed,
payment.captured, payment.fee, order.paid and order.fulfilled; every fifth also a partial
order.refunded and its payment.refunded; every 50 orders a payout.paid with their balance
transactions. The events are built as a shop sends them (`bogfoer_devstack.sales`), stamped
by `bogfoer_contracts.events.stamp` and serialised as they travel on `sales.events.v1`.

- `mapper_decide` (time): `rules.decide` for every event, in arrival order, carrying each
  order's `OrderState` along, against the baseline of `parse_event` on every event's JSON
  (what the mapper's handler must do anyway before it can decide). Median of REPEATS runs,
  interleaved with the baseline's. Target ratio <= 15: measured at about 6.5-7 when it was
  set, 2.1-2.7 after issue 9's rules work (decide copies the state's containers, validates the
  commands it builds without walking their text again, and checks totals, so a couple of
  parses' worth per event is expected). More than 15 means an accidental quadratic step (e.g.
  re-validating every state's whole event list per event) crept in.
- `mapper_state_memory` (tracemalloc peak): deciding the same stream from the raw bytes and
  keeping only the final `OrderState` of every order, payment and payout, against the peak of
  holding the parsed events alone. A state keeps its accepted events plus the commands and
  invoice lines it emitted. Target ratio <= 3: measured at about 1.35 here; more means
  states keep copies they should not.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import tracemalloc
from collections.abc import Iterable
from typing import Any

from bench.common import Result, cost_ratio, interleaved_seconds
from bogfoer_contracts.events import (
    SALES_EVENT,
    InboundEvent,
    SalesEvent,
    parse_event,
    stamp,
)
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_devstack import sales
from bogfoer_rules.policy import OrderState, decide, state_key

ORDERS = 600
MEMORY_ORDERS = 300
REPEATS = 5
TIME_TARGET = 15.0
MEMORY_TARGET = 3.0
AT = sales.AT
RECEIVED = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)

TENANTS: dict[str, dict[str, Any]] = {
    "nordlys-keramik": {"booking_mode": "draft", "trigger": "order_paid"},
    "fjord-cykler": {"booking_mode": "booked_and_emailed", "trigger": "order_fulfilled"},
}


def configs() -> dict[str, TenantConfig]:
    return {
        tenant: TenantConfig.model_validate(
            {
                "tenant_id": tenant,
                "version": 1,
                "updated_at": RECEIVED,
                "dinero_organization_id": 900001 + i,
                "cutover": dt.date(2026, 1, 1),
                "deposit_accounts": {"stripe": 55010},
                **choices,
            }
        )
        for i, (tenant, choices) in enumerate(TENANTS.items())
    }


def _placed(oid: str, n: int) -> dict[str, Any]:
    match n % 6:
        case 0:
            lines = [
                sales.goods("1", 24900, 2),
                sales.goods("2", 9900),
                sales.discount(5000),
                sales.shipping(4900),
            ]
            return sales.order(oid, lines=lines)
        case 1:
            lines = [sales.goods("1", 34900), sales.shipping(7500)]
            return sales.order(oid, lines=lines, country="DE", postcode="10115")
        case 2:
            lines = [sales.goods("1", 80000, 3, vat_rate=0), sales.shipping(12000, vat_rate=0)]
            return sales.order(
                oid,
                lines=lines,
                country="SE",
                postcode="11122",
                kind="business",
                vat_number="SE556677889901",
            )
        case 3:
            lines = [sales.goods("1", 45000, vat_rate=0), sales.shipping(9000, vat_rate=0)]
            return sales.order(oid, lines=lines, country="NO", postcode="0150")
        case 4:
            return sales.order(
                oid, lines=[sales.goods("1", 19900, vat_rate=0)], country="GL", postcode="3900"
            )
        case _:
            return sales.order(
                oid, lines=[sales.goods("1", 29900, vat_rate=0)], country="ES", postcode="35001"
            )


def inbound_bodies(orders: int, first: int = 0) -> list[tuple[str, bytes]]:
    """(tenant, body) in arrival order, each body what the shop or ingest's Stripe
    normaliser would POST / publish. `first`: the number of the first order (the replay
    benchmark builds a long stream in chunks)."""
    out: list[tuple[str, bytes]] = []

    def add(tenant: str, type_: str, source: str, sid: str, data: dict[str, Any]) -> None:
        body = {
            "type": type_,
            "source": source,
            "source_event_id": sid,
            "occurred_at": AT,
            "data": data,
        }
        out.append((tenant, json.dumps(body).encode()))

    tenants = list(TENANTS)
    pending: dict[str, list[dict[str, Any]]] = {t: [] for t in tenants}
    for n in range(first, first + orders):
        tenant = tenants[n % len(tenants)]
        oid = f"{n + 1000}"
        pi, txn, fee_amount = f"pi_{oid}", f"txn_{oid}", 175 + n % 50
        placed = _placed(oid, n // len(tenants))
        placed["payments"] = [sales.stripe_ref(pi)]
        total = placed["total"]
        add(tenant, "order.placed", "shopify", f"{oid}-placed", placed)
        add(
            tenant,
            "payment.captured",
            "stripe",
            f"{pi}-captured",
            sales.captured(pi, oid, total, txn),
        )
        add(tenant, "payment.fee", "stripe", f"{pi}-fee", sales.fee(pi, fee_amount, txn))
        paid = {
            "order_id": oid,
            "amount": total,
            "currency": "DKK",
            "payment": sales.stripe_ref(pi),
            "paid_at": AT,
        }
        add(tenant, "order.paid", "shopify", f"{oid}-paid", paid)
        add(
            tenant,
            "order.fulfilled",
            "shopify",
            f"{oid}-shipped",
            {"order_id": oid, "fulfilled_at": AT},
        )
        pending[tenant].append(sales.charge_txn(txn, total, fee_amount, pi))
        if n % 5 == 0:
            amount = placed["lines"][0]["unit_price"]
            refund = {
                "order_id": oid,
                "refund_id": f"re_{oid}",
                "currency": "DKK",
                "amount": amount,
                "lines": [{"line_id": "1", "quantity": 1}],
                "payment": sales.stripe_ref(pi),
                "refunded_at": AT,
            }
            add(tenant, "order.refunded", "shopify", f"{oid}-refund", refund)
            provider_refund = {
                "refund_id": f"re_{oid}",
                "payment_id": pi,
                "order_id": oid,
                "amount": amount,
                "currency": "DKK",
                "provider": "stripe",
                "balance_transaction_id": f"txn_re_{oid}",
                "refunded_at": AT,
            }
            add(tenant, "payment.refunded", "stripe", f"re_{oid}-refunded", provider_refund)
            pending[tenant].append(sales.refund_txn(f"txn_re_{oid}", amount, f"re_{oid}"))
        if (len(pending[tenant]) >= 50 or n >= first + orders - len(tenants)) and pending[tenant]:
            po = f"po_{tenant}_{n}"
            add(tenant, "payout.paid", "stripe", po, sales.payout(po, pending[tenant]))
            pending[tenant] = []
    return out


def canonical_events(orders: int) -> list[bytes]:
    """The events as they are on sales.events.v1 (stamped, serialised)."""
    return [
        SALES_EVENT.dump_json(stamp(InboundEvent.model_validate_json(body), tenant, RECEIVED))
        for tenant, body in inbound_bodies(orders)
    ]


def run_decide(events: Iterable[SalesEvent], cfg: dict[str, TenantConfig]) -> dict[str, OrderState]:
    states: dict[str, OrderState] = {}
    for event in events:
        key = f"{event.tenant_id}/{state_key(event)}"
        states[key] = decide(event, cfg[event.tenant_id], states.get(key), NOW).state
    return states


def _stats(events: list[SalesEvent], cfg: dict[str, TenantConfig]) -> tuple[int, int, int]:
    states: dict[str, OrderState] = {}
    commands = holds = 0
    for event in events:
        key = f"{event.tenant_id}/{state_key(event)}"
        decision = decide(event, cfg[event.tenant_id], states.get(key), NOW)
        states[key] = decision.state
        commands += len(decision.commands)
        holds += len(decision.holds)
    return len(states), commands, holds


def _peak(build: Any) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    try:
        kept = build()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, kept


def run() -> list[Result]:
    cfg = configs()
    raw = canonical_events(ORDERS)
    events = [parse_event(body) for body in raw]
    n_states, commands, holds = _stats(events, cfg)
    if holds:
        raise RuntimeError(f"the benchmark stream should book cleanly, got {holds} holds")

    parse_s, decide_s = interleaved_seconds(
        lambda: [parse_event(body) for body in raw], lambda: run_decide(events, cfg), REPEATS
    )

    small_raw = canonical_events(MEMORY_ORDERS)
    parsed_peak, _ = _peak(lambda: [parse_event(body) for body in small_raw])
    # The states are built from the raw bytes and the parsed events dropped as they go, so
    # what stays is what the states hold (events, emitted commands, invoice lines).
    state_peak, _ = _peak(lambda: run_decide((parse_event(b) for b in small_raw), cfg))
    return [
        Result(
            "mapper_decide",
            "s",
            parse_s,
            decide_s,
            cost_ratio(parse_s, decide_s),
            TIME_TARGET,
            f"{len(raw)} events, {n_states} states, {commands} commands; "
            "baseline parse_event of the same events",
        ),
        Result(
            "mapper_state_memory",
            "bytes",
            parsed_peak,
            state_peak,
            cost_ratio(parsed_peak, state_peak),
            MEMORY_TARGET,
            f"tracemalloc peak, {len(small_raw)} events; baseline holding the parsed events",
        ),
    ]
