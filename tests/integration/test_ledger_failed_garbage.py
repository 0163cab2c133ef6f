"""A ledger batch that fails leaves no cyclic garbage behind: its records, commands and
postings are freed when the failure is handled, not kept for the collector. A statement the
ledger runs as a task of its own (the claim, a part's writes, a copy) and awaits raised the
task's exception, whose traceback held the awaiting frame, which held the task, which held
the exception: the failed batch — a poll's records, commands, postings and the rows of a
copy — waited for the collector's next young pass (every 20,000-100,000 objects, `GC_THRESHOLDS`:
a ledger retrying a batch through an outage kept a copy of it per attempt until then)."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from bogfoer_kit.consumer import Record, TenantBatch
from bogfoer_ledger import handlers, store
from tests.garbage import kept
from tests.integration.test_ledger_copy_lost import postings_copy
from tests.integration.test_ledger_order import TENANT, _batches, _Subscriptions

pytestmark = pytest.mark.integration


@pytest.fixture
def garbage() -> Iterator[list[Any]]:
    with kept() as found:
        yield found


def _left(garbage: list[Any]) -> list[str]:
    """The ledger's own objects among what only the collector would have freed."""
    gc.collect()
    return sorted(
        {
            type(o).__name__ if not hasattr(o, "f_code") else f"frame {o.f_code.co_name}"
            for o in garbage
            if isinstance(o, Record | TenantBatch | store.Copy)
            or ("bogfoer_ledger" in getattr(getattr(o, "f_code", None), "co_filename", ""))
        }
    )


async def test_a_failed_copy_leaves_no_cycle(ledger_pool: asyncpg.Pool, garbage: list[Any]) -> None:
    at = dt.datetime.now(dt.UTC)
    # The same key twice: the primary key's error.
    copy = postings_copy([f"dup-{n % 5}" for n in range(10)], "{}", at)
    async with ledger_pool.acquire() as conn:
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await store._execute_all(conn, [copy])
    assert _left(garbage) == []


@pytest.mark.parametrize("failing", ["claim_run", "_execute_all"])
async def test_a_failed_command_batch_leaves_no_cycle(
    ledger_pool: asyncpg.Pool,
    garbage: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    async def lost(*_: Any) -> Any:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(store, failing, lost)
    subscriptions = _Subscriptions()
    handlers.register(subscriptions, ledger_pool)  # type: ignore[arg-type]
    with pytest.raises(ConnectionResetError):
        await subscriptions.handlers["commands"](TenantBatch(TENANT, _batches()[0]))
    assert _left(garbage) == []
