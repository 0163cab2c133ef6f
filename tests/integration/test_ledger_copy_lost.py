"""A copy whose connection is lost ends, as a transient fault (`store._copy`): asyncpg sends a
copy's rows as the socket takes them and, its connection lost while it waits for the socket,
waited for good — a ledger whose PostgreSQL restarted mid-copy hung its poll forever."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from bogfoer_kit.deadletter import is_transient
from bogfoer_ledger import rules, store

pytestmark = pytest.mark.integration


def postings_copy(keys: list[str], document: str, at: dt.datetime) -> store.Copy:
    """The copy of new postings with these keys (`store._copy_commanded`), in order."""
    new = [
        rules.Posting(
            posting_key=key,
            tenant_id="lost",
            kind="payment",
            state="pending",
            new=True,
            amount_minor=1,
            currency="DKK",
            depends_on=[],
            command=document,
            created_at=at,
            updated_at=at,
        )
        for key in keys
    ]
    created = {
        p.posting_key: rules.Transition(
            p.posting_key, None, "pending", store.RecordRef("t", 0, n), at
        )
        for n, p in enumerate(new)
    }
    postings, _ = store._copy_commanded(new, created)
    assert isinstance(postings, store.Copy)
    return postings


async def test_a_copy_whose_backend_is_terminated_fails_as_transient(
    ledger_pool: asyncpg.Pool,
) -> None:
    at = dt.datetime.now(dt.UTC)
    document = '{"note": "' + "x" * 900 + '"}'
    # ~100 MB: the socket stops taking them long before the end.
    copy = postings_copy([f"lost-{n}" for n in range(100_000)], document, at)
    async with ledger_pool.acquire() as copying, ledger_pool.acquire() as other:
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
                await store._execute_all(copying, [copy])
        took = asyncio.get_running_loop().time() - started
        await terminating
    assert took < 10, f"the copy hung on its lost connection ({took:.1f} s)"
    assert is_transient(failed.value)
