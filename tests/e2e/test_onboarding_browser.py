"""A shop owner connects their shop in a real browser (Debian's chromium, driven by
Playwright) against the Dinero sandbox's Visma Connect and the Stripe double: the one-time
link → consent (authorize with state and PKCE, `form_post` back to the callback) → the
organisation (the non-Pro one refused in words) → accounts (a VAT code that contradicts its
use warned at once) → the Stripe deposit account made in Dinero → the signing secret shown
once → the Stripe webhook registered through Stripe's API → booking, and a start on the
first of the month (its Stripe history fetched, the progress on the page) → activate.
Then a signed order and its Stripe payment (delivered by the double to the endpoint the
onboarding registered) end as booked documents in the organisation.

Screenshots go to `test-output/onboarding-browser/` (or `$BOGFOER_TEST_OUTPUT/…`).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Playwright, expect

from bogfoer_devstack.platform import Platform
from bogfoer_devstack.sales import goods, order, shipping, stripe_ref
from bogfoer_devstack.shop import Shop
from bogfoer_devstack.stripe_double import StripeDoubleClient, StripeWorld
from tests.e2e.browser import browser, screenshots


@pytest.mark.timeout(240)
def test_a_shop_owner_connects_their_shop_and_its_first_sale_is_booked(
    playwright: Playwright,
    stack: Any,
    operator: Any,
    http: httpx.Client,
    e2e_sandbox: Any,
    stripe_double: StripeDoubleClient,
    tmp_path: Path,
) -> None:
    shots = screenshots("onboarding-browser")
    tenant = f"butik-{secrets.token_hex(3)}"
    owner = f"ejer@{tenant}.test"
    sandbox_orgs = f"{e2e_sandbox.base_url}/_sandbox/orgs"
    pro = http.post(sandbox_orgs, json={"name": "Nordlys Keramik ApS", "connect_user": owner})
    hobby = http.post(
        sandbox_orgs, json={"name": "Nordlys Hobby", "is_pro": False, "connect_user": owner}
    )
    org, hobby_org = pro.json()["id"], hobby.json()["id"]
    key = f"rk_test_{tenant.replace('-', '_')}"
    stripe_double.load({"api_key": key})  # the shop's Stripe account, empty so far
    created = Platform(stack, http).create(tenant, owner_email=owner)
    portal = stack.url("portal")

    context = browser(playwright, tmp_path / "owner")
    page = context.new_page()
    try:
        # The link from the platform: looking at it spends nothing; Begin does.
        page.goto(created["link"]["url"])
        expect(page.locator("h1")).to_contain_text(f"Connect {tenant} to Bogfør")
        page.screenshot(path=shots / "1-link.png", full_page=True)
        page.click("#begin")
        expect(page).to_have_url(f"{portal}/portal/onboarding/dinero")

        # Visma Connect (the sandbox consents at once and posts the code back).
        page.click("#connect-dinero")
        expect(page).to_have_url(f"{portal}/portal/onboarding/organisation")
        expect(page.locator("tr.org-row")).to_have_count(2)
        page.check(f"#org-{hobby_org}")
        page.click("#choose-organisation")
        expect(page.locator(".problem").last).to_contain_text("no Dinero Pro subscription")
        page.screenshot(path=shots / "2-organisation-not-pro.png", full_page=True)
        page.check(f"#org-{org}")
        page.click("#choose-organisation")

        # Accounts: a goods account without VAT is warned about as soon as it is chosen.
        expect(page).to_have_url(f"{portal}/portal/onboarding/accounts")
        page.select_option("select[name=role_goods_domestic]", "1050")
        warning = page.locator("#warning-goods_domestic")
        expect(warning).to_contain_text("Account 1050 has no VAT in Dinero")
        expect(warning).to_contain_text("needs U25")
        page.screenshot(path=shots / "3-accounts-warning.png", full_page=True)
        page.select_option("select[name=role_goods_domestic]", "1000")
        expect(page.locator(".vat-warning")).to_have_count(0)
        page.click("#save-accounts")

        # The Stripe beholdning, made in Dinero on request.
        expect(page).to_have_url(f"{portal}/portal/onboarding/stripe_account")
        page.screenshot(path=shots / "4-stripe-account.png", full_page=True)
        page.click("#create-stripe-account")

        # The signing secret, shown this once.
        expect(page).to_have_url(f"{portal}/portal/onboarding/shop")
        expect(page.locator("#events-url")).to_have_text(
            f"{stack.url('ingest')}/v1/tenants/{tenant}/events"
        )
        page.click("#make-secret")
        signing_secret = page.locator("#signing-secret").inner_text()
        assert len(signing_secret) >= 40
        page.screenshot(path=shots / "5-signing-secret.png", full_page=True)
        page.click("#continue")
        expect(page.locator("#signing-secret")).to_have_count(0)

        # Stripe: the restricted key; the webhook endpoint registered through Stripe's API.
        expect(page).to_have_url(f"{portal}/portal/onboarding/stripe")
        page.fill("input[name=api_key]", key)
        page.click("#connect-stripe")
        expect(page.locator("#stripe-connected")).to_contain_text("we_")
        page.screenshot(path=shots / "6-stripe-connected.png", full_page=True)
        page.click("#continue")

        # Booked when the order is placed; from the first of this month (the history of
        # this month fetched from Stripe: none yet).
        page.check("input[name=booking_mode][value=booked]")
        page.check("input[name=trigger][value=order_placed]")
        page.click("#save-booking")
        expect(page).to_have_url(f"{portal}/portal/onboarding/start")
        page.check("input[name=mode][value=backfill]")
        first_of_month = page.locator("input[name=since]").input_value()
        page.click("#save-start")
        expect(page).to_have_url(f"{portal}/portal/onboarding/activate")
        expect(page.locator("#summary")).to_contain_text("55010")
        page.screenshot(path=shots / "7-activate.png", full_page=True)
        page.click("#activate")
        expect(page.locator("#active")).to_contain_text("Nordlys Keramik ApS")
        # The backfill's progress, polled by the page, until it is done.
        expect(page.locator("#backfill-done")).to_contain_text("100 %", timeout=30_000)
        expect(page.locator("#backfill-done")).to_contain_text("0 payments")
        page.screenshot(path=shots / "8-active.png", full_page=True)

        # The link was spent by Begin.
        page.goto(created["link"]["url"])
        expect(page.locator("#link-used")).to_be_visible()
    finally:
        context.close()

    # The shop's first sale: a signed order, and its Stripe payment as Stripe sends it.
    now = dt.datetime.now(dt.UTC)
    world = StripeWorld(api_key=key, start=int(now.timestamp()) - 600)
    paid = world.payment(29_900, order_id="B1", fee=629)
    stripe_double.load(world.objects())
    placed = order(
        "B1",
        lines=[goods("1", 12_500, 2), shipping(4_900)],
        payments=[stripe_ref(paid.id)],
        placed_at=now.isoformat(),
    )
    shop = Shop(stack, http, tenant, signing_secret)
    assert shop.send("order.placed", "B1-placed", now.isoformat(), placed).status_code == 202
    deliveries = stripe_double.deliver(key, [paid.events["charge.succeeded"]])
    assert [d["status"] for d in deliveries] == [200]

    danish_today = dt.datetime.now(ZoneInfo("Europe/Copenhagen")).date()
    assert first_of_month == danish_today.replace(day=1).isoformat()
    # Contact, invoice, payment: Stripe's fee is booked with the payout that settles it.
    rows = operator.wait_settled(tenant, expected=3)
    assert sorted((r["kind"], r["state"]) for r in rows) == [
        ("contact", "done"),
        ("invoice", "done"),
        ("payment", "done"),
    ]
    booked = {k: v for k, v in e2e_sandbox.trial_balance(org).items() if v != 0}
    assert booked == {
        1000: -20_000,
        1350: -3_920,
        64000: -5_980,
        55010: 29_900,  # the Stripe balance until its payout
    }
    # The invoice is booked (numbered) in Dinero, not a draft.
    (invoice,) = [r for r in rows if r["kind"] == "invoice"]
    assert invoice["dinero_number"] is not None
    assert re.fullmatch(r"\d+", str(invoice["dinero_number"]))
