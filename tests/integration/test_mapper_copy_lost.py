"""A mapper copy whose connection is lost ends, as a transient fault (`bogfoer_kit.db.copy_records`,
as the ledger's `store._copy`): asyncpg sends a copy's rows as the socket takes them and,
its connection lost while it waits for the socket, waited for good — a mapper whose
PostgreSQL restarted mid-copy would hang its poll forever."""

from __future__ import annotations

import asyncpg
import pytest

from bogfoer_mapper import store

from .conftest import assert_copy_ends_when_lost, new_tenant

pytestmark = pytest.mark.integration


async def test_a_copy_whose_backend_is_terminated_fails_as_transient(
    mapper_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = new_tenant()
    state = '{"note": "' + "x" * 900 + '"}'
    # ~100 MB: the socket stops taking them long before the end
    states = {f"order:{n}": (state, False) for n in range(100_000)}
    monkeypatch.setattr(store, "COPY_FROM", 1)
    await assert_copy_ends_when_lost(
        mapper_pool, lambda conn: store.save_states(conn, tenant, states, set())
    )
