"""The mapper's migration to text payloads and states (005) on a database written before it
(real PostgreSQL): every state and event reads back as the same value, and the states that
hold something back are the ones the new `held` column finds."""

from __future__ import annotations

from importlib import resources

from bogfoer_contracts.events import parse_event
from bogfoer_kit.db import Conn, create_pool, migrate
from bogfoer_mapper import store
from bogfoer_rules.policy import OrderState

from .conftest import new_tenant
from .test_mapper_isolation import placed

BEFORE = "005_text_payloads.sql"


async def _migrated_up_to(conn: Conn, last: str) -> None:
    """The migrations before `last`, applied (and recorded) as `migrate` would have."""
    await conn.execute(
        "CREATE TABLE schema_migrations (name text PRIMARY KEY,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    folder = resources.files("bogfoer_mapper").joinpath("migrations")
    for file in sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=str):
        if file.name >= last:
            break
        await conn.execute(file.read_text())
        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", file.name)


async def test_states_and_events_stored_as_jsonb_read_back_the_same(fresh_database: str) -> None:
    tenant = new_tenant()
    held = OrderState(key="order/1", emitted=["a"], holds_raised=["bogfoer:x:invoice:1|unmapped"])
    clear = OrderState(key="order/2", emitted=["b"])
    event = placed(tenant, "1")
    pool = await create_pool(fresh_database, "mapper")
    try:
        async with pool.acquire() as conn:
            await _migrated_up_to(conn, BEFORE)
            for state in (held, clear):
                await conn.execute(
                    "INSERT INTO order_states (tenant_id, state_key, state)"
                    " VALUES ($1, $2, $3::jsonb)",
                    tenant,
                    state.key,
                    state.model_dump_json(),
                )
            await conn.execute(
                "INSERT INTO events (tenant_id, event_id, state_key, payload)"
                " VALUES ($1, 'e-1', 'order/1', $2::jsonb)",
                tenant,
                event.decode(),
            )
        assert await migrate(pool, "bogfoer_mapper") == [BEFORE]
        async with pool.acquire() as conn, conn.transaction():
            stored = await store.load_states(conn, tenant, ["order/1", "order/2"])
            assert {k: OrderState.load(v) for k, v in stored.items()} == {
                "order/1": held,
                "order/2": clear,
            }
            assert [key for key, _ in await store.held_states(conn, tenant)] == ["order/1"]
            [(_, payload)] = await store.unprocessed(conn, tenant)
            assert parse_event(payload) == parse_event(event)
    finally:
        await pool.close()
