"""Builders for the mapper's pure tests: a tenant config, orders and one event of each type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bogfoer_contracts.events import SALES_EVENT, SalesEvent
from bogfoer_contracts.ids import event_id
from bogfoer_contracts.postings import CreateVoucher, PostingCommand
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_rules.holds import Hold
from bogfoer_rules.policy import OrderState, decide, state_key

TENANT = "shop-a"
ORG = 123456
UTC = dt.UTC
T0 = dt.datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
NOW = dt.datetime(2025, 3, 15, 12, 0, tzinfo=UTC)


def config(**overrides: Any) -> TenantConfig:
    base: dict[str, Any] = {
        "tenant_id": TENANT,
        "version": 1,
        "updated_at": T0,
        "dinero_organization_id": ORG,
        "cutover": dt.date(2025, 1, 1),
    }
    return TenantConfig.model_validate(base | overrides)


def customer(
    country: str = "DK",
    *,
    postcode: str | None = "2100",
    city: str | None = None,
    kind: str = "person",
    vat_number: str | None = None,
    email: str | None = "Kunde@Example.DK ",
    name: str = "Kim Kunde",
) -> dict[str, Any]:
    return {
        "email": email,
        "name": name,
        "kind": kind,
        "vat_number": vat_number,
        "billing_address": {"country": country, "postcode": postcode, "city": city},
    }


def line(
    line_id: str,
    kind: str,
    unit_price: int,
    quantity: int = 1,
    *,
    vat_rate: int = 2500,
    incl: bool = True,
    description: str | None = None,
) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "kind": kind,
        "description": description or f"{kind} {line_id}",
        "quantity": quantity,
        "unit_price": unit_price,
        "vat_rate": vat_rate,
        "prices_include_vat": incl,
    }


def order(
    order_id: str = "1042",
    *,
    lines: list[dict[str, Any]] | None = None,
    total: int = 30000,
    vat_total: int = 6000,
    cust: dict[str, Any] | None = None,
    placed_at: dt.datetime = T0,
    payments: list[dict[str, Any]] | None = None,
    currency: str = "DKK",
) -> dict[str, Any]:
    """The doc's example order: 2 × T-shirt 125.00 + shipping 50.00 = 300.00, VAT 60.00."""
    return {
        "order_id": order_id,
        "order_number": f"#{order_id}",
        "placed_at": placed_at,
        "currency": currency,
        "customer": cust or customer(),
        "lines": lines
        if lines is not None
        else [line("l1", "goods", 12500, 2), line("l2", "shipping", 5000)],
        "total": total,
        "vat_total": vat_total,
        "payments": payments
        if payments is not None
        else [{"provider": "stripe", "reference": f"pi_{order_id}", "method": "card"}],
    }


def event(
    type_: str,
    data: dict[str, Any],
    *,
    source: str = "shopify",
    source_event_id: str | None = None,
    at: dt.datetime = T0,
    tenant: str = TENANT,
    backfill: bool = False,
) -> SalesEvent:
    sid = source_event_id or f"{type_}:{sorted(data.items())!r}"
    return SALES_EVENT.validate_python(
        {
            "id": event_id(tenant, source, sid),
            "type": type_,
            "source": source,
            "source_event_id": sid,
            "tenant_id": tenant,
            "occurred_at": at,
            "received_at": at + dt.timedelta(seconds=1),
            "backfill": backfill,
            "data": data,
        }
    )


def placed(o: dict[str, Any] | None = None, **kw: Any) -> SalesEvent:
    o = o or order()
    return event("order.placed", o, at=kw.pop("at", o["placed_at"]), **kw)


def paid(
    order_id: str = "1042",
    amount: int = 30000,
    *,
    provider: str = "stripe",
    reference: str | None = None,
    method: str = "card",
    at: dt.datetime = T0 + dt.timedelta(minutes=1),
    **kw: Any,
) -> SalesEvent:
    data = {
        "order_id": order_id,
        "amount": amount,
        "currency": "DKK",
        "payment": {
            "provider": provider,
            "reference": reference or f"pi_{order_id}",
            "method": method,
        },
        "paid_at": at,
    }
    return event("order.paid", data, at=at, **kw)


def fulfilled(
    order_id: str = "1042", at: dt.datetime = T0 + dt.timedelta(days=1), **kw: Any
) -> SalesEvent:
    return event("order.fulfilled", {"order_id": order_id, "fulfilled_at": at}, at=at, **kw)


def cancelled(
    order_id: str = "1042", at: dt.datetime = T0 + dt.timedelta(hours=2), **kw: Any
) -> SalesEvent:
    return event("order.cancelled", {"order_id": order_id, "reason": "customer"}, at=at, **kw)


def refunded(
    refund_id: str = "r1",
    amount: int = 12500,
    lines: list[dict[str, Any]] | None = None,
    *,
    order_id: str = "1042",
    payment: dict[str, Any] | None = None,
    at: dt.datetime = T0 + dt.timedelta(days=3),
    **kw: Any,
) -> SalesEvent:
    data = {
        "order_id": order_id,
        "refund_id": refund_id,
        "currency": "DKK",
        "amount": amount,
        "lines": lines if lines is not None else [{"line_id": "l1", "quantity": 1}],
        "payment": payment,
        "refunded_at": at,
    }
    return event("order.refunded", data, at=at, **kw)


def captured(
    payment_id: str = "pi_1042",
    amount: int = 30000,
    *,
    order_id: str | None = "1042",
    fee: int | None = None,
    method: str = "card",
    at: dt.datetime = T0 + dt.timedelta(seconds=30),
    **kw: Any,
) -> SalesEvent:
    data = {
        "payment_id": payment_id,
        "order_id": order_id,
        "amount": amount,
        "currency": "DKK",
        "method": method,
        "fee": fee,
        "captured_at": at,
    }
    return event("payment.captured", data, source="stripe", at=at, **kw)


def payment_refunded(
    refund_id: str = "re_1",
    amount: int = 12500,
    *,
    payment_id: str = "pi_1042",
    order_id: str | None = "1042",
    at: dt.datetime = T0 + dt.timedelta(days=3),
    **kw: Any,
) -> SalesEvent:
    data = {
        "refund_id": refund_id,
        "payment_id": payment_id,
        "order_id": order_id,
        "amount": amount,
        "currency": "DKK",
        "refunded_at": at,
    }
    return event("payment.refunded", data, source="stripe", at=at, **kw)


def fee(
    payment_id: str = "pi_1042",
    amount: int = 465,
    *,
    at: dt.datetime = T0 + dt.timedelta(minutes=5),
    balance_transaction_id: str | None = None,
    provider: str = "stripe",
    **kw: Any,
) -> SalesEvent:
    data = {
        "payment_id": payment_id,
        "amount": amount,
        "currency": "DKK",
        "provider": provider,
        "charged_at": at,
        "balance_transaction_id": balance_transaction_id,
    }
    return event("payment.fee", data, source="stripe", at=at, **kw)


def payout(
    payout_id: str = "po_1",
    amount: int = 29535,
    *,
    balance_transactions: list[dict[str, Any]] | None = None,
    arrival: dt.date = dt.date(2025, 3, 18),
    provider: str = "stripe",
    **kw: Any,
) -> SalesEvent:
    data = {
        "payout_id": payout_id,
        "amount": amount,
        "currency": "DKK",
        "provider": provider,
        "arrival_date": arrival,
        "balance_transactions": balance_transactions or [],
    }
    return event("payout.paid", data, source="stripe", at=T0 + dt.timedelta(days=4), **kw)


@dataclass
class Run:
    """What the mapper's handler would have done with a sequence of events."""

    states: dict[str, OrderState] = field(default_factory=dict)
    commands: list[PostingCommand] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    ignored: list[str | None] = field(default_factory=list)
    per_state: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def by_key(self) -> dict[str, PostingCommand]:
        return {c.posting_key: c for c in self.commands}

    def kinds(self) -> list[str]:
        return [
            f"voucher:{c.purpose}" if isinstance(c, CreateVoucher) else c.kind
            for c in self.commands
        ]

    def reasons(self) -> list[str]:
        return [h.reason for h in self.holds]

    def dumped(self) -> dict[str, dict[str, Any]]:
        return {c.posting_key: c.model_dump(mode="json") for c in self.commands}


def run(
    events: Iterable[SalesEvent],
    cfg: TenantConfig | None = None,
    *,
    now: dt.datetime = NOW,
    states: dict[str, OrderState] | None = None,
) -> Run:
    """Route each event to its state (like the handler), decide, and collect everything.

    States go through JSON between events, as they do through Postgres.
    """
    cfg = cfg or config()
    result = Run(states=dict(states or {}))
    for ev in events:
        key = state_key(ev)
        decision = decide(ev, cfg, result.states.get(key), now)
        result.states[key] = OrderState.model_validate_json(decision.state.model_dump_json())
        result.commands.extend(decision.commands)
        emitted = result.per_state.setdefault(key, {})
        for command in decision.commands:
            assert command.posting_key not in emitted, "a state emitted one key twice"
            emitted[command.posting_key] = command.model_dump(mode="json")
        result.holds.extend(decision.holds)
        result.ignored.append(decision.ignored)
    return result
