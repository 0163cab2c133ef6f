"""A re-mapped command (higher revision) in the poster's queue, against real PostgreSQL: it
replaces a failed posting's command and queues it with a look-up first; a redelivered
duplicate changes nothing; during an attempt it waits and takes over when the attempt ends."""

from __future__ import annotations

import asyncpg
import pytest

from bogfoer_contracts.postings import CreateVoucher, VoucherLineSpec
from bogfoer_poster import store

from .conftest import new_tenant
from .test_poster_workers import NOW, pool

__all__ = ["pool"]  # the fixture: a real PostgreSQL with the poster's migrations

pytestmark = pytest.mark.integration


def voucher(tenant: str, account: int, revision: int = 0) -> CreateVoucher:
    return CreateVoucher(
        posting_key=f"bogfoer:{tenant}:fee:stripe:txn_1",
        tenant_id=tenant,
        organization_id=1,
        issued_at=NOW,
        revision=revision,
        purpose="fee",
        date=NOW.date(),
        lines=[
            VoucherLineSpec(
                description="Gebyr",
                account_number=account,
                balancing_account_number=55010,
                amount=465,
            )
        ],
    )


async def test_a_remapped_command_replaces_a_failed_one_and_starts_with_a_look_up(
    pool: asyncpg.Pool,
) -> None:
    tenant = new_tenant()
    first = voucher(tenant, 7221)
    async with pool.acquire() as conn:
        assert await store.intake(conn, first, None)
        # The first attempt: nothing unknown to look up before it.
        assert await store.claim(conn, first.posting_key, "replica-a", 60) is False
        await store.finish(conn, first.posting_key, "failed", detail="unknown account 7221")
        await store.release(conn, first.posting_key, "replica-a")

        assert not await store.intake(conn, first, None)  # a redelivery: dropped
        assert await store.intake(conn, voucher(tenant, 7220, revision=1), None)
        assert not await store.intake(conn, voucher(tenant, 7220, revision=1), None)
        posting = await store.get(conn, first.posting_key)
    assert posting is not None
    assert posting.state == "in_flight"
    assert posting.outcome_unknown  # so the next attempt looks the reference up first
    assert posting.attempts == 1
    assert isinstance(posting.command, CreateVoucher)
    assert posting.command.lines[0].account_number == 7220
    assert posting.command.revision == 1
    assert posting.dinero_revision == 0  # nothing in Dinero was written for revision 1


async def test_a_remapped_command_arriving_mid_attempt_takes_over_when_it_ends(
    pool: asyncpg.Pool,
) -> None:
    tenant = new_tenant()
    first = voucher(tenant, 7221)
    async with pool.acquire() as conn:
        await store.intake(conn, first, None)
        assert await store.claim(conn, first.posting_key, "replica-a", 60) is not None
        assert await store.intake(conn, voucher(tenant, 7220, revision=1), None)
        during = await store.get(conn, first.posting_key)
        assert during is not None
        assert during.command.revision == 0  # the attempt in hand keeps its command
        await store.finish(conn, first.posting_key, "failed", detail="unknown account 7221")
        await store.release(conn, first.posting_key, "replica-a")
        after = await store.get(conn, first.posting_key)
    assert after is not None
    assert (after.command.revision, after.state, after.outcome_unknown) == (1, "in_flight", True)
