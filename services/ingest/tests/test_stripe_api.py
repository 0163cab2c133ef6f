"""StripeApi against the Stripe double as a real process: reads, pagination, error classes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bogfoer_contracts.events import PaymentCaptured, PayoutPaid
from bogfoer_devstack.stripe_double import API_VERSION, StripeDoubleClient, StripeWorld
from bogfoer_ingest.stripe import StripeApi, StripePermanent, StripeTransient, normalise
from bogfoer_ingest.stripe.api import WEBHOOK_API_VERSION, WEBHOOK_EVENTS, Listing

KEY = "rk_test_shop_a"


@pytest.fixture
async def api(stripe_double: StripeDoubleClient) -> AsyncIterator[StripeApi]:
    async with StripeApi(
        KEY,
        api_base=stripe_double.base_url,
        timeout=1.0,
        max_attempts=3,
        backoff_seconds=0.01,
        page_size=2,
    ) as client:
        yield client


async def test_balance_transaction_gives_the_fee(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    world = StripeWorld(api_key=KEY)
    pay = world.payment(12_500, fee=368)
    stripe_double.load(world.objects())

    txn = await api.balance_transaction(pay.balance_transaction["id"])
    assert (txn.id, txn.amount, txn.fee, txn.net) == (
        pay.balance_transaction["id"],
        12_500,
        368,
        12_132,
    )
    assert txn.reporting_category == "charge"
    assert txn.source == pay.charge["id"]
    seen = stripe_double.requests()
    assert [r["api_key"] for r in seen] == [KEY]


async def test_charge_comes_with_its_refunds(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    world = StripeWorld(api_key=KEY)
    pay = world.payment(12_500)
    ref = world.refund(pay, 2_500)
    stripe_double.load(world.objects())

    charge = await api.charge(pay.charge["id"])
    assert charge["payment_intent"] == pay.id
    assert [r["id"] for r in charge["refunds"]["data"]] == [ref.refund["id"]]


async def test_payout_transactions_follow_every_page(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    world = StripeWorld(api_key=KEY)
    for i in range(6):
        world.payment(1_000 * (i + 1), fee=10 * i)
    po = world.payout()
    stripe_double.load(world.objects())

    txns = await api.payout_transactions(po.payout["id"])
    assert [t.id for t in txns] == po.contents
    assert len(txns) == 7
    pages = [r for r in stripe_double.requests() if r["path"] == "/v1/balance_transactions"]
    assert len(pages) == 4  # 7 rows, 2 a page
    assert all(p["query"]["payout"] == po.payout["id"] for p in pages)
    assert [p["query"].get("starting_after") for p in pages] == [
        None,
        po.contents[1],
        po.contents[3],
        po.contents[5],
    ]


async def test_normalise_through_the_api_books_a_whole_day(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    world = StripeWorld(api_key=KEY)
    pay = world.payment(25_000, order_id="1042", fee=555)
    world.refund(pay, 5_000)
    world.payout()
    stripe_double.load(world.objects())

    out = []
    for event in world.events:
        out += await normalise(event, api)
    by_id = {e.source_event_id: e for e in out}
    captured = PaymentCaptured.model_validate(by_id[f"captured:{pay.id}"].data)
    assert (captured.fee, captured.order_id) == (555, "1042")
    payout = next(e for e in out if e.type == "payout.paid")
    assert PayoutPaid.model_validate(payout.data).amount == 25_000 - 555 - 5_000


async def test_unknown_object_is_permanent(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    stripe_double.load(StripeWorld(api_key=KEY).objects())
    with pytest.raises(StripePermanent, match="txn_missing"):
        await api.balance_transaction("txn_missing")
    with pytest.raises(StripePermanent):
        await api.charge("ch_missing")
    with pytest.raises(StripePermanent):
        await api.payout_transactions("po_missing")
    assert len(stripe_double.requests()) == 3  # no retries of a permanent failure


async def test_wrong_key_is_permanent(stripe_double: StripeDoubleClient) -> None:
    world = StripeWorld(api_key=KEY)
    pay = world.payment(1_000)
    stripe_double.load(world.objects())
    async with StripeApi(KEY, api_base=stripe_double.base_url, backoff_seconds=0.01) as shared:
        other = shared.for_tenant("rk_test_someone_else")
        with pytest.raises(StripePermanent, match="Invalid API Key"):
            await other.balance_transaction(pay.balance_transaction["id"])
        # The shared connection still reads with its own key.
        assert (await shared.balance_transaction(pay.balance_transaction["id"])).amount == 1_000


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_passing_server_trouble_is_retried(
    api: StripeApi, stripe_double: StripeDoubleClient, status: int
) -> None:
    world = StripeWorld(api_key=KEY)
    pay = world.payment(4_000, fee=120)
    stripe_double.load(world.objects())
    stripe_double.fault(status=status, count=2)

    txn = await api.balance_transaction(pay.balance_transaction["id"])
    assert txn.fee == 120
    assert len(stripe_double.requests()) == 3


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_lasting_server_trouble_is_transient(
    api: StripeApi, stripe_double: StripeDoubleClient, status: int
) -> None:
    world = StripeWorld(api_key=KEY)
    pay = world.payment(4_000)
    stripe_double.load(world.objects())
    stripe_double.fault(status=status, count=10)

    with pytest.raises(StripeTransient, match="3 attempts"):
        await api.balance_transaction(pay.balance_transaction["id"])
    assert len(stripe_double.requests()) == 3


async def test_timeout_is_transient(api: StripeApi, stripe_double: StripeDoubleClient) -> None:
    world = StripeWorld(api_key=KEY)
    pay = world.payment(4_000)
    stripe_double.load(world.objects())
    stripe_double.fault(delay=1.5, count=3)

    started = time.monotonic()
    with pytest.raises(StripeTransient):
        await api.charge(pay.charge["id"])
    assert time.monotonic() - started < 10


async def test_unreachable_api_is_transient() -> None:
    from bogfoer_devstack.ports import free_port

    async with StripeApi(
        KEY, api_base=f"http://127.0.0.1:{free_port()}", max_attempts=2, backoff_seconds=0.01
    ) as api:
        with pytest.raises(StripeTransient):
            await api.balance_transaction("txn_1")


# --- lists for a backfill, and the webhook endpoint --------------------------------------


async def _all_pages(api: StripeApi, listing: Listing, since: int, until: int) -> list[Any]:
    rows: list[Any] = []
    after: str | None = None
    while True:
        page = await api.list_page(listing, since, until, after)
        rows += page.rows
        if not page.has_more:
            return rows
        after = page.last_id


async def test_lists_page_newest_first_within_the_window(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    world = StripeWorld(api_key=KEY)
    payments = [world.payment(1_000 * (i + 1), order_id=f"O{i}") for i in range(5)]
    first, last = payments[1].charge["created"], payments[3].charge["created"]
    stripe_double.load(world.objects())

    rows = await _all_pages(api, "charges", first, last + 1)
    # 2 a page; newest first; only charges 1..3; each with its balance transaction expanded.
    assert [r["id"] for r in rows] == [p.charge["id"] for p in reversed(payments[1:4])]
    assert all(r["balance_transaction"]["object"] == "balance_transaction" for r in rows)
    pages = [r for r in stripe_double.requests() if r["path"] == "/v1/charges"]
    assert len(pages) == 2
    assert pages[0]["query"]["created[gte]"] == str(first)
    assert pages[0]["query"]["created[lt]"] == str(last + 1)
    assert pages[1]["query"]["starting_after"] == rows[1]["id"]


async def test_refunds_come_with_their_charge_and_payouts_by_arrival(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    world = StripeWorld(api_key=KEY)
    paid = world.payment(10_000, order_id="R1")
    refund = world.refund(paid, 2_500)
    payout = world.payout()
    stripe_double.load(world.objects())
    everything = (0, 2_000_000_000)

    (listed_refund,) = await _all_pages(api, "refunds", *everything)
    assert listed_refund["id"] == refund.refund["id"]
    assert listed_refund["charge"]["metadata"] == {"order_id": "R1"}
    arrival = payout.payout["arrival_date"]
    assert [p["id"] for p in await _all_pages(api, "payouts", arrival, arrival + 1)] == [
        payout.payout["id"]
    ]
    assert await _all_pages(api, "payouts", 0, arrival) == []


async def test_verify_refuses_a_key_stripe_does_not_know(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    stripe_double.load({"api_key": KEY})
    await api.verify()
    with pytest.raises(StripePermanent) as refused:
        await api.for_tenant("rk_test_unknown").verify()
    assert refused.value.http_status == 401


async def test_a_webhook_endpoint_is_created_once_per_idempotency_key_then_listed_and_deleted(
    api: StripeApi, stripe_double: StripeDoubleClient
) -> None:
    stripe_double.load({"api_key": KEY})
    url = "http://127.0.0.1:9/v1/tenants/shop/webhooks/stripe"
    made = await api.create_webhook_endpoint(url, "Bogfør", "idem-1")
    again = await api.create_webhook_endpoint(url, "Bogfør", "idem-1")
    assert again.id == made.id
    assert made.secret is not None
    assert made.secret.startswith("whsec_")
    assert made.secret not in repr(made)
    listed_endpoints = await api.webhook_endpoints()
    assert [(e.id, e.url, e.secret) for e in listed_endpoints] == [(made.id, url, None)]
    assert set(listed_endpoints[0].enabled_events) == set(WEBHOOK_EVENTS)
    await api.delete_webhook_endpoint(made.id)
    assert await api.webhook_endpoints() == []


def test_the_double_sends_events_in_the_version_our_endpoints_are_pinned_to() -> None:
    assert API_VERSION == WEBHOOK_API_VERSION
