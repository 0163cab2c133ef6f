"""Daily summary posting (issue 11), end to end: a tenant in `daily_summary` mode books the
same sales as a tenant posting per order to the same trial balance, in a handful of
documents, each sale still in the ledger."""

from __future__ import annotations

import time
from typing import Any

from bogfoer_devstack.sales import (
    AT,
    captured,
    charge_txn,
    fee,
    goods,
    order,
    payout,
    refund_txn,
    shipping,
    stripe_ref,
)


def _sales(prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Three orders on one day (two zones, VAT that rounds per line), each paid through
    Stripe with a fee, one partly refunded, and the payout of it all."""
    events: list[tuple[str, str, dict[str, Any]]] = []
    txns = []
    for n, (lines, country) in enumerate(
        [
            ([goods("1", 4999, 3), shipping(4900)], "DK"),
            ([goods("1", 12500), goods("2", 1000, 2)], "DE"),
            ([goods("1", 8000, vat_rate=0)], "NO"),
        ]
    ):
        oid, pi, txn = f"{prefix}{n}", f"pi_{prefix}{n}", f"txn_{prefix}{n}"
        placed = order(oid, lines=lines, country=country, payments=[stripe_ref(pi)])
        total, fee_amount = placed["total"], placed["total"] * 15 // 1000 + 180
        paid = {
            "order_id": oid,
            "amount": total,
            "currency": "DKK",
            "payment": stripe_ref(pi),
            "paid_at": AT,
        }
        events += [
            ("order.placed", f"{oid}-placed", placed),
            ("payment.captured", pi, captured(pi, oid, total, txn)),
            ("payment.fee", f"{pi}-fee", fee(pi, fee_amount, txn)),
            ("order.paid", f"{oid}-paid", paid),
        ]
        txns.append(charge_txn(txn, total, fee_amount, f"ch_{oid}"))
    refunded = f"{prefix}0"
    refund = {
        "order_id": refunded,
        "refund_id": f"re_{refunded}",
        "currency": "DKK",
        "amount": 4999,
        "lines": [{"line_id": "1", "quantity": 1}],
        "payment": stripe_ref(f"pi_{refunded}"),
        "refunded_at": AT,
    }
    money_back = {
        "refund_id": f"re_{refunded}",
        "payment_id": f"pi_{refunded}",
        "order_id": refunded,
        "amount": 4999,
        "currency": "DKK",
        "balance_transaction_id": f"txn_re_{refunded}",
        "refunded_at": AT,
    }
    txns.append(refund_txn(f"txn_re_{refunded}", 4999, f"re_{refunded}"))
    events += [
        ("order.refunded", f"{refunded}-refund", refund),
        ("payment.refunded", f"re_{refunded}", money_back),
        ("payout.paid", f"po_{prefix}", payout(f"po_{prefix}", txns)),
    ]
    return events


def _send(tenant: Any, events: list[tuple[str, str, dict[str, Any]]]) -> None:
    for type_, source_id, data in events:
        response = tenant.shop.send(type_, source_id, AT, data)
        assert response.status_code == 202, response.text


def test_a_summary_day_books_the_same_trial_balance_as_per_order_in_fewer_documents(
    new_tenant: Any, operator: Any
) -> None:
    per_order = new_tenant(booking_mode="booked", trigger="order_paid")
    summary = new_tenant(booking_mode="booked", trigger="order_paid", posting_mode="daily_summary")
    _send(per_order, _sales("P"))
    _send(summary, _sales("S"))
    # 3 contacts, 3 invoices, 3 payments, a credit note, its refund payment, fees and payout.
    rows = operator.wait_settled(per_order.tenant_id, expected=13, timeout=45)
    assert {r["state"] for r in rows} == {"done"}, rows
    expected = per_order.trial_balance()
    assert expected

    # The summary tenant's day is over (its sales are of 20 November): it closes once quiet.
    deadline = time.monotonic() + 90
    while summary.trial_balance() != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert summary.trial_balance() == expected
    members = operator.wait_settled(summary.tenant_id, expected=len(rows), timeout=30)
    assert {r["state"] for r in members} == {"done"}, [
        (r["posting_key"], r["state"], r["detail"]) for r in members
    ]
    # Every sale is still its own posting in the ledger (done with the summary that booked
    # it), beside the summary documents themselves.
    sales = {
        r["posting_key"].split(":", 2)[2] for r in members if ":summary_" not in r["posting_key"]
    }
    per_sale = {r["posting_key"].split(":", 2)[2].replace("P", "S") for r in rows}
    # The same sales, on Dinero's collective contact instead of a contact per customer.
    assert {k for k in sales if not k.startswith("contact:")} == {
        k for k in per_sale if not k.startswith("contact:")
    }
    assert {k for k in sales if k.startswith("contact:")} == {"contact:collective"}
    summaries = [r for r in members if ":summary_" in r["posting_key"]]
    assert summaries, [r["posting_key"] for r in members]

    def documents(tenant: Any) -> int:
        found = tenant.sandbox.requests(tenant.org_id, method="POST")
        return sum(
            1 for e in found if e["status"] in (200, 201) and not e["path"].endswith("/book")
        )

    # Fewer documents: one invoice, one credit note, a payment per direction, the vouchers.
    assert documents(summary) < documents(per_order)
