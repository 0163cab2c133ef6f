"""The Stripe backfill runner against real PostgreSQL, the real broker and the Stripe double:
it pages through every list (two objects a page here) and publishes the webhooks' events
with the same ids; a replica that stops mid-way leaves the job to another, which carries on
after the last page it recorded; a job with a lapsed lease is taken over; a key Stripe
refuses fails the job with the reason."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pydantic import SecretStr

from bogfoer_contracts.admin import Backfill
from bogfoer_contracts.events import SALES_EVENT, stamp
from bogfoer_contracts.topics import SALES_EVENTS, key_for
from bogfoer_contracts.topology import INGEST
from bogfoer_devstack.offsets import end_offsets
from bogfoer_devstack.stripe_double import StripeDoubleClient, StripeWorld
from bogfoer_dinero.sealing import SecretSealer
from bogfoer_ingest import backfill
from bogfoer_ingest.backfill import BackfillRunner
from bogfoer_ingest.stripe import StripeApi, normalise
from bogfoer_ingest.tenants import TenantCredentials, TenantDirectory
from bogfoer_kit.db import ServiceDatabase
from bogfoer_kit.publish import Publisher
from tests.integration.conftest import eventually, new_tenant, read_from

pytestmark = pytest.mark.integration
EVERYTHING = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
async def parts(
    fresh_database: str, topics: str, stripe_double: StripeDoubleClient
) -> AsyncIterator[dict[str, Any]]:
    db = ServiceDatabase(fresh_database, "ingest", "bogfoer_ingest")
    pool = await db.open()
    tenants = TenantDirectory(pool, SecretSealer(SecretStr(SecretSealer.generate_key())))
    broker = KafkaBroker(topics, enable_idempotence=True)
    await broker.start()
    api = StripeApi("unused", api_base=stripe_double.base_url, page_size=2, backoff_seconds=0.01)
    try:
        yield {"pool": pool, "tenants": tenants, "publisher": Publisher(broker, INGEST), "api": api}
    finally:
        await api.aclose()
        await broker.stop()
        await db.close()


async def a_shop_with_history(
    parts: dict[str, Any], stripe_double: StripeDoubleClient
) -> tuple[str, StripeWorld]:
    tenant = new_tenant()
    key = f"rk_test_{tenant.replace('-', '_')}"
    world = StripeWorld(api_key=key, start=int(EVERYTHING[0].timestamp()) + 86_400)
    for i in range(5):
        world.payment(10_000 + i, order_id=f"O{i}")
        world.wait(86_400)
    world.refund(world.payment(20_000, order_id="O9"), 5_000)
    world.payout()
    stripe_double.load(world.objects())
    await parts["tenants"].put(tenant, TenantCredentials(stripe_api_key=SecretStr(key)))
    return tenant, world


async def webhook_event_ids(world: StripeWorld, tenant: str, api: StripeApi) -> set[str]:
    """The ids the same history gives when Stripe sends it as webhooks."""
    received = dt.datetime.now(dt.UTC)
    tenant_api = api.for_tenant(world.api_key)
    ids = set()
    for event in world.events:
        for item in await normalise(event, tenant_api):
            ids.add(stamp(item, tenant, received).id)
    return ids


async def backfilled(parts: dict[str, Any], tenant: str) -> Backfill:
    """A backfill of everything asked for and carried out by one runner, as it ended."""
    job = await backfill.create(parts["pool"], tenant, *EVERYTHING, "test")
    runner = BackfillRunner(parts["pool"], parts["tenants"], parts["api"], parts["publisher"])
    claimed = await backfill._claim(parts["pool"], runner.owner, runner.lease)
    assert claimed is not None
    await runner.carry_out(claimed)
    ended = await backfill.find(parts["pool"], tenant, job.id)
    assert ended is not None
    return ended


async def test_a_backfill_pages_through_every_list_and_sends_the_webhooks_ids(
    parts: dict[str, Any], stripe_double: StripeDoubleClient, topics: str
) -> None:
    tenant, world = await a_shop_with_history(parts, stripe_double)
    start = await end_offsets(topics, SALES_EVENTS)
    done = await backfilled(parts, tenant)
    assert (done.state, done.percent, done.phase) == ("done", 100, "payouts")
    assert (done.counts.charges, done.counts.refunds, done.counts.payouts) == (6, 1, 1)
    expected = await webhook_event_ids(world, tenant, parts["api"])
    records = await read_from(topics, start, lambda rs: len(rs) >= len(expected), 30, settle=1)
    events = [SALES_EVENT.validate_json(r.value) for r in records if r.key == key_for(tenant)]
    assert {e.id for e in events} == expected
    assert all(e.backfill for e in events)
    assert done.counts.events == len(expected)
    pages = [r for r in stripe_double.requests() if r["path"] == "/v1/charges"]
    assert len(pages) == 3  # six charges, two a page


async def test_a_replica_that_stops_mid_way_leaves_the_rest_to_the_next(
    parts: dict[str, Any], stripe_double: StripeDoubleClient, topics: str
) -> None:
    tenant, world = await a_shop_with_history(parts, stripe_double)
    start = await end_offsets(topics, SALES_EVENTS)
    job = await backfill.create(parts["pool"], tenant, *EVERYTHING, "test")
    first = BackfillRunner(parts["pool"], parts["tenants"], parts["api"], parts["publisher"])
    # The first replica gets the first page of charges, then Stripe keeps it waiting on the
    # second, and the replica is stopped (a deploy, say).
    stripe_double.fault(count=1)
    stripe_double.fault(delay=15, count=1)
    claimed = await backfill._claim(parts["pool"], first.owner, first.lease)
    assert claimed is not None
    task = asyncio.create_task(first.carry_out(claimed))

    async def first_page_recorded() -> bool:
        found = await backfill.find(parts["pool"], tenant, job.id)
        return found is not None and found.counts.charges == 2

    await eventually(first_page_recorded, 10, "the first page is recorded")
    await asyncio.sleep(0.2)  # it waits on the second page now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    halfway = await backfill.find(parts["pool"], tenant, job.id)
    assert halfway is not None
    assert (halfway.state, halfway.phase, halfway.counts.charges) == ("running", "charges", 2)
    assert 0 < halfway.percent < 34

    # Stopping gave the job back at once: the next replica carries on after page one.
    second = BackfillRunner(parts["pool"], parts["tenants"], parts["api"], parts["publisher"])
    resumed = await backfill._claim(parts["pool"], second.owner, second.lease)
    assert resumed is not None
    after_page_one = resumed.cursor
    assert after_page_one is not None
    await second.carry_out(resumed)
    done = await backfill.find(parts["pool"], tenant, job.id)
    assert done is not None
    assert (done.state, done.counts.charges) == ("done", 6)
    expected = await webhook_event_ids(world, tenant, parts["api"])
    records = await read_from(topics, start, lambda rs: len(rs) >= len(expected), 30, settle=1)
    assert {SALES_EVENT.validate_json(r.value).id for r in records} == expected
    charge_pages = [
        r["query"].get("starting_after")
        for r in stripe_double.requests()
        if r["path"] == "/v1/charges"
    ]
    # page one, page two (stopped), then on from page one's cursor: never from the start
    assert charge_pages == [None, after_page_one, after_page_one, charge_pages[-1]]


async def test_a_lapsed_lease_is_taken_over_and_a_refused_key_fails_the_job(
    parts: dict[str, Any], stripe_double: StripeDoubleClient
) -> None:
    tenant, _ = await a_shop_with_history(parts, stripe_double)
    job = await backfill.create(parts["pool"], tenant, *EVERYTHING, "test")
    gone = BackfillRunner(parts["pool"], parts["tenants"], parts["api"], parts["publisher"])
    assert await backfill._claim(parts["pool"], gone.owner, dt.timedelta(seconds=0.2)) is not None
    other = BackfillRunner(parts["pool"], parts["tenants"], parts["api"], parts["publisher"])
    assert await backfill._claim(parts["pool"], other.owner, other.lease) is None  # still held
    await asyncio.sleep(0.3)
    taken = await backfill._claim(parts["pool"], other.owner, other.lease)
    assert taken is not None
    assert taken.id == job.id

    await parts["tenants"].put(
        tenant, TenantCredentials(stripe_api_key=SecretStr("rk_test_revoked"))
    )
    await other.carry_out(taken)
    failed = await backfill.find(parts["pool"], tenant, job.id)
    assert failed is not None
    assert failed.state == "failed"
    assert failed.problem is not None
    assert "Invalid API Key" in failed.problem


async def test_stripe_trouble_for_one_backfill_does_not_hold_up_the_next(
    parts: dict[str, Any], stripe_double: StripeDoubleClient
) -> None:
    """A job Stripe fails for waits out its backoff off the runner, which goes on with the
    next tenant's (a job retried in place would hold up every backfill of the replica)."""
    troubled, _ = await a_shop_with_history(parts, stripe_double)
    other, _ = await a_shop_with_history(parts, stripe_double)
    first = await backfill.create(parts["pool"], troubled, *EVERYTHING, "test")
    second = await backfill.create(parts["pool"], other, *EVERYTHING, "test")
    runner = BackfillRunner(
        parts["pool"], parts["tenants"], parts["api"], parts["publisher"], poll_seconds=0.2
    )
    stripe_double.fault(status=503, count=4)  # every attempt of the first job's first page
    running = asyncio.create_task(runner.run())
    try:

        async def finished(job_id: str, tenant: str) -> bool:
            found = await backfill.find(parts["pool"], tenant, job_id)
            return found is not None and found.state == "done"

        await eventually(lambda: finished(second.id, other), 15, "the second backfill is done")
        waiting = await backfill.find(parts["pool"], troubled, first.id)
        assert waiting is not None
        assert waiting.state == "running"
        assert waiting.problem is not None
        assert "503" in waiting.problem or "gave up" in waiting.problem
        await eventually(lambda: finished(first.id, troubled), 15, "the first, after its wait")
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


@pytest.mark.parametrize("key", ["rk_tést", ""])  # "" makes "Bearer ", which ends in a space
async def test_a_key_that_cannot_be_sent_fails_the_backfill_at_once(
    parts: dict[str, Any], stripe_double: StripeDoubleClient, key: str
) -> None:
    tenant, _ = await a_shop_with_history(parts, stripe_double)
    await parts["tenants"].put(tenant, TenantCredentials(stripe_api_key=SecretStr(key)))
    failed = await backfilled(parts, tenant)
    assert (failed.state, failed.problem) == (
        "failed",
        "charges list: the tenant's Stripe key is not a Stripe key",
    )
    assert stripe_double.requests() == []  # nothing was sent with it
