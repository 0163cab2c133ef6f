"""The ledger's pool is warm before the service says ready (`store.warm`): the connections a
poll's tenant batches use are open, each with the command handler's statements prepared and
the types they bind known, so that no poll waits while a connection is opened, its
statements prepared and its array types looked up (the first polls of a started ledger cost
~2x the CPU of the others, one of them with a connection opened for the readiness probe)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bogfoer_contracts.postings import POSTING_COMMAND
from bogfoer_kit.consumer import Record, TenantBatch
from bogfoer_ledger import handlers, store
from tests.integration.test_ledger_order import COMMANDS, _Subscriptions, payment

pytestmark = pytest.mark.integration


def command(tenant: str, n: int, revision: int = 0) -> bytes:
    """A payment's command; a later revision changes its amount (an update to write)."""
    return POSTING_COMMAND.dump_json(
        payment(tenant, n, revision=revision, amount=10000 + n + revision)
    )


def batch(tenant: str, partition: int, first: int, values: list[bytes]) -> TenantBatch:
    records = [
        Record(COMMANDS, partition, first + n, tenant.encode(), value)
        for n, value in enumerate(values)
    ]
    return TenantBatch(tenant, records)


async def _prepared(conn: asyncpg.pool.PoolConnectionProxy) -> set[str]:
    return {r[0] for r in await conn.fetch("SELECT statement FROM pg_prepared_statements")}


async def _each_connection(pool: asyncpg.Pool, count: int) -> list[list[str]]:
    """The statements prepared on each of the pool's `count` connections (all held at once),
    in no particular order of the connections."""
    held = [await pool.acquire() for _ in range(count)]
    try:
        return sorted([sorted(await _prepared(conn)) for conn in held])
    finally:
        for conn in held:
            await pool.release(conn)


async def test_a_warm_pool_prepares_nothing_when_the_first_polls_come(
    ledger_pool: asyncpg.Pool,
) -> None:
    await store.warm(ledger_pool, 3)
    assert ledger_pool.get_size() == 3  # open: no poll waits for a connection
    warmed = await _each_connection(ledger_pool, 3)
    for prepared in warmed:
        assert set(store.WARMED) <= set(prepared)
    subscriptions = _Subscriptions()
    handlers.register(subscriptions, ledger_pool)  # type: ignore[arg-type]
    on_commands = subscriptions.handlers["commands"]
    # Two tenants' batches at once (two connections), new postings (inserted, and copied in:
    # `store.COPY_FROM`), then re-mapped ones.
    copied = store.COPY_FROM
    await asyncio.gather(
        on_commands(batch("warm-a", 0, 0, [command("warm-a", n) for n in range(3)])),
        on_commands(batch("warm-b", 1, 0, [command("warm-b", n) for n in range(copied)])),
    )
    await asyncio.gather(
        on_commands(batch("warm-a", 0, 3, [command("warm-a", 1, revision=1)])),
        on_commands(batch("warm-b", 1, copied, [command("warm-b", 2, revision=1)])),
    )
    assert ledger_pool.get_size() == 3
    assert await _each_connection(ledger_pool, 3) == warmed
    history = await ledger_pool.fetchval(
        "SELECT count(*) FROM posting_transitions WHERE detail LIKE 're-mapped%'"
    )
    assert history == 2  # the update's statements ran too


async def test_warming_writes_nothing(
    ledger_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The warming statements bind nothing that writes a row; one that does (a claim of a
    # real offset) shows that whatever they do is rolled back.
    probe = (store._CLAIM, ("warm-probe", 0, [1]))
    monkeypatch.setattr(store, "_WARMING", (*store._WARMING, probe))
    await store.warm(ledger_pool, 2)
    for conn in [await ledger_pool.acquire() for _ in range(2)]:
        try:
            assert not conn.is_in_transaction()
        finally:
            await ledger_pool.release(conn)
    rows = await ledger_pool.fetchrow(
        "SELECT (SELECT count(*) FROM ledger_applied) + (SELECT count(*) FROM ledger_applied_runs)"
        " AS applied,"
        " (SELECT count(*) FROM postings) AS postings,"
        " (SELECT count(*) FROM posting_transitions) AS history"
    )
    assert rows is not None
    assert tuple(rows) == (0, 0, 0)
