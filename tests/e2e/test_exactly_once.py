"""Exactly once against an API without idempotency keys: crashes, lost responses,
duplicates and shuffled arrival all leave every document in Dinero exactly once."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx

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

Event = tuple[str, str, dict[str, Any]]


def _dinero(tenant: Any, http: httpx.Client, path: str, **params: str) -> Any:
    token = tenant.sandbox.password_token(tenant.org_id, tenant.api_key)
    response = http.get(
        f"{tenant.sandbox.base_url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return response.json()


def _count(tenant: Any, http: httpx.Client, resource: str, key: str) -> int:
    found = _dinero(
        tenant,
        http,
        f"/v1/{tenant.org_id}/{resource}",
        queryFilter=f"ExternalReference eq '{key}'",
        fields="Guid",
    )
    return len(found["Collection"])


def test_poster_killed_between_dinero_commit_and_recording_books_everything_once(
    new_tenant: Any, operator: Any, stack: Any, http: httpx.Client
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    org = tenant.org_id
    sandbox = tenant.sandbox
    # Dinero commits each of these writes, then the answer is lost (the connection drops);
    # booking the invoice commits and then never answers: the poster is killed meanwhile.
    sandbox.set_faults(
        [
            {
                "kind": "drop_after_commit",
                "method": "POST",
                "path": f"/v1/{org}/invoices",
                "org": org,
                "count": 1,
                "mode": "abort",
            },
            {
                "kind": "drop_after_commit",
                "method": "POST",
                "path": f"/v1/{org}/invoices/*/book",
                "org": org,
                "count": 1,
                "mode": "hang",
                "seconds": 60,
            },
            {
                "kind": "drop_after_commit",
                "method": "POST",
                "path": f"/v1/{org}/invoices/*/payments",
                "org": org,
                "count": 1,
                "mode": "abort",
            },
            {
                "kind": "drop_after_commit",
                "method": "POST",
                "path": f"/v1/{org}/vouchers/manuel",
                "org": org,
                "count": 1,
                "mode": "abort",
            },
        ]
    )
    poster = stack.services["poster"]
    try:
        placed = order(
            "K1", lines=[goods("1", 12500, 2), shipping(5000)], payments=[stripe_ref("pi_K1")]
        )
        for type_, source_id, data in [
            ("order.placed", "K1-placed", placed),
            ("payment.captured", "pi_K1", captured("pi_K1", "K1", 30000, "txn_K1")),
            ("payment.fee", "pi_K1-fee", fee("pi_K1", 465, "txn_K1")),
            # The payout books the fee (one voucher per payout) and moves the money.
            ("payout.paid", "po_K1", payout("po_K1", [charge_txn("txn_K1", 30000, 465, "ch_K1")])),
        ]:
            assert tenant.shop.send(type_, source_id, AT, data).status_code == 202

        deadline = time.monotonic() + 30
        while not sandbox.requests(org, method="POST", path_contains="/book"):
            assert time.monotonic() < deadline, "the poster never tried to book"
            time.sleep(0.1)
        poster.kill()  # SIGKILL: Dinero has booked the invoice, the poster recorded nothing
        poster.start()
        poster.wait_ready()

        rows = operator.wait_settled(tenant.tenant_id, expected=5, timeout=90)
    finally:
        sandbox.clear_faults()
    assert {r["state"] for r in rows} == {"done"}, [
        (r["posting_key"], r["state"], r["detail"]) for r in rows
    ]
    keys = {r["kind"]: r["posting_key"] for r in rows}
    invoice = next(r for r in rows if r["kind"] == "invoice")
    assert invoice["attempts"] >= 2  # it was retried after the crash / lost answers
    assert _count(tenant, http, "invoices", keys["invoice"]) == 1
    vouchers = [r["posting_key"] for r in rows if r["kind"] == "voucher"]
    assert len(vouchers) == 2  # the payout and its fees
    assert [_count(tenant, http, "vouchers/manuel", key) for key in vouchers] == [1, 1]
    payments = _dinero(tenant, http, f"/v2/{org}/invoices/{invoice['dinero_guid']}/payments")
    assert [p["ExternalReference"] for p in payments["Payments"]] == [keys["payment"]]
    contacts = _dinero(tenant, http, f"/v1/{org}/contacts", fields="ContactGuid")
    assert len(contacts["Collection"]) == 1
    assert tenant.trial_balance() == {
        1000: -20000,
        1350: -4000,
        64000: -6000,
        7220: 465,
        55000: 30000 - 465,  # the payout: the Stripe balance is back at zero
    }


def _day_of_sales() -> list[Event]:
    a = order("E1", lines=[goods("1", 12500, 2), shipping(5000)], payments=[stripe_ref("pi_E1")])
    b = order(
        "E2",
        lines=[goods("1", 40000)],
        country="NO",
        postcode="0150",
        payments=[stripe_ref("pi_E2")],
    )
    b["lines"][0]["vat_rate"] = 0
    b["vat_total"] = 0
    return [
        ("order.placed", "E1-placed", a),
        ("payment.captured", "pi_E1", captured("pi_E1", "E1", 30000, "txn_E1")),
        ("payment.fee", "pi_E1-fee", fee("pi_E1", 465, "txn_E1")),
        (
            "order.paid",
            "E1-paid",
            {
                "order_id": "E1",
                "amount": 30000,
                "currency": "DKK",
                "payment": stripe_ref("pi_E1"),
                "paid_at": AT,
            },
        ),
        ("order.placed", "E2-placed", b),
        ("payment.captured", "pi_E2", captured("pi_E2", "E2", 40000, "txn_E2")),
        (
            "order.paid",
            "E2-paid",
            {
                "order_id": "E2",
                "amount": 40000,
                "currency": "DKK",
                "payment": stripe_ref("pi_E2"),
                "paid_at": AT,
            },
        ),
        (
            "order.refunded",
            "E2-refund",
            {
                "order_id": "E2",
                "refund_id": "re_E2",
                "currency": "DKK",
                "amount": 40000,
                "lines": [{"line_id": "1", "quantity": 1}],
                "payment": stripe_ref("pi_E2"),
                "refunded_at": AT,
            },
        ),
        (
            "payment.refunded",
            "re_E2",
            {
                "refund_id": "re_E2",
                "payment_id": "pi_E2",
                "order_id": "E2",
                "amount": 40000,
                "currency": "DKK",
                "balance_transaction_id": "txn_re_E2",
                "refunded_at": AT,
            },
        ),
        (
            "payout.paid",
            "po_E",
            payout(
                "po_E",
                [
                    charge_txn("txn_E1", 30000, 465, "ch_E1"),
                    charge_txn("txn_E2", 40000, 0, "ch_E2"),
                    refund_txn("txn_re_E2", 40000, "re_E2"),
                ],
            ),
        ),
    ]


def test_every_event_twice_and_shuffled_gives_the_same_books_as_once_in_order(
    new_tenant: Any, operator: Any
) -> None:
    once = new_tenant(booking_mode="booked", trigger="order_paid")
    twice = new_tenant(booking_mode="booked", trigger="order_paid")
    events = _day_of_sales()
    shuffled = events * 2
    random.Random(20261125).shuffle(shuffled)
    for tenant, stream in ((once, events), (twice, shuffled)):
        for type_, source_id, data in stream:
            assert tenant.shop.send(type_, source_id, AT, data).status_code == 202

    # 2 contacts, 2 invoices, 2 payments, 1 fee, 1 credit note, 1 refund payment, 1 payout
    rows_once = operator.wait_settled(once.tenant_id, expected=10)
    rows_twice = operator.wait_settled(twice.tenant_id, expected=10)
    assert {r["state"] for r in rows_once} == {"done"}
    assert {r["state"] for r in rows_twice} == {"done"}

    def shape(rows: list[dict[str, Any]], tenant_id: str) -> list[tuple[str, str, int | None]]:
        return sorted(
            (r["kind"], r["posting_key"].replace(tenant_id, "T"), r["amount_minor"]) for r in rows
        )

    assert shape(rows_once, once.tenant_id) == shape(rows_twice, twice.tenant_id)
    expected = {1000: -20000, 1350: -4000, 64000: -6000, 7220: 465, 55000: 30000 - 465}
    assert once.trial_balance() == expected
    assert twice.trial_balance() == expected
