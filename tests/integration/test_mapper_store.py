"""The mapper's batch statements (real PostgreSQL) store exactly the strings they are given.

They hand PostgreSQL each column as one JSON array (`json_array_elements_text`, a state as
the JSON document it is: `json_array_elements`) instead of a text[]: every row must read
back as the very text a text[] stored — quotes, backslashes, non-ASCII, a state's own
escapes, and None as NULL — in order, with the duplicates and seqs as before."""

from __future__ import annotations

import json

import asyncpg
import pytest

from bogfoer_kit.db import create_pool, migrate
from bogfoer_mapper import store
from bogfoer_rules.policy import OrderState

from .conftest import new_tenant

# Text a JSON array of strings must escape, and a state's JSON whose own escapes (`\"`,
# `\\`, `\u00e6` never written by pydantic but valid JSON) must not be read as strings.
AWKWARD = ['a "quoted" \\ back\\slash', "tab\there, newline\nthere", "Ærø ☕ 𝄞", "", "/~:|"]


async def test_rows_read_back_as_the_strings_written(fresh_database: str) -> None:
    tenant = new_tenant()
    states = {
        f"order:{n}": (
            OrderState(key=f"order:{n}", emitted=[text], holds_raised=[text]).model_dump_json(),
            n % 2 == 0,
        )
        for n, text in enumerate(AWKWARD)
    }
    states["order:escaped"] = ('{"key": "order:\\u00e6 \\"x\\" \\\\", "emitted": []}', False)
    events = [
        (f"e-{n}-{text}", f"order:{n}", text if n % 2 else None, n == 3)
        for n, text in enumerate(AWKWARD)
    ]
    pool = await create_pool(fresh_database, "mapper")
    try:
        await migrate(pool, "bogfoer_mapper")
        async with pool.acquire() as conn, conn.transaction():
            seqs = await store.record_events(conn, tenant, [*events, events[0]])
            assert seqs[-1] is None  # the second copy in one batch
            firsts = [seq for seq in seqs[:-1] if seq is not None]
            assert len(firsts) == len(events)
            assert firsts == sorted(firsts)  # in order
            await store.record_mapped(
                conn, tenant, [(f"m-{t}", "order:0", None, False) for t in AWKWARD], AWKWARD
            )
            version = await store.save_states(conn, tenant, states)
            await store.record_origins(conn, tenant, [(f"order:{t}", f"key {t}") for t in AWKWARD])

            rows = await conn.fetch(
                "SELECT event_id, state_key, payload, backfill, processed, outcome FROM events"
                " WHERE tenant_id = $1 ORDER BY seq",
                tenant,
            )
            assert [tuple(r) for r in rows] == [
                *((i, k, p, b, False, None) for i, k, p, b in events),
                *((f"m-{t}", "order:0", None, False, True, t) for t in AWKWARD),
            ]
            assert await store.seen_events(
                conn, tenant, [(i, b) for i, _, _, b in events] + [("other", False)]
            ) == {(i, b) for i, _, _, b in events}
            loaded = await store.load_states(conn, tenant, [*states, "order:none"])
            assert loaded == {k: (version, state) for k, (state, _) in states.items()}
            # A state held as the version stored is not sent again; one held as another is.
            some, other = sorted(states)[:2]
            assert await store.load_states(
                conn, tenant, [some, other], {some: version, other: version - 1}
            ) == {some: (version, None), other: (version, states[other][0])}
            held = await conn.fetch(
                "SELECT state_key FROM order_states WHERE tenant_id = $1 AND held"
                " ORDER BY state_key",
                tenant,
            )
            assert [r["state_key"] for r in held] == sorted(k for k, (_, h) in states.items() if h)
            origins = await conn.fetch(
                "SELECT state_key, posting_key FROM posting_origins WHERE tenant_id = $1",
                tenant,
            )
            assert sorted(tuple(r) for r in origins) == sorted(
                (f"order:{t}", f"key {t}") for t in AWKWARD
            )
            # A state as text, not as a JSON value PostgreSQL printed again.
            escaped = await store.load_state(conn, tenant, "order:escaped")
            assert escaped == states["order:escaped"][0]
            assert json.loads(escaped)["key"] == 'order:æ "x" \\'
    finally:
        await pool.close()


async def test_recording_as_mapped_an_event_stored_already_is_refused(fresh_database: str) -> None:
    """`record_mapped` is handed only events found unseen under the tenant's lock: a copy is
    the unique index's error (the mapper then maps the batch again one by one), not a row
    silently skipped after its event was decided. `record_events` still drops copies."""
    tenant = new_tenant()
    event = ("e-1", "order:1", None, False)
    pool = await create_pool(fresh_database, "mapper")
    try:
        await migrate(pool, "bogfoer_mapper")
        async with pool.acquire() as conn:
            await store.record_mapped(conn, tenant, [event], ["1 commands, 0 holds"])
            with pytest.raises(asyncpg.UniqueViolationError):
                await store.record_mapped(conn, tenant, [event], ["1 commands, 0 holds"])
            assert await store.record_events(conn, tenant, [(*event[:2], "{}", False)]) == [None]
            # The same id as a backfill's is another event.
            await store.record_mapped(conn, tenant, [(*event[:3], True)], ["ignored"])
            stored = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant)
            assert stored == 2
    finally:
        await pool.close()


async def test_states_known_stored_are_updated_and_the_others_inserted(
    fresh_database: str,
) -> None:
    """`save_states` told which keys are stored: those updated, the others inserted without
    `ON CONFLICT` — the same rows an upsert writes. A key wrongly taken for new is the
    primary key's error, one wrongly taken for stored an `AssertionError`: never a state
    silently lost."""
    tenant = new_tenant()
    pool = await create_pool(fresh_database, "mapper")
    try:
        await migrate(pool, "bogfoer_mapper")
        async with pool.acquire() as conn:
            first = await store.save_states(conn, tenant, {"order:1": ("{}", True)})
            version = await store.save_states(
                conn, tenant, {"order:1": ('{"a":1}', False), "order:2": ("[]", True)}, {"order:1"}
            )
            rows = await conn.fetch(
                "SELECT state_key, state, held, version FROM order_states WHERE tenant_id = $1"
                " ORDER BY state_key",
                tenant,
            )
            assert [tuple(r) for r in rows] == [
                ("order:1", '{"a":1}', False, version),
                ("order:2", "[]", True, version),
            ]
            assert version != first
            async with conn.transaction():
                with pytest.raises(asyncpg.UniqueViolationError):
                    await store.save_states(conn, tenant, {"order:1": ("{}", False)}, set())
            async with conn.transaction():
                with pytest.raises(AssertionError):
                    await store.save_states(conn, tenant, {"order:3": ("{}", False)}, {"order:3"})
            assert await store.load_states(conn, tenant, ["order:3"]) == {}
    finally:
        await pool.close()


async def test_copied_rows_are_the_rows_inserted(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From `COPY_FROM` rows on, a batch's mapped events and new states are copied in
    (`COPY ... FROM STDIN`, binary) instead of inserted: the same rows, in the same order
    (the origins beside them, inserted either way), and a copy the key refuses is the same
    key's error (`store.EVENTS_KEY`, which the mapper takes for a copy its state did not
    know)."""
    mapped: list[tuple[str, str, str | None, bool]] = [
        (f"m-{t}", f"order:{n}", None, n == 2) for n, t in enumerate(AWKWARD)
    ]
    states = {f"order:{n}": (text, n % 2 == 0) for n, text in enumerate(AWKWARD)}
    origins = [(f"order:{t}", f"key {t}") for t in AWKWARD]
    pool = await create_pool(fresh_database, "mapper")
    written: dict[int, tuple[list[tuple[object, ...]], ...]] = {}
    try:
        await migrate(pool, "bogfoer_mapper")
        for copy_from in (1, 10_000):  # copied, inserted
            monkeypatch.setattr(store, "COPY_FROM", copy_from)
            tenant = new_tenant()
            async with pool.acquire() as conn, conn.transaction():
                await store.record_mapped(conn, tenant, mapped, AWKWARD)
                version = await store.save_states(conn, tenant, states, set())
                await store.record_origins(conn, tenant, origins, new=True)
                event_rows = await conn.fetch(
                    "SELECT event_id, state_key, payload, backfill, processed, outcome"
                    " FROM events WHERE tenant_id = $1 ORDER BY seq",
                    tenant,
                )
                states_rows = await conn.fetch(
                    "SELECT state_key, state, held, version = $2 FROM order_states"
                    " WHERE tenant_id = $1 ORDER BY state_key",
                    tenant,
                    version,
                )
                origin_rows = await conn.fetch(
                    "SELECT state_key, posting_key, revision FROM posting_origins"
                    " WHERE tenant_id = $1 ORDER BY posting_key, state_key",
                    tenant,
                )
                written[copy_from] = tuple(
                    [tuple(r) for r in rows] for rows in (event_rows, states_rows, origin_rows)
                )
                with pytest.raises(asyncpg.UniqueViolationError) as refused:
                    async with conn.transaction():
                        await store.record_mapped(conn, tenant, mapped[:1], AWKWARD[:1])
                assert refused.value.constraint_name == store.EVENTS_KEY
        assert written[1] == written[10_000]
        events, stored, keys = written[1]
        assert events == [
            (i, k, None, b, True, t) for (i, k, _, b), t in zip(mapped, AWKWARD, strict=True)
        ]
        assert stored == sorted((k, s, h, True) for k, (s, h) in states.items())
        assert keys == [(s, k, 0) for s, k in sorted(origins, key=lambda o: (o[1], o[0]))]
    finally:
        await pool.close()
