"""Two replicas' relays over one outbox keep a tenant's order: while one run holds a tenant's
older row (locked, its publish in flight), another run publishes none of that tenant's later
rows — other tenants' rows it publishes — and the later rows are published once the older
one is, without anyone asking again. Both relays' records go to one partition's log, in the
order they reach it (the table is the real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from bogfoer_kit.outbox import OutboxRelay
from bogfoer_kit.publish import Outgoing

from .conftest import new_tenant
from .test_mapper_isolation import pool
from .test_outbox_in_hand import Recorded, _committed, _left, _rows

__all__ = ["pool"]  # the fixture: a real PostgreSQL with the mapper's migrations


class Into(Recorded):
    """Appends to a log both replicas share; a held one waits before it does (replica A's
    acks outstanding: a slow leader, a retry)."""

    def __init__(self, log: list[bytes], held: bool = False) -> None:
        super().__init__()
        self.log = log
        self.entered = asyncio.Event()
        self.go = asyncio.Event()
        if not held:
            self.go.set()

    async def publish(self, records: Sequence[Outgoing]) -> None:
        self.entered.set()
        await self.go.wait()
        self.log += [r.value for r in records]
        await super().publish(records)


@pytest.mark.parametrize("a_in_hand", [True, False], ids=["a-from-memory", "a-read-back"])
@pytest.mark.parametrize("b_in_hand", [True, False], ids=["b-from-memory", "b-read-back"])
async def test_a_tenants_later_row_waits_for_the_row_another_run_holds(
    pool: asyncpg.Pool, a_in_hand: bool, b_in_hand: bool
) -> None:
    """Replica A's run holds tenant X's row 1, its publish held; row 2 of X is committed (by
    another loop of A, or by replica B) and so is a row of another tenant; B's run publishes
    the other tenant's row and not row 2. Once A's publish goes, row 2 follows it."""
    tenant, other = new_tenant(), new_tenant()
    first, second = _rows(tenant)[:1], _rows(tenant)[1:2]
    elsewhere = _rows(other)[:1]
    log: list[bytes] = []
    a = OutboxRelay(slow := Into(log, held=True), pool)
    b = OutboxRelay(Into(log), pool)

    written = await _committed(pool, first)
    if a_in_hand:
        a.committed(written)
    a_run = asyncio.create_task(a.relay())
    await asyncio.wait_for(slow.entered.wait(), 30)  # A holds row 1, its acks outstanding

    try:
        written = await _committed(pool, second)
        if b_in_hand:
            b.committed(written)
        await _committed(pool, elsewhere)
        # A deadline, not a timing: a run that waited for the held row would never end.
        await asyncio.wait_for(b.relay(), 30)
        assert log == [r.payload.encode() for r in elsewhere], "row 2 went before row 1"
    finally:
        slow.go.set()  # else A's run keeps its connection and the pool never closes
    await asyncio.wait_for(a_run, 30)
    for _ in range(300):  # B's retry publishes row 2 on its own
        if await _left(pool) == 0:
            break
        await asyncio.sleep(0.05)
    await b.settle()
    assert log == [r.payload.encode() for r in elsewhere + first + second]
    assert await _left(pool) == 0
