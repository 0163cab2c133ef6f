"""A mapper copy whose connection is lost ends, as a transient fault (`bogfoer_kit.db.copy_records`,
as the ledger's `store._copy`): asyncpg sends a copy's rows as the socket takes them and,
its connection lost while it waits for the socket, waited for good — a mapper whose
PostgreSQL restarted mid-copy would hang its poll forever."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bogfoer_kit.deadletter import is_transient
from bogfoer_mapper import store

from .conftest import new_tenant

pytestmark = pytest.mark.integration


async def test_a_copy_whose_backend_is_terminated_fails_as_transient(
    mapper_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = new_tenant()
    state = '{"note": "' + "x" * 900 + '"}'
    # ~100 MB: the socket stops taking them long before the end
    states = {f"order:{n}": (state, False) for n in range(100_000)}
    monkeypatch.setattr(store, "COPY_FROM", 1)
    async with mapper_pool.acquire() as copying, mapper_pool.acquire() as other:
        backend = await copying.fetchval("SELECT pg_backend_pid()")

        async def terminate() -> None:
            for _ in range(2_000):  # until the copy runs, 10 s at most
                copying_now = await other.fetchval(
                    "SELECT state = 'active' AND query LIKE 'COPY%' FROM pg_stat_activity"
                    " WHERE pid = $1",
                    backend,
                )
                if copying_now:
                    break
                await asyncio.sleep(0.005)
            await other.execute("SELECT pg_terminate_backend($1)", backend)

        terminating = asyncio.ensure_future(terminate())
        started = asyncio.get_running_loop().time()
        with pytest.raises(Exception) as failed:  # noqa: PT011 - asyncpg's or ours: transient
            async with asyncio.timeout(30), copying.transaction():
                await store.save_states(copying, tenant, states, set())
        took = asyncio.get_running_loop().time() - started
        await terminating
    assert took < 10, f"the copy hung on its lost connection ({took:.1f} s)"
    assert is_transient(failed.value)
