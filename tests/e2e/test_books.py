"""End to end, four services as processes on real Kafka and PostgreSQL against the
sandbox: every event type, every zone, each booking mode, asserted on the books.

Each test owns a tenant with a fresh Dinero organisation, so the trial balance it reads
is its own, and every expected figure is computed by hand in the test (øre).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bogfoer_contracts.ids import event_id
from bogfoer_devstack.sales import (
    AT,
    captured,
    charge_txn,
    discount,
    fee,
    goods,
    order,
    payout,
    refund_txn,
    shipping,
    stripe_ref,
)


def send_all(tenant: Any, events: list[tuple[str, str, dict[str, Any]]]) -> None:
    for type_, source_id, data in events:
        response = tenant.shop.send(type_, source_id, AT, data)
        assert response.status_code == 202, response.text


def test_domestic_sale_paid_by_stripe_with_fee_and_payout(new_tenant: Any, operator: Any) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_paid")
    placed = order(
        "A1", lines=[goods("1", 12500, 2), shipping(5000)], payments=[stripe_ref("pi_A1")]
    )
    send_all(
        tenant,
        [
            ("order.placed", "A1-placed", placed),
            ("payment.captured", "pi_A1", captured("pi_A1", "A1", 30000, "txn_A1")),
            ("payment.fee", "pi_A1-fee", fee("pi_A1", 465, "txn_A1")),
            (
                "order.paid",
                "A1-paid",
                {
                    "order_id": "A1",
                    "amount": 30000,
                    "currency": "DKK",
                    "payment": stripe_ref("pi_A1"),
                    "paid_at": AT,
                },
            ),
            ("payout.paid", "po_1", payout("po_1", [charge_txn("txn_A1", 30000, 465, "ch_A1")])),
        ],
    )
    rows = operator.wait_settled(tenant.tenant_id, expected=5)
    assert {r["kind"]: r["state"] for r in rows} == {
        "contact": "done",
        "invoice": "done",
        "payment": "done",
        "voucher": "done",
    }
    assert sorted(r["kind"] for r in rows) == [
        "contact",
        "invoice",
        "payment",
        "voucher",
        "voucher",
    ]
    # Invoice: Dr 53000 300,00 / Cr 1000 200,00, Cr 1350 40,00, Cr 64000 60,00.
    # Payment: Dr 55010 / Cr 53000 300,00. Fee: Dr 7220 / Cr 55010 4,65.
    # Payout: Dr 55000 / Cr 55010 295,35, so the Stripe beholdning ends at zero.
    assert tenant.trial_balance() == {
        1000: -20000,
        1350: -4000,
        64000: -6000,
        7220: 465,
        55000: 29535,
    }


def test_every_zone_lands_on_its_accounts(
    new_tenant: Any, operator: Any, http: httpx.Client
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    orders = [
        # Domestic with a discount: goods 2 x 100,00 - 20,00, shipping 49,00, all incl. 25 %.
        order("Z-DK", lines=[goods("1", 10000, 2), discount(2000), shipping(4900)]),
        # EU consumer below the distance-sales threshold: Danish VAT, domestic accounts.
        order("Z-EU-B2C", lines=[goods("1", 10000)], country="DE", postcode="10115"),
        # EU business with a valid VAT number: reverse charge, no VAT, rubrik B (1100).
        order(
            "Z-EU-B2B",
            lines=[goods("1", 10000, vat_rate=0), shipping(1000, vat_rate=0)],
            country="DE",
            postcode="10115",
            kind="business",
            vat_number="DE123456789",
        ),
        # Export outside the EU: no VAT, rubrik C (1255), shipping follows the goods.
        order(
            "Z-NO",
            lines=[goods("1", 20000, vat_rate=0), shipping(5000, vat_rate=0)],
            country="NO",
            postcode="0150",
        ),
        # Greenland and the Canary Islands are outside the EU VAT area: export.
        order("Z-GL", lines=[goods("1", 8000, vat_rate=0)], country="GL", postcode="3900"),
        order("Z-IC", lines=[goods("1", 6000, vat_rate=0)], country="ES", postcode="35001"),
    ]
    send_all(tenant, [("order.placed", f"{o['order_id']}-placed", o) for o in orders])
    rows = operator.wait_settled(tenant.tenant_id, expected=12)
    assert {r["state"] for r in rows} == {"done"}, rows
    totals = 22900 + 10000 + 11000 + 25000 + 8000 + 6000
    assert tenant.trial_balance() == {
        53000: totals,
        1000: -(16000 - 1600) - 8000,  # DK goods net of discount, EU B2C goods
        1350: -3920,  # DK shipping
        64000: -(4000 - 400 + 980) - 2000,
        1100: -11000,  # EU B2B goods and shipping
        1255: -(25000 + 8000 + 6000),  # Norway, Greenland, Canary Islands
    }
    # The EU B2B invoice carries the reverse-charge note with the buyer's VAT number.
    b2b = next(r for r in rows if r["posting_key"].endswith(":Z-EU-B2B"))
    token = tenant.sandbox.password_token(tenant.org_id, tenant.api_key)
    invoice = http.get(
        f"{tenant.sandbox.base_url}/v1/{tenant.org_id}/invoices/{b2b['dinero_guid']}",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert "reverse charge" in invoice["Comment"]
    assert "DE123456789" in invoice["Comment"]


def test_drafts_wait_for_the_bookkeeper_then_the_payment_follows(
    new_tenant: Any, operator: Any, http: httpx.Client
) -> None:
    tenant = new_tenant(booking_mode="draft", trigger="order_paid")
    placed = order("D1", lines=[goods("1", 50000)], payments=[stripe_ref("pi_D1")])
    send_all(
        tenant,
        [
            ("order.placed", "D1-placed", placed),
            ("payment.captured", "pi_D1", captured("pi_D1", "D1", 50000, "txn_D1")),
            (
                "order.paid",
                "D1-paid",
                {
                    "order_id": "D1",
                    "amount": 50000,
                    "currency": "DKK",
                    "payment": stripe_ref("pi_D1"),
                    "paid_at": AT,
                },
            ),
        ],
    )
    rows = operator.wait_settled(
        tenant.tenant_id, expected=3, settled=("done", "waiting", "failed", "held")
    )
    states = {r["kind"]: (r["state"], r["detail"]) for r in rows}
    assert states["invoice"][0] == "done"
    assert states["payment"][0] == "waiting"
    assert "draft" in states["payment"][1]
    assert tenant.trial_balance() == {}  # nothing is booked while the invoice is a draft

    # The bookkeeper books the draft in Dinero; the poster notices and pays it.
    invoice_guid = next(r["dinero_guid"] for r in rows if r["kind"] == "invoice")
    sandbox = tenant.sandbox
    token = sandbox.password_token(tenant.org_id, tenant.api_key)
    base = f"{sandbox.base_url}/v1/{tenant.org_id}/invoices/{invoice_guid}"
    auth = {"Authorization": f"Bearer {token}"}
    current = http.get(base, headers=auth).json()
    booked = http.post(f"{base}/book", json={"Timestamp": current["TimeStamp"]}, headers=auth)
    assert booked.status_code == 200, booked.text

    operator.wait_settled(tenant.tenant_id, expected=3)
    assert tenant.trial_balance() == {1000: -40000, 64000: -10000, 55010: 50000}


def test_booked_and_emailed_on_fulfilment_with_a_bank_payment(
    new_tenant: Any, operator: Any, http: httpx.Client
) -> None:
    tenant = new_tenant(
        booking_mode="booked_and_emailed",
        trigger="order_fulfilled",
        deposit_accounts={"stripe": 55010, "bank": 55000},
    )
    bank = {"provider": "bank", "reference": "F1-transfer", "method": "bank_transfer"}
    placed = order("F1", lines=[goods("1", 25000)], payments=[bank])
    send_all(
        tenant,
        [
            ("order.placed", "F1-placed", placed),
            (
                "order.paid",
                "F1-paid",
                {
                    "order_id": "F1",
                    "amount": 25000,
                    "currency": "DKK",
                    "payment": bank,
                    "paid_at": AT,
                },
            ),
        ],
    )
    send_all(tenant, [("order.fulfilled", "F1-shipped", {"order_id": "F1", "fulfilled_at": AT})])
    rows = operator.wait_settled(tenant.tenant_id, expected=3)
    assert {r["state"] for r in rows} == {"done"}
    # The fulfilment, not the payment before it, made the invoice.
    invoice = next(r for r in rows if r["kind"] == "invoice")
    detail = operator.posting(tenant.tenant_id, invoice["posting_key"])
    assert detail["command"]["source_event_ids"] == [
        event_id(tenant.tenant_id, "shopify", "F1-placed"),
        event_id(tenant.tenant_id, "shopify", "F1-shipped"),
    ]
    assert len(tenant.sandbox.emails(tenant.org_id)) == 1
    assert tenant.trial_balance() == {1000: -20000, 64000: -5000, 55000: 25000}


def test_full_and_partial_refunds_become_credit_notes_with_their_money(
    new_tenant: Any, operator: Any
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    partial = order(
        "R1",
        lines=[goods("1", 10000, 2), goods("2", 5000), shipping(5000)],
        payments=[stripe_ref("pi_R1")],
    )
    full = order("R2", lines=[goods("1", 20000)], payments=[stripe_ref("pi_R2")])
    send_all(
        tenant,
        [
            ("order.placed", "R1-placed", partial),
            ("payment.captured", "pi_R1", captured("pi_R1", "R1", 30000, "txn_R1")),
            ("order.placed", "R2-placed", full),
            ("payment.captured", "pi_R2", captured("pi_R2", "R2", 20000, "txn_R2")),
            # One of the two line-1 items comes back: 100,00 incl. VAT.
            (
                "order.refunded",
                "R1-refund",
                {
                    "order_id": "R1",
                    "refund_id": "re_R1",
                    "currency": "DKK",
                    "amount": 10000,
                    "lines": [{"line_id": "1", "quantity": 1}],
                    "payment": stripe_ref("pi_R1"),
                    "refunded_at": AT,
                },
            ),
            (
                "payment.refunded",
                "re_R1",
                {
                    "refund_id": "re_R1",
                    "payment_id": "pi_R1",
                    "order_id": "R1",
                    "amount": 10000,
                    "currency": "DKK",
                    "balance_transaction_id": "txn_re_R1",
                    "refunded_at": AT,
                },
            ),
            (
                "order.refunded",
                "R2-refund",
                {
                    "order_id": "R2",
                    "refund_id": "re_R2",
                    "currency": "DKK",
                    "amount": 20000,
                    "lines": [{"line_id": "1", "quantity": 1}],
                    "payment": stripe_ref("pi_R2"),
                    "refunded_at": AT,
                },
            ),
            (
                "payment.refunded",
                "re_R2",
                {
                    "refund_id": "re_R2",
                    "payment_id": "pi_R2",
                    "order_id": "R2",
                    "amount": 20000,
                    "currency": "DKK",
                    "balance_transaction_id": "txn_re_R2",
                    "refunded_at": AT,
                },
            ),
            (
                "payout.paid",
                "po_R",
                payout(
                    "po_R",
                    [
                        charge_txn("txn_R1", 30000, 0, "ch_R1"),
                        charge_txn("txn_R2", 20000, 0, "ch_R2"),
                        refund_txn("txn_re_R1", 10000, "re_R1"),
                        refund_txn("txn_re_R2", 20000, "re_R2"),
                    ],
                ),
            ),
        ],
    )
    # 2 contacts, 2 invoices, 2 payments, 2 credit notes, 2 refund payments, 1 payout.
    rows = operator.wait_settled(tenant.tenant_id, expected=11)
    assert {r["state"] for r in rows} == {"done"}, [(r["posting_key"], r["state"]) for r in rows]
    kinds = sorted(r["kind"] for r in rows)
    assert kinds.count("credit_note") == 2
    # Sold 300,00 + 200,00 incl. VAT, credited 100,00 + 200,00: 200,00 stays sold.
    # Revenue: R1 goods 200,00+50,00 → 1000 -200,00 net, shipping 1350 -40,00; less credit 80,00.
    assert tenant.trial_balance() == {
        1000: -(16000 + 4000) - 16000 + 8000 + 16000,
        1350: -4000,
        64000: -(4000 + 1000 + 1000) - 4000 + 2000 + 4000,
        55000: 20000,  # the payout: 500,00 in, 300,00 refunded
    }


def test_an_order_cancelled_before_invoicing_posts_nothing(new_tenant: Any, operator: Any) -> None:
    tenant = new_tenant(
        booking_mode="booked", trigger="order_paid", deposit_accounts={"bank": 55000}
    )
    placed = order("C1", lines=[goods("1", 10000)])
    send_all(
        tenant,
        [
            ("order.placed", "C1-placed", placed),
            ("order.cancelled", "C1-cancel", {"order_id": "C1", "reason": "customer"}),
            # A later order of the same tenant shows the pipeline kept going.
            ("order.placed", "C2-placed", order("C2", lines=[goods("1", 10000)])),
            (
                "order.paid",
                "C2-paid",
                {
                    "order_id": "C2",
                    "amount": 10000,
                    "currency": "DKK",
                    "payment": {"provider": "bank", "reference": "C2", "method": "transfer"},
                    "paid_at": AT,
                },
            ),
        ],
    )
    rows = operator.wait_settled(tenant.tenant_id, expected=3)
    assert not [r for r in rows if "C1" in r["posting_key"]]
    assert tenant.trial_balance() == {1000: -8000, 64000: -2000, 55000: 10000}


def test_sales_before_the_cutover_are_ignored_unless_a_backfill_asks_for_them(
    new_tenant: Any, operator: Any
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed", cutover="2026-11-21")
    old = order("B1", lines=[goods("1", 10000)])  # placed 2026-11-20
    new = order("B2", lines=[goods("1", 20000)])
    new["placed_at"] = "2026-11-22T09:00:00+01:00"
    send_all(tenant, [("order.placed", "B1-placed", old), ("order.placed", "B2-placed", new)])
    rows = operator.wait_settled(tenant.tenant_id, expected=2)
    assert not [r for r in rows if "B1" in r["posting_key"]]

    body = json.dumps(
        {
            "type": "order.placed",
            "source": "shopify",
            "source_event_id": "B1-placed",
            "occurred_at": AT,
            "backfill": True,
            "data": old,
        }
    ).encode()
    assert tenant.shop.send_raw(body).status_code == 202
    rows = operator.wait_settled(tenant.tenant_id, expected=4)
    assert {r["state"] for r in rows} == {"done"}
    assert tenant.trial_balance() == {53000: 30000, 1000: -24000, 64000: -6000}


def test_events_that_arrive_before_the_tenants_settings_are_booked_once_they_arrive(
    stack: Any, operator: Any, e2e_sandbox: Any, http: httpx.Client
) -> None:
    from bogfoer_devstack.shop import Shop

    tenant_id = "early-bird"
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    org = http.post(
        f"{e2e_sandbox.base_url}/_sandbox/orgs",
        json={"name": tenant_id, "deposit_accounts": [{"number": 55010, "name": "Stripe"}]},
    ).json()
    secret = "early-bird-signing-secret"
    http.put(
        f"{stack.url('ingest')}/v1/admin/tenants/{tenant_id}/credentials",
        json={"hmac_secret": secret},
        headers=admin,
    ).raise_for_status()
    shop = Shop(stack, http, tenant_id, secret)
    placed = order("EB1", lines=[goods("1", 10000)])
    assert shop.send("order.placed", "EB1-placed", AT, placed).status_code == 202
    time.sleep(2)
    assert operator.postings(tenant_id) == []  # no settings yet: nothing can be mapped

    http.put(
        f"{stack.url('poster')}/v1/tenants/{tenant_id}/dinero/api-key",
        json={"api_key": org["api_key"]},
        headers=admin,
    ).raise_for_status()
    settings = {
        "dinero_organization_id": org["id"],
        "cutover": "2026-01-01",
        "booking_mode": "booked",
        "trigger": "order_placed",
    }
    http.put(
        f"{stack.url('poster')}/v1/tenants/{tenant_id}/settings", json=settings, headers=admin
    ).raise_for_status()
    rows = operator.wait_settled(tenant_id, expected=2)
    assert {r["state"] for r in rows} == {"done"}
    balance = {k: v for k, v in e2e_sandbox.trial_balance(org["id"]).items() if v}
    assert balance == {53000: 10000, 1000: -8000, 64000: -2000}


def test_settings_naming_accounts_the_organisation_lacks_are_refused(
    stack: Any, e2e_sandbox: Any, http: httpx.Client
) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    org = http.post(f"{e2e_sandbox.base_url}/_sandbox/orgs", json={"name": "no-stripe"}).json()
    http.put(
        f"{stack.url('poster')}/v1/tenants/no-stripe/dinero/api-key",
        json={"api_key": org["api_key"]},
        headers=admin,
    ).raise_for_status()
    refused = http.put(
        f"{stack.url('poster')}/v1/tenants/no-stripe/settings",
        json={
            "dinero_organization_id": org["id"],
            "cutover": "2026-01-01",
            "accounts": {"goods_domestic": 1001},
        },  # 55010 (Stripe) is missing too
        headers=admin,
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["reason"] == "unknown_accounts"
    problems = {p["field"]: p for p in error["detail"]}
    assert set(problems) == {"accounts.goods_domestic", "deposit_accounts.stripe"}
    goods = problems["accounts.goods_domestic"]
    assert (goods["account"], goods["defaulted"]) == (1001, False)
    # Never sent: the refusal says it was the default, and how to fix it.
    stripe = problems["deposit_accounts.stripe"]
    assert (stripe["account"], stripe["defaulted"]) == (55010, True)
    assert "deposit_accounts was not sent" in stripe["message"]


def test_a_sales_account_whose_vat_code_contradicts_its_role_is_refused(
    stack: Any, e2e_sandbox: Any, http: httpx.Client
) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    org = http.post(
        f"{e2e_sandbox.base_url}/_sandbox/orgs",
        json={"name": "no-vat", "deposit_accounts": [{"number": 55010, "name": "Stripe"}]},
    ).json()
    http.put(
        f"{stack.url('poster')}/v1/tenants/no-vat/dinero/api-key",
        json={"api_key": org["api_key"]},
        headers=admin,
    ).raise_for_status()
    refused = http.put(
        f"{stack.url('poster')}/v1/tenants/no-vat/settings",
        json={
            "dinero_organization_id": org["id"],
            "cutover": "2026-01-01",
            "accounts": {"goods_domestic": 1050},  # "u/moms": consumer sales with no VAT
        },
        headers=admin,
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["reason"] == "account_vat_mismatch"
    (problem,) = error["detail"]
    assert (problem["field"], problem["account"]) == ("accounts.goods_domestic", 1050)
    assert "U25" in problem["message"]


def test_a_wrong_dinero_api_key_is_refused_when_it_is_given(
    stack: Any, e2e_sandbox: Any, http: httpx.Client
) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    org = http.post(f"{e2e_sandbox.base_url}/_sandbox/orgs", json={"name": "typo"}).json()
    refused = http.put(
        f"{stack.url('poster')}/v1/tenants/typo/dinero/api-key",
        json={"api_key": org["api_key"] + "-typo"},
        headers=admin,
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["reason"] == "dinero_refused_api_key"
    # Nothing was stored: the settings step still has no connection.
    settings = http.put(
        f"{stack.url('poster')}/v1/tenants/typo/settings",
        json={"dinero_organization_id": org["id"], "cutover": "2026-01-01"},
        headers=admin,
    )
    assert settings.status_code == 409
    accepted = http.put(
        f"{stack.url('poster')}/v1/tenants/typo/dinero/api-key",
        json={"api_key": org["api_key"]},
        headers=admin,
    )
    assert accepted.status_code == 204
