"""A tenant batch of commands tracked as one run (`store.claim_run`, migration 007): each
record applied exactly once, the redeliveries that overlap a run, leave a record out of one
or meet a record tracked a row each included, overlapping cuts of a tenant's records claimed
at once, and an older ledger's claim during a rollout."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bogfoer_contracts.postings import POSTING_COMMAND
from bogfoer_kit.consumer import Handler, Record, TenantBatch
from bogfoer_kit.db import Conn
from bogfoer_kit.deadletter import is_transient
from bogfoer_ledger import handlers, store
from tests.integration.conftest import eventually, new_tenant
from tests.integration.test_ledger_order import COMMANDS, _Subscriptions, payment

pytestmark = pytest.mark.integration
PARTITION = 3


def _record(tenant: str, offset: int) -> Record:
    """A payment of `tenant`'s at `offset`, its number the offset (one posting each)."""
    value = POSTING_COMMAND.dump_json(payment(tenant, offset, depends_on=[]))
    return Record(COMMANDS, PARTITION, offset, tenant.encode(), value)


async def _handler(pool: asyncpg.Pool) -> Handler:
    subscriptions = _Subscriptions()
    handlers.register(subscriptions, pool)  # type: ignore[arg-type]
    return subscriptions.handlers["commands"]


async def _applied(pool: asyncpg.Pool, tenant: str) -> list[int]:
    """The offsets of the tenant's commands applied, once per time applied (each creates a
    posting with one history line at its record's offset)."""
    rows = await pool.fetch(
        'SELECT t."offset" FROM posting_transitions t JOIN postings p USING (posting_key)'
        " WHERE p.tenant_id = $1 ORDER BY 1",
        tenant,
    )
    return [r[0] for r in rows]


async def _runs(pool: asyncpg.Pool, tenant: str) -> list[tuple[int, int]]:
    rows = await pool.fetch(
        "SELECT first_offset, last_offset FROM ledger_applied_runs WHERE tenant = $1 ORDER BY 1",
        tenant,
    )
    return [(r[0], r[1]) for r in rows]


async def test_a_tenant_batch_is_tracked_as_one_run(ledger_pool: asyncpg.Pool) -> None:
    on_commands = await _handler(ledger_pool)
    tenant = new_tenant()
    records = [_record(tenant, offset) for offset in range(100, 120)]
    await on_commands(TenantBatch(tenant, records))
    await on_commands(TenantBatch(tenant, records))  # redelivered: nothing
    assert await _applied(ledger_pool, tenant) == list(range(100, 120))
    assert await _runs(ledger_pool, tenant) == [(100, 119)]
    assert await ledger_pool.fetchval("SELECT count(*) FROM ledger_applied") == 0


async def test_redelivered_batches_apply_only_the_records_no_run_holds(
    ledger_pool: asyncpg.Pool,
) -> None:
    # Two tenants' records interleaved on one partition: a run spans the other's records,
    # which it does not hold.
    on_commands = await _handler(ledger_pool)
    a, b = new_tenant(), new_tenant()
    mine = {a: [100, 102, 104, 106, 108], b: [101, 103, 105]}
    # a's records handled one at a time (after a failed batch); 104 failed alone and was
    # dead-lettered: in no run, so handled again when it comes again.
    for offset in (100, 102, 106):
        await on_commands(TenantBatch(a, [_record(a, offset)]))
    assert await _runs(ledger_pool, a) == [(100, 100), (102, 102), (106, 106)]
    # The poll again, and a record more: 104 and 108 are new, each a run of its own (106
    # between them is not new: a run of both would say so of a record never applied).
    await on_commands(TenantBatch(a, [_record(a, o) for o in mine[a]]))
    await on_commands(TenantBatch(b, [_record(b, o) for o in mine[b]]))
    assert await _applied(ledger_pool, a) == mine[a]
    assert await _applied(ledger_pool, b) == mine[b]
    assert await _runs(ledger_pool, a) == [(o, o) for o in mine[a]]
    assert await _runs(ledger_pool, b) == [(101, 105)]
    for tenant, offsets in mine.items():  # all of it again: nothing
        await on_commands(TenantBatch(tenant, [_record(tenant, o) for o in offsets]))
        assert await _applied(ledger_pool, tenant) == offsets


async def test_records_tracked_a_row_each_were_applied_before(ledger_pool: asyncpg.Pool) -> None:
    # Tracked before migration 007 (or alone, as actions are): found by the claim of a run.
    on_commands = await _handler(ledger_pool)
    tenant = new_tenant()
    async with ledger_pool.acquire() as conn:
        assert await store.claim(conn, [store.RecordRef(COMMANDS, PARTITION, 101)])
    await on_commands(TenantBatch(tenant, [_record(tenant, o) for o in range(100, 104)]))
    assert await _applied(ledger_pool, tenant) == [100, 102, 103]
    assert await _runs(ledger_pool, tenant) == [(100, 100), (102, 103)]


async def test_overlapping_cuts_claimed_at_once_are_each_applied_once(
    ledger_pool: asyncpg.Pool,
) -> None:
    # Two ledgers at one tenant's records of a partition at once (a member that lost the
    # partition in a rebalance still at work), each a cut of its own: the second claims
    # while the first's run is not committed yet, which its statement cannot see. The
    # tenant's lock (`store.claim_run`) makes it wait for the first's commit and find its run.
    tenant = new_tenant()
    first = [store.RecordRef(COMMANDS, PARTITION, o) for o in range(10, 51)]
    second = [store.RecordRef(COMMANDS, PARTITION, o) for o in range(30, 81)]

    async def claim(conn: Conn, refs: list[store.RecordRef]) -> list[int]:
        """The offsets claimed fresh."""
        return sorted(ref.offset for ref in await store.claim_run(conn, tenant, refs))

    async def claim_and_commit(conn: Conn, refs: list[store.RecordRef]) -> list[int]:
        async with conn.transaction():
            return await claim(conn, refs)

    async with (
        ledger_pool.acquire() as one,
        ledger_pool.acquire() as two,
        asyncio.TaskGroup() as tasks,  # the second's claim cancelled if the test fails
    ):
        async with one.transaction():  # held open until the second's claim is sent
            first_claimed = await claim(one, first)
            second_claim = tasks.create_task(claim_and_commit(two, second))

            async def second_claim_sent() -> bool:
                # Waiting for a lock the first holds, or (without one) claimed already.
                return second_claim.done() or bool(
                    await ledger_pool.fetchval(
                        "SELECT $1 = ANY(pg_blocking_pids($2))",
                        one.get_server_pid(),
                        two.get_server_pid(),
                    )
                )

            await eventually(second_claim_sent, within=10, what="the second claim sent")
        second_claimed = await asyncio.wait_for(second_claim, 10)  # the first committed
    assert not set(first_claimed) & set(second_claimed), "claimed fresh by both"
    assert sorted(first_claimed + second_claimed) == list(range(10, 81))
    assert await _runs(ledger_pool, tenant) == [(10, 50), (51, 80)]


async def test_an_older_ledgers_claim_in_a_runs_span_fails_transiently(
    ledger_pool: asyncpg.Pool,
) -> None:
    # During a rollout an older ledger claims a row per record and reads no runs: a record
    # in a run's span (whichever tenant's) is refused, its batch retried until the pod goes.
    on_commands = await _handler(ledger_pool)
    tenant = new_tenant()
    await on_commands(TenantBatch(tenant, [_record(tenant, 100), _record(tenant, 104)]))
    async with ledger_pool.acquire() as conn:
        for offset in (100, 102, 104):
            with pytest.raises(asyncpg.SerializationError) as refused:
                await store.claim(conn, [store.RecordRef(COMMANDS, PARTITION, offset)])
            assert is_transient(refused.value)
        assert await store.claim(conn, [store.RecordRef(COMMANDS, PARTITION, 105)])
        assert await store.claim(conn, [store.RecordRef(COMMANDS, PARTITION + 1, 102)])
    assert await _applied(ledger_pool, tenant) == [100, 104]
