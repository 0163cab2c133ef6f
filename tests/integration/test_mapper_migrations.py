"""The mapper's migration to text payloads and states (005) on a database written before it
(real PostgreSQL): every state and event reads back as the same value, and the states that
hold something back are the ones the new `held` column finds."""

from __future__ import annotations

from importlib import resources

import asyncpg
import pytest

from bogfoer_contracts.events import parse_event
from bogfoer_kit.db import Conn, create_pool, migrate
from bogfoer_kit.outbox import OutboxRelay, OutboxRow, enqueue_many
from bogfoer_mapper import store
from bogfoer_rules.policy import OrderState

from .conftest import new_tenant
from .test_mapper_isolation import placed
from .test_outbox_in_hand import Recorded

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
        assert (await migrate(pool, "bogfoer_mapper"))[0] == BEFORE
        async with pool.acquire() as conn, conn.transaction():
            stored = await store.load_states(conn, tenant, ["order/1", "order/2"])
            assert {k: OrderState.load(v or "") for k, (_, v) in stored.items()} == {
                "order/1": held,
                "order/2": clear,
            }
            assert {version for version, _ in stored.values()} == {0}  # before versions
            assert [key for key, _ in await store.held_states(conn, tenant)] == ["order/1"]
            [(_, payload)] = await store.unprocessed(conn, tenant)
            assert parse_event(payload) == parse_event(event)
    finally:
        await pool.close()


async def test_keys_in_byte_order_find_and_drop_what_they_did_before(fresh_database: str) -> None:
    """006: the unique indexes' text keys (events' tenant and id, posting origins') compared
    in byte order ("C") instead of the database's collation: events and origins stored
    before are found by the same ids, a copy is still dropped, and the tables themselves
    are not rewritten (only their indexes rebuilt)."""
    tenant = new_tenant()
    ids = ["e-1", "E-1", "é-1", "e-1 "]  # equal under no collation
    pool = await create_pool(fresh_database, "mapper")
    try:
        async with pool.acquire() as conn:
            await _migrated_up_to(conn, "006_byte_order_keys.sql")
            await store.record_mapped(
                conn, tenant, [(i, "order:1", None, False) for i in ids], ["x"] * len(ids)
            )
            await store.record_origins(conn, tenant, [("order:1", "k"), ("order:2", "k")])
            files = await _relfilenodes(conn)
        assert (await migrate(pool, "bogfoer_mapper"))[0] == "006_byte_order_keys.sql"
        async with pool.acquire() as conn, conn.transaction():
            assert await _relfilenodes(conn) == files
            collations = await conn.fetch(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'mapper' AND collation_name = 'C' ORDER BY 1, 2"
            )
            assert [tuple(r) for r in collations] == [
                ("events", "event_id"),
                ("events", "tenant_id"),
                ("posting_origins", "posting_key"),
                ("posting_origins", "state_key"),
                ("posting_origins", "tenant_id"),
            ]
            wanted = [(i, False) for i in [*ids, "e-2"]]
            assert await store.seen_events(conn, tenant, wanted) == {(i, False) for i in ids}
            fresh: list[tuple[str, str, str | None, bool]] = [
                (i, "order:1", "{}", False) for i in [*ids, "e-2"]
            ]
            assert await store.record_events(conn, tenant, fresh) == [None] * len(ids) + [
                await conn.fetchval("SELECT max(seq) FROM events")
            ]
            assert await store.origin(conn, tenant, "k") == ("order:1", 0)
    finally:
        await pool.close()


async def _relfilenodes(conn: Conn) -> list[tuple[str, int]]:
    rows = await conn.fetch(
        "SELECT relname, relfilenode FROM pg_class WHERE relname IN ('events', 'posting_origins')"
        " AND relnamespace = 'mapper'::regnamespace ORDER BY relname"
    )
    return [(r["relname"], r["relfilenode"]) for r in rows]


async def test_events_keyed_by_identity_find_and_map_what_they_did_before(
    fresh_database: str,
) -> None:
    """008: the events' primary key is their identity (tenant, id, backfill), no longer seq:
    events stored before are found by the same ids, a copy is still dropped (a copy recorded
    as mapped is the key's error), and a waiting event is still mapped by its seq."""
    tenant = new_tenant()
    pool = await create_pool(fresh_database, "mapper")
    try:
        async with pool.acquire() as conn:
            await _migrated_up_to(conn, "008_events_identity_key.sql")
            await store.record_mapped(conn, tenant, [("e-1", "order:1", None, False)], ["x"])
            [waiting] = await store.record_events(conn, tenant, [("e-2", "order:1", "{}", True)])
        assert (await migrate(pool, "bogfoer_mapper"))[0] == "008_events_identity_key.sql"
        async with pool.acquire() as conn, conn.transaction():
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'mapper'"
                " AND tablename = 'events' ORDER BY indexname"
            )
            assert [r["indexname"] for r in indexes] == ["events_pkey", "events_unprocessed"]
            assert "(tenant_id, event_id, backfill)" in indexes[0]["indexdef"]
            wanted = [("e-1", False), ("e-2", True), ("e-2", False)]
            assert await store.seen_events(conn, tenant, wanted) == {("e-1", False), ("e-2", True)}
            copies: list[tuple[str, str, str | None, bool]] = [
                ("e-1", "order:1", "{}", False),
                ("e-2", "order:1", "{}", True),
            ]
            assert await store.record_events(conn, tenant, copies) == [None, None]
            assert [seq for seq, _ in await store.unprocessed(conn, tenant)] == [waiting]
            assert waiting is not None
            await store.mark_processed(conn, tenant, [(waiting, "y")])
            assert await store.unprocessed(conn, tenant) == []
            with pytest.raises(asyncpg.UniqueViolationError):
                async with conn.transaction():
                    await store.record_mapped(conn, tenant, [copies[0]], ["z"])
    finally:
        await pool.close()


async def test_outbox_rows_written_before_runs_are_published_after(fresh_database: str) -> None:
    """009: outbox rows may hold a run of a tenant's records; a row written before (one
    record, the old columns) is still published, in order before the runs written after."""
    tenant = new_tenant()
    pool = await create_pool(fresh_database, "mapper")
    try:
        async with pool.acquire() as conn:
            await _migrated_up_to(conn, "009_outbox_batches.sql")
            await conn.execute(
                "INSERT INTO outbox (tenant_id, topic, payload, headers)"
                ' VALUES ($1, \'postings.commands.v1\', \'{"n": 0}\', \'{"b": "1", "a": "2"}\')',
                tenant,
            )
        assert (await migrate(pool, "bogfoer_mapper"))[0] == "009_outbox_batches.sql"
        async with pool.acquire() as conn, conn.transaction():
            rows = [OutboxRow(tenant, "postings.commands.v1", f'{{"n": {n}}}') for n in (1, 2)]
            await enqueue_many(conn, rows)
        published = Recorded()
        assert await OutboxRelay(published, pool).relay() == 3
        assert [(r.value, dict(r.headers)) for r in published.records] == [
            (b'{"n": 0}', {"content-type": "application/json", "a": "2", "b": "1"}),
            (b'{"n": 1}', {"content-type": "application/json"}),
            (b'{"n": 2}', {"content-type": "application/json"}),
        ]
    finally:
        await pool.close()
