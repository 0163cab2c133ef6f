"""The ledger keeps a posting's newest state: done is final, and a result older than the
applied one (two poster replicas' outboxes may overtake each other) changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bogfoer_contracts.postings import PostingResult, RegisterPayment
from bogfoer_kit.db import create_pool, migrate
from bogfoer_ledger import queries, store
from tests.integration.conftest import new_tenant

pytestmark = pytest.mark.integration
T0 = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(fresh_database, "ledger")
    await migrate(pool, "bogfoer_ledger")
    try:
        yield pool
    finally:
        await pool.close()


def result(tenant: str, status: str, minutes: int) -> PostingResult:
    return PostingResult.model_validate(
        {
            "posting_key": f"bogfoer:{tenant}:invoice:shopify:1",
            "tenant_id": tenant,
            "kind": "invoice",
            "status": status,
            "at": T0 + dt.timedelta(minutes=minutes),
        }
    )


async def test_done_is_final_and_stale_results_only_join_the_history(pool: asyncpg.Pool) -> None:
    tenant = new_tenant()
    ref = iter(range(100))

    async def apply(status: str, minutes: int) -> None:
        await store.apply_result(
            pool,
            store.RecordRef("postings.results.v1", 0, next(ref)),
            result(tenant, status, minutes),
        )

    await apply("waiting", 1)
    await apply("done", 3)
    await apply("waiting", 2)  # an older result arriving late
    await apply("failed", 4)  # nothing moves a posting out of done
    (posting,) = await queries.postings(pool, tenant, queries.PostingFilter(), 10)
    assert posting["state"] == "done"
    detail = await queries.posting(pool, tenant, posting["posting_key"])
    assert detail is not None
    assert [h["to_state"] for h in detail["history"]] == ["waiting", "done", "done", "done"]
    assert [h["detail"] for h in detail["history"]][2:] == [
        "stale waiting result ignored",
        "stale failed result ignored",
    ]


async def test_a_command_and_its_result_applied_at_the_same_moment_both_apply(
    pool: asyncpg.Pool,
) -> None:
    # After a restart the ledger's command and result consumers catch up at once, so a
    # posting's command and its result can be applied concurrently, neither finding a row.
    tenant = new_tenant()
    commands = [
        RegisterPayment(
            posting_key=f"bogfoer:{tenant}:payment:pi_{n}",
            tenant_id=tenant,
            organization_id=1,
            issued_at=T0,
            invoice_key=f"bogfoer:{tenant}:invoice:shopify:{n}",
            amount=10000 + n,
            currency="DKK",
            deposit_account=55010,
            payment_date=T0.date(),
            description="Betaling",
        )
        for n in range(40)
    ]

    async def both(n: int, command: RegisterPayment) -> None:
        done = result(tenant, "done", 5).model_copy(
            update={"posting_key": command.posting_key, "kind": "payment"}
        )
        await asyncio.gather(
            store.apply_command(pool, store.RecordRef("postings.commands.v1", 0, n), command),
            store.apply_result(pool, store.RecordRef("postings.results.v1", 0, n), done),
        )

    await asyncio.gather(*(both(n, c) for n, c in enumerate(commands)))
    rows = await queries.postings(pool, tenant, queries.PostingFilter(), 100)
    assert len(rows) == len(commands)
    assert {r["state"] for r in rows} == {"done"}
    assert sorted(r["amount_minor"] for r in rows) == [10000 + n for n in range(40)]


async def test_a_record_dead_lettered_twice_is_listed_once(pool: asyncpg.Pool) -> None:
    # A consumer whose poll's dead letter went out but whose commit did not (its outbox
    # failed next) reads the poll again and dead-letters the same record again.
    tenant = new_tenant()

    def letter(original_offset: int) -> dict[str, str]:
        return {
            "x-dlq-reason": "invalid_event",
            "x-dlq-detail": "not JSON",
            "x-original-topic": "sales.events.v1",
            "x-original-partition": "2",
            "x-original-offset": str(original_offset),
        }

    dlq = "sales.events.dlq.v1"
    async with pool.acquire() as conn, conn.transaction():
        assert await store.apply_dead_letter(
            conn, store.RecordRef(dlq, 0, 10), tenant, b"{", letter(41)
        )
    async with pool.acquire() as conn, conn.transaction():
        await store.apply_dead_letter(conn, store.RecordRef(dlq, 0, 11), tenant, b"{", letter(41))
        # Another record of the same partition is another dead letter.
        await store.apply_dead_letter(conn, store.RecordRef(dlq, 0, 12), tenant, b"[", letter(42))
        # A dead letter that does not say where it was read (the poster's failed postings)
        # is listed as it comes.
        await store.apply_dead_letter(
            conn, store.RecordRef(dlq, 0, 13), tenant, b"!", {"x-dlq-reason": "internal"}
        )
    rows = await queries.dead_letters(pool, tenant, 10)
    assert sorted(r["offset"] for r in rows) == [10, 12, 13]
