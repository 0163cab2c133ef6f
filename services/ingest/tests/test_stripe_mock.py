"""StripeApi's calls against Stripe's own stripe-mock: its answers are fixtures, so the
checks are on shapes and types (our requests are valid, their answers parse)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bogfoer_contracts.events import BalanceTransaction
from bogfoer_ingest.stripe import StripeApi
from bogfoer_ingest.stripe.api import Listing

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(stripe_mock: str) -> AsyncIterator[StripeApi]:
    async with StripeApi("sk_test_123", api_base=stripe_mock, max_attempts=1) as client:
        yield client


async def test_balance_transaction_retrieve(api: StripeApi) -> None:
    txn = await api.balance_transaction("txn_123")
    assert isinstance(txn, BalanceTransaction)
    assert txn.id.startswith("txn_")
    assert isinstance(txn.amount, int)
    assert isinstance(txn.fee, int)
    assert txn.net == txn.amount - txn.fee
    assert txn.reporting_category


async def test_balance_transaction_list_by_payout(api: StripeApi) -> None:
    txns = await api.payout_transactions("po_123")
    assert txns
    assert all(isinstance(t, BalanceTransaction) and t.id.startswith("txn_") for t in txns)


async def test_charge_retrieve_with_refunds(api: StripeApi) -> None:
    charge = await api.charge("ch_123")
    assert charge["object"] == "charge"
    assert isinstance(charge["amount"], int)
    assert isinstance(charge["currency"], str)
    assert charge["refunds"]["object"] == "list"


@pytest.mark.parametrize("listing", ["charges", "refunds", "payouts"])
async def test_a_backfills_list_calls_are_valid(api: StripeApi, listing: Listing) -> None:
    """Stripe's own spec accepts the filters, expansions and cursor a backfill sends."""
    first = await api.list_page(listing, 1_759_269_600, 1_764_543_600, None)
    assert first.rows
    assert all(isinstance(r["id"], str) for r in first.rows)
    after = await api.list_page(listing, 1_759_269_600, 1_764_543_600, first.last_id)
    assert isinstance(after.has_more, bool)
    if listing == "charges":
        assert first.rows[0]["balance_transaction"]["object"] == "balance_transaction"
    if listing == "refunds":
        assert first.rows[0]["charge"]["object"] == "charge"


async def test_verify_and_the_webhook_endpoint_calls_are_valid(api: StripeApi) -> None:
    await api.verify()
    created = await api.create_webhook_endpoint(
        "https://ingest.example/v1/tenants/shop/webhooks/stripe", "Bogfør", "idem-key"
    )
    assert created.id.startswith("we_")
    assert all(isinstance(e.id, str) for e in await api.webhook_endpoints())
    await api.delete_webhook_endpoint(created.id)
