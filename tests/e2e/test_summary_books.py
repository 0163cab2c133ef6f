"""Daily summary posting (issue 11), end to end: a tenant in `daily_summary` mode books a
month of the same sales as a tenant posting per order to the same trial balance, in a handful
of documents, each sale still in the ledger; and a summary day that is run again — its
documents' answers lost, its events sent again, a late sale for a closed day — books
nothing twice."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import httpx
import pytest

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


DAYS = (3, 12, 20)  # the month's days of sales (November 2026)


def _on(
    day: int, events: list[tuple[str, str, dict[str, Any]]]
) -> list[tuple[str, str, dict[str, Any]]]:
    """The same events happening on another day of the month (AT is the 20th)."""
    moved = json.dumps(events).replace(AT, AT.replace("-20T", f"-{day:02d}T"))
    return [(e[0], e[1], e[2]) for e in json.loads(moved)]


def _month(prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [e for day in DAYS for e in _on(day, _sales(f"{prefix}{day}-"))]


def _late_sale(prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    """An order of the 3rd that arrives after its day was closed: paid by card, no fee."""
    oid, pi = f"{prefix}late", f"pi_{prefix}late"
    placed = order(oid, lines=[goods("1", 20000)], payments=[stripe_ref(pi)])
    paid = {"order_id": oid, "amount": 20000, "currency": "DKK", "payment": stripe_ref(pi)}
    events = [
        ("order.placed", f"{oid}-placed", placed),
        ("payment.captured", pi, captured(pi, oid, 20000, f"txn_{oid}")),
        ("order.paid", f"{oid}-paid", paid | {"paid_at": AT}),
    ]
    return _on(3, events)


def _send(
    tenant: Any, events: list[tuple[str, str, dict[str, Any]]], *, backfill: bool = False
) -> None:
    for type_, source_id, data in events:
        at = data.get("placed_at") or data.get("captured_at") or AT
        response = tenant.shop.send(type_, source_id, at, data, backfill=backfill)
        assert response.status_code == 202, response.text


def _references_twice(tenant: Any) -> list[str]:
    """Our references Dinero holds on more than one invoice, credit note or voucher."""
    token = tenant.sandbox.password_token(tenant.org_id, tenant.api_key)
    base = f"{tenant.sandbox.base_url}/v1/{tenant.org_id}"
    counts: Counter[str] = Counter()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for path in ("invoices", "sales/creditnotes", "vouchers/manuel"):
            listed = http.get(
                f"{base}/{path}", params={"fields": "Guid,ExternalReference", "pageSize": 1000}
            )
            listed.raise_for_status()
            counts.update(d["ExternalReference"] for d in listed.json()["Collection"])
    return sorted(ref for ref, n in counts.items() if ref and n > 1)


@pytest.mark.timeout(240)
def test_a_summary_month_books_the_per_order_trial_balance_and_a_day_run_again_nothing_twice(
    new_tenant: Any, operator: Any
) -> None:
    per_order = new_tenant(booking_mode="booked", trigger="order_paid")
    summary = new_tenant(booking_mode="booked", trigger="order_paid", posting_mode="daily_summary")
    # The first answers Dinero gives the summary tenant are lost after it wrote (a timeout):
    # those documents are carried out again, with a look-up first.
    summary.sandbox.add_fault(kind="drop_after_commit", method="POST", org=summary.org_id, count=4)
    try:
        _send(per_order, _month("P"))
        _send(summary, _month("S"))
        # Per day 3 contacts, 3 invoices, 3 payments, a credit note, its refund payment, the
        # fees and the payout.
        rows = operator.wait_settled(per_order.tenant_id, expected=13 * len(DAYS), timeout=90)
        assert {r["state"] for r in rows} == {"done"}, rows
        expected = per_order.trial_balance()
        assert expected

        # The summary tenant's days are over (November): each closes once quiet, in order.
        deadline = time.monotonic() + 120
        while summary.trial_balance() != expected and time.monotonic() < deadline:
            time.sleep(0.5)
        assert summary.trial_balance() == expected
        # Each of the four lost answers was a write Dinero made (the look-ups found them).
        posted = summary.sandbox.requests(summary.org_id, method="POST")
        assert len([e for e in posted if e["fault"]]) == 4, posted
    finally:
        summary.sandbox.clear_faults()
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
    summaries = {r["posting_key"] for r in members if ":summary_" in r["posting_key"]}
    assert summaries, [r["posting_key"] for r in members]

    def documents(tenant: Any) -> int:
        found = tenant.sandbox.requests(tenant.org_id, method="POST")
        return sum(
            1 for e in found if e["status"] in (200, 201) and not e["path"].endswith("/book")
        )

    # Fewer documents: per day one invoice, one credit note, a payment per direction, the
    # vouchers.
    assert documents(summary) < documents(per_order)

    # The month is sent again (a backfill of the same events), then a sale of the 3rd, a
    # day long closed: the events sent again change nothing, the late sale joins the next
    # day closed, and the books stay the per-order books.
    _send(summary, _month("S"), backfill=True)
    _send(per_order, _late_sale("P"))
    _send(summary, _late_sale("S"))
    operator.wait_settled(per_order.tenant_id, expected=len(rows) + 3, settled=("done",))
    expected = per_order.trial_balance()
    deadline = time.monotonic() + 60
    while summary.trial_balance() != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert summary.trial_balance() == expected
    # Its invoice and payment, and the summary invoice and payment that book them: nothing
    # else, nothing twice.
    after = operator.wait_settled(
        summary.tenant_id, expected=len(members) + 4, settled=("done",), timeout=30
    )
    before = {m["posting_key"] for m in members}
    new = sorted(r["posting_key"] for r in after if r["posting_key"] not in before)
    assert len(after) == len(members) + 4, new
    assert _references_twice(summary) == []
