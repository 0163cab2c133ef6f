"""A month sent live and the same month backfilled give the same books.

One shop (tenant A, set up by an operator) lives through October: its platform sends each
order as it is placed and Stripe each webhook as it happens. Another (tenant B) onboards at
the end of the month through the portal's platform API and chooses "from 1 October": at
activation ingest fetches October from Stripe's list APIs (the local Stripe double) and the
platform sends its October orders again with `backfill: true`. On top, one of B's charges
also arrives as a live webhook, and the backfill is run a second time — nothing may be
booked twice. Both organisations' trial balances in Dinero must be equal.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from bogfoer_devstack.month import october
from bogfoer_devstack.platform import Platform
from bogfoer_devstack.shop import Shop
from bogfoer_devstack.stripe_double import StripeDoubleClient, sign

# contacts, invoices and payments for six orders; a credit note and its refund payment; two
# payouts, each with the one voucher of the Stripe fees it settles
POSTINGS = 6 * 3 + 2 + 2 * 2


def deliver_signed(http: httpx.Client, url: str, secret: str, event: dict[str, Any]) -> int:
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, secret)}
    return http.post(url, content=body, headers=headers).status_code


def wait_for_backfill(platform: Platform, onboarding_id: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    seen: list[tuple[str, int]] = []
    while time.monotonic() < deadline:
        job = platform.call("GET", f"/{onboarding_id}/backfill")
        seen.append((job["state"], job["percent"]))
        if job["state"] in ("done", "failed"):
            return job, seen
        time.sleep(0.3)
    raise TimeoutError(f"backfill not done: {seen[-5:]}")


@pytest.mark.timeout(300)
def test_a_month_backfilled_books_what_the_same_month_sent_live_booked(
    new_tenant: Any,
    operator: Any,
    stack: Any,
    http: httpx.Client,
    e2e_sandbox: Any,
    stripe_double: StripeDoubleClient,
) -> None:
    # --- A: October, live ---------------------------------------------------------------
    live = new_tenant(booking_mode="booked", trigger="order_placed", cutover="2026-10-01")
    live_month = october(live.stripe_api_key)
    stripe_double.load(live_month.world.objects())
    webhook_a = f"{stack.url('ingest')}/v1/tenants/{live.tenant_id}/webhooks/stripe"
    stripe_events = iter(live_month.world.events)
    for type_, source_id, at, data in live_month.shop_events:
        assert live.shop.send(type_, source_id, at, data).status_code == 202
        # Stripe's webhooks of what happened up to this order arrive as they happen.
        for event in stripe_events:
            assert deliver_signed(http, webhook_a, live.stripe_webhook_secret, event) == 200
            if event["type"] == "charge.succeeded":
                break
    for event in stripe_events:
        assert deliver_signed(http, webhook_a, live.stripe_webhook_secret, event) == 200
    live_rows = operator.wait_settled(live.tenant_id, expected=POSTINGS, timeout=120)
    assert {r["state"] for r in live_rows} == {"done"}, [
        (r["posting_key"], r["state"], r["detail"]) for r in live_rows if r["state"] != "done"
    ]

    # --- B: onboarded on 30 November through the platform API, from 1 October ------------
    tenant = f"backfilled-{live.tenant_id}"
    owner = f"owner@{tenant}.test"
    org = http.post(
        f"{e2e_sandbox.base_url}/_sandbox/orgs", json={"name": tenant, "connect_user": owner}
    ).json()["id"]
    key = f"rk_test_{tenant.replace('-', '_')}"
    month = october(key)
    stripe_double.load(month.world.objects())
    platform = Platform(stack, http)
    activated, secret = platform.onboard(
        tenant,
        owner_email=owner,
        organisation=org,
        stripe_api_key=key,
        trigger="order_placed",
        since=month.first_day,
    )
    oid = activated["id"]
    assert activated["progress"]["cutover"] == "2026-10-01"
    assert activated["next_step"] is None

    # The platform sends its October orders again, flagged as history.
    shop = Shop(stack, http, tenant, secret)
    for type_, source_id, at, data in month.shop_events:
        assert shop.send(type_, source_id, at, data, backfill=True).status_code == 202
    # One charge also arrives live now, through the endpoint the onboarding registered.
    first_charge = next(e for e in month.world.events if e["type"] == "charge.succeeded")
    delivered = stripe_double.deliver(key, [first_charge])
    assert [d["status"] for d in delivered] == [200]

    job, seen = wait_for_backfill(platform, oid)
    assert job["state"] == "done", job
    assert job["percent"] == 100
    # Progress, as the API showed it while polling, only ever went forward.
    assert [percent for _, percent in seen] == sorted(percent for _, percent in seen)
    assert (job["counts"]["charges"], job["counts"]["refunds"], job["counts"]["payouts"]) == (
        6,
        1,
        2,
    )
    assert job["counts"]["skipped"] == 0
    assert job["from"] == "2026-09-30T22:00:00Z"  # midnight in Copenhagen
    rows = operator.wait_settled(tenant, expected=POSTINGS, timeout=120)

    # The same backfill again (an operator, through ingest's admin API) books nothing new.
    again = http.post(
        f"{stack.url('ingest')}/v1/admin/tenants/{tenant}/stripe/backfills",
        json={"from": "2026-10-01"},
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    )
    assert again.status_code == 202, again.text
    second = again.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = http.get(
            f"{stack.url('ingest')}/v1/admin/tenants/{tenant}/stripe/backfills/{second}",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
        ).json()
        if state["state"] == "done":
            break
        time.sleep(0.3)
    assert state["state"] == "done", state
    assert state["counts"]["events"] == job["counts"]["events"]
    time.sleep(2)  # what the second run sent has passed the mapper
    rows = operator.postings(tenant)
    assert len(rows) == POSTINGS
    assert {r["state"] for r in rows} == {"done"}, [
        (r["posting_key"], r["state"], r["detail"]) for r in rows if r["state"] != "done"
    ]
    assert sorted(r["kind"] for r in rows) == sorted(r["kind"] for r in live_rows)

    backfilled = {k: v for k, v in e2e_sandbox.trial_balance(org).items() if v != 0}
    assert backfilled == live.trial_balance()
    assert sum(backfilled.values()) == 0
    assert backfilled[1100] == -34900  # the EU business sale, reverse charge
    assert 55010 not in backfilled  # the Stripe balance is emptied by the payouts
