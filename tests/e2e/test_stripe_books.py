"""Stripe webhooks, verified and normalised (fees and payout contents fetched from the
Stripe API double in the pipeline), booked into Dinero next to the shop's own events."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bogfoer_contracts.topics import INGEST_RAW
from bogfoer_devstack.sales import AT, goods, order, shipping, stripe_ref
from bogfoer_devstack.stripe_double import StripeDoubleClient, StripeWorld, sign
from tests.e2e.conftest import kafka_records


def deliver(http: httpx.Client, stack: Any, tenant: Any, event: dict[str, Any]) -> httpx.Response:
    body = json.dumps(event).encode()
    return http.post(
        f"{stack.url('ingest')}/v1/tenants/{tenant.tenant_id}/webhooks/stripe",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, tenant.stripe_webhook_secret),
        },
    )


def test_stripe_payment_fee_refund_and_payout_from_webhooks(
    new_tenant: Any,
    operator: Any,
    stack: Any,
    http: httpx.Client,
    stripe_double: StripeDoubleClient,
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    world = StripeWorld(api_key=tenant.stripe_api_key)
    paid = world.payment(30000, order_id="S1", fee=465)
    refund = world.refund(paid, 12500)  # one of the two T-shirts
    payout = world.payout()
    stripe_double.load(world.objects())

    placed = order(
        "S1", lines=[goods("1", 12500, 2), shipping(5000)], payments=[stripe_ref(paid.id)]
    )
    assert tenant.shop.send("order.placed", "S1-placed", AT, placed).status_code == 202
    for event in world.events:
        response = deliver(http, stack, tenant, event)
        assert response.status_code == 200, response.text
    # Stripe retries deliveries: the same webhook again is answered 200 and changes nothing.
    assert deliver(http, stack, tenant, world.events[0]).status_code == 200
    refund_line = {
        "order_id": "S1",
        "refund_id": refund.refund["id"],
        "currency": "DKK",
        "amount": 12500,
        "lines": [{"line_id": "1", "quantity": 1}],
        "payment": stripe_ref(paid.id),
        "refunded_at": AT,
    }
    assert tenant.shop.send("order.refunded", "S1-refund", AT, refund_line).status_code == 202

    # contact, invoice, payment, fee, credit note, refund payment, payout
    rows = operator.wait_settled(tenant.tenant_id, expected=7)
    assert {r["state"] for r in rows} == {"done"}, [
        (r["posting_key"], r["state"], r["detail"]) for r in rows if r["state"] != "done"
    ]
    net = 30000 - 465 - 12500
    assert payout.payout["amount"] == net
    # Sold 300,00, credited 125,00 (one T-shirt): revenue 100,00 + shipping 40,00 left.
    assert tenant.trial_balance() == {
        1000: -20000 + 10000,
        1350: -4000,
        64000: -6000 + 2500,
        7220: 465,
        55000: net,
    }


def test_a_webhook_with_a_bad_signature_is_refused_and_nothing_is_stored(
    new_tenant: Any,
    stack: Any,
    http: httpx.Client,
    kafka_bootstrap: str,
    stripe_double: StripeDoubleClient,
) -> None:
    tenant = new_tenant()
    world = StripeWorld(api_key=tenant.stripe_api_key)
    world.payment(1000, order_id="X1")
    stripe_double.load(world.objects())
    body = json.dumps(world.events[0]).encode()
    url = f"{stack.url('ingest')}/v1/tenants/{tenant.tenant_id}/webhooks/stripe"
    response = http.post(
        url,
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, "whsec_wrong")},
    )
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "bad_signature"
    # The same webhook, correctly signed, is stored: only that one is on the raw topic.
    good = http.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, tenant.stripe_webhook_secret),
        },
    )
    assert good.status_code == 200
    raw = [
        r
        for r in kafka_records(kafka_bootstrap, INGEST_RAW, tenant.tenant_id)
        if dict(r.headers).get("x-source") == b"stripe"
    ]
    assert len(raw) == 1
