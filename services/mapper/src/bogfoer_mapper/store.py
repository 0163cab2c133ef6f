"""The mapper's tables: tenant settings, events seen, order states, the outbox."""

from __future__ import annotations

import json
import secrets
from collections.abc import Container

from bogfoer_contracts.tenants import TenantConfig
from bogfoer_kit.db import Conn, copy_records, json_texts

# A batch's new rows from which they are copied in (`COPY ... FROM STDIN`, binary: asyncpg
# encodes them, `bogfoer_kit.db.copy_records`) instead of inserted by a statement over JSON
# arrays and a text[]: no plan, no executor, no JSON lexed and no ORDER BY per row, and
# PostgreSQL writes a page's rows as one WAL record. Over the bench stream (in-process,
# 30,000 events, polls of 4,000, back to back with the statements) the new states' write
# ~9.1-13.8 -> ~5.9-6.8 µs of PostgreSQL's CPU a record (its custom plan copied the states'
# text[] constant once more) and asyncpg's encoding ~4.1-4.5 -> ~2.9-3.5 µs of the process's,
# the mapped events' rows ~8.8-9.9 -> ~8.1-9.0 (their primary key's insert is most of what
# is left). The posting origins are not copied: no gain measured (~4.0-4.4 µs either way,
# their key's insert). Below it the statements stay, as the ledger's `COPY_FROM`: a copy's
# fixed costs (its text parsed and analysed on every call, as a simple query, its insert
# buffers set up) are spread over few rows there, and small polls were not measured.
COPY_FROM = 64


async def lock_tenant(conn: Conn, tenant_id: str) -> None:
    """Serialise this transaction with the tenant's other event and settings transactions."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"mapper:{tenant_id}")


async def save_config(conn: Conn, config: TenantConfig) -> bool:
    """Store a tenant's settings unless a newer version is already stored."""
    row = await conn.fetchrow(
        "INSERT INTO tenant_configs (tenant_id, version, config) VALUES ($1, $2, $3::jsonb)"
        " ON CONFLICT (tenant_id) DO UPDATE SET version = EXCLUDED.version,"
        " config = EXCLUDED.config, updated_at = now()"
        " WHERE tenant_configs.version < EXCLUDED.version RETURNING 1",
        config.tenant_id,
        config.version,
        config.model_dump_json(),
    )
    return row is not None


async def load_config(conn: Conn, tenant_id: str) -> TenantConfig | None:
    raw = await conn.fetchval("SELECT config FROM tenant_configs WHERE tenant_id = $1", tenant_id)
    return None if raw is None else TenantConfig.model_validate_json(raw)


# Events in order, each its (event id, state key, payload, backfill) and its outcome. The
# payloads' array may be NULL: ROWS FROM pads a shorter function's column with NULLs, so
# every payload is NULL then (mapped events have none).
_INSERT_EVENTS = (
    "INSERT INTO events (tenant_id, event_id, state_key, payload, backfill, processed,"
    " outcome) SELECT $1, event_id, state_key, payload, backfill::boolean,"
    " outcome IS NOT NULL, outcome"
    " FROM ROWS FROM (json_array_elements_text($2::json), json_array_elements_text($3::json),"
    " unnest($4::text[]), json_array_elements_text($5::json),"
    " json_array_elements_text($6::json))"
    " WITH ORDINALITY AS e(event_id, state_key, payload, backfill, outcome, n) ORDER BY n"
)
# The events' primary key (migration 008): their identity (tenant, event id, backfill).
EVENTS_KEY = "events_pkey"
# A second copy of an id (seen before, or twice in one batch) left out.
_INSERT_NEW_EVENTS = _INSERT_EVENTS + " ON CONFLICT DO NOTHING"


def _event_columns(
    tenant_id: str,
    events: list[tuple[str, str, str | None, bool]],
    outcomes: list[str] | list[None],
) -> tuple[str, str, str, list[str | None] | None, str, str]:
    payloads = [e[2] for e in events]
    return (
        tenant_id,
        json_texts(e[0] for e in events),
        json_texts(e[1] for e in events),
        # Payloads stay a text[]: escaping an event's JSON as a JSON string cost several
        # times what asyncpg's copy of it does. None where there are none (mapped events):
        # asyncpg checks every element of an array against `collections.abc` in Python.
        payloads if any(payload is not None for payload in payloads) else None,
        json.dumps([e[3] for e in events]),
        json_texts(outcomes),
    )


async def record_events(
    conn: Conn, tenant_id: str, events: list[tuple[str, str, str | None, bool]]
) -> list[int | None]:
    """Remember events (event id, state key, payload, backfill) to be mapped, in order;
    for each its seq, or None when its id was seen before (a redelivery, or twice in this
    batch)."""
    rows = await conn.fetch(
        _INSERT_NEW_EVENTS + " RETURNING seq, event_id, backfill",
        *_event_columns(tenant_id, events, [None] * len(events)),
    )
    inserted = {(r["event_id"], r["backfill"]): r["seq"] for r in rows}
    seqs: list[int | None] = []
    for event_id, _, _, backfill in events:
        # The first of two copies in one batch was inserted; the second is a duplicate.
        seqs.append(inserted.pop((event_id, backfill), None))
    return seqs


async def record_mapped(
    conn: Conn,
    tenant_id: str,
    events: list[tuple[str, str, str | None, bool]],
    outcomes: list[str],
) -> None:
    """Remember events mapped in this transaction, each with its outcome: stored as
    processed at once (one write each, where marking them after would write each row
    twice), without their payloads (None: their states hold them). Nothing is read back:
    no one needs their seqs, and a row back per event was asyncpg's decoding and a
    dictionary of them for nothing.

    Only events not stored yet, each once: the caller took each once from its batch, and
    its order's state, which keeps the ids of the events it has seen, had not seen it
    (`decide`'s `duplicate_event`), under the tenant's lock, which every writer of the
    tenant's events holds — not looked up here first (`seen_events`: a look-up of every id
    of the batch, ~1.2-1.6 µs an event in PostgreSQL and ~1.1 in Python, for the copies a
    redelivery brings now and then). So no `ON CONFLICT`: PostgreSQL's speculative
    insertion for it (a look into the unique index before each row and a second write to
    confirm it) was about a third of the statement (~2.5 µs an event). A copy its state
    does not know is the primary key's error (`EVENTS_KEY`), not a silent skip of an
    event just decided: the mapper then records the batch's events to wait (dropping the
    copy there) and maps them again one by one. That is the intended way for the copies
    only the key knows, not a bug: a live copy arriving after a backfill re-opened its
    order (the new state forgot the live ids), or a copy whose payload names another
    order (a payment first sent without its order). Never `ON CONFLICT DO NOTHING` here:
    the copy would have been decided already, and booked a second time."""
    if len(events) < COPY_FROM:
        await conn.execute(_INSERT_EVENTS, *_event_columns(tenant_id, events, outcomes))
        return
    await copy_records(
        conn,
        "events",
        _MAPPED_COLUMNS,
        [
            (tenant_id, event_id, state_key, backfill, outcome, True)
            for (event_id, state_key, _, backfill), outcome in zip(events, outcomes, strict=True)
        ],
    )


# A mapped event's row as copied in: no payload, processed (the column's default is false).
_MAPPED_COLUMNS = ("tenant_id", "event_id", "state_key", "backfill", "outcome", "processed")


async def seen_events(
    conn: Conn, tenant_id: str, events: list[tuple[str, bool]]
) -> set[tuple[str, bool]]:
    """Of these (event id, backfill), the ones stored already (events of a tenant whose
    events wait: an active tenant's copies are dropped by their states, `handlers`)."""
    rows = await conn.fetch(
        "SELECT event_id, backfill FROM events WHERE tenant_id = $1"
        " AND event_id = ANY(ARRAY(SELECT json_array_elements_text($2::json)))",
        tenant_id,
        json_texts({event_id for event_id, _ in events}),
    )
    return {(r["event_id"], r["backfill"]) for r in rows}


async def unprocessed(
    conn: Conn, tenant_id: str, in_hand: dict[int, str] | None = None
) -> list[tuple[int, str]]:
    """(seq, payload) of the tenant's events not processed yet, in order. `in_hand`: the
    payloads of some of them by seq (just recorded), not read back from the table."""
    known = in_hand or {}
    rows = await conn.fetch(
        "SELECT seq, CASE WHEN seq = ANY($2::bigint[]) THEN NULL ELSE payload END"
        " AS payload FROM events WHERE tenant_id = $1 AND NOT processed ORDER BY seq"
        " FOR UPDATE",
        tenant_id,
        list(known),
    )
    return [(r["seq"], known[r["seq"]] if r["payload"] is None else r["payload"]) for r in rows]


# Stored events by seq are the tenant's waiting ones (`unprocessed`): found through
# `events_unprocessed` (tenant, seq), the only index on seq (008).


async def forget_events(conn: Conn, tenant_id: str, seqs: list[int]) -> None:
    """Forget these of the tenant's waiting events (by seq)."""
    if seqs:
        await conn.execute(
            "DELETE FROM events WHERE tenant_id = $1 AND NOT processed AND seq = ANY($2::bigint[])",
            tenant_id,
            seqs,
        )


async def mark_processed(conn: Conn, tenant_id: str, outcomes: list[tuple[int, str]]) -> None:
    """(seq, outcome) of the tenant's waiting events, mapped."""
    if outcomes:
        await conn.execute(
            "UPDATE events SET processed = true, outcome = o.outcome"
            " FROM unnest($2::bigint[], $3::text[]) AS o(seq, outcome)"
            " WHERE events.tenant_id = $1 AND NOT events.processed AND events.seq = o.seq",
            tenant_id,
            [seq for seq, _ in outcomes],
            [outcome for _, outcome in outcomes],
        )


async def load_states(
    conn: Conn, tenant_id: str, state_keys: list[str], known: dict[str, int] | None = None
) -> dict[str, tuple[int, str | None]]:
    """The stored states of these keys (locked to the commit), by key: each its version and
    its text — None where the version is the one in `known` (a state the caller holds
    already, as that write left it: not sent again)."""
    versions = known or {}
    rows = await conn.fetch(
        "SELECT s.state_key, s.version, CASE WHEN s.version = k.version::bigint THEN NULL"
        " ELSE s.state END AS state FROM order_states s JOIN ROWS FROM"
        " (json_array_elements_text($2::json), json_array_elements_text($3::json))"
        " AS k(state_key, version) ON s.state_key = k.state_key"
        " WHERE s.tenant_id = $1 ORDER BY s.state_key FOR UPDATE OF s",
        tenant_id,
        json_texts(state_keys),
        # -1: no version (none is negative)
        json.dumps([versions.get(key, -1) for key in state_keys]),
    )
    return {r["state_key"]: (r["version"], r["state"]) for r in rows}


# Each statement takes the tenant ($1), the keys ($2, a JSON array), the states ($3, a
# text[]), whether each holds something back ($4, a JSON array) and the version ($5).
_STATE_ROWS = (
    " FROM ROWS FROM (json_array_elements_text($2::json), unnest($3::text[]),"
    " json_array_elements_text($4::json)) AS s(key, state, held)"
)
_INSERT_STATES = (
    "INSERT INTO order_states (tenant_id, state_key, state, held, version)"
    " SELECT $1, key, state, held::boolean, $5" + _STATE_ROWS
)
_STATE_COLUMNS = ("tenant_id", "state_key", "state", "held", "version")
_UPSERT_STATES = (
    _INSERT_STATES + " ON CONFLICT (tenant_id, state_key) DO UPDATE SET"
    " state = EXCLUDED.state, held = EXCLUDED.held, version = EXCLUDED.version,"
    " updated_at = now()"
)
_UPDATE_STATES = (
    "UPDATE order_states SET state = s.state, held = s.held::boolean, version = $5,"  # noqa: S608 - constants
    " updated_at = now()" + _STATE_ROWS + " WHERE tenant_id = $1 AND state_key = s.key"
)


async def save_states(
    conn: Conn,
    tenant_id: str,
    states: dict[str, tuple[str, bool]],
    stored: Container[str] | None = None,
) -> int:
    """(state, whether it holds something back) by key. Returns their version, which every
    state this call writes carries (`load_states`): 62 random bits, drawn for the call — not
    the transaction's id, which a failover that loses commits or a point-in-time restore
    hands out again, so another write could carry a version a process still holds.

    `stored`: the keys whose rows exist, as far as the caller knows (`load_states` locked
    them, under the tenant's lock, which every writer of the tenant's states holds): the
    others are inserted without `ON CONFLICT`, whose speculative insertion was ~15 % of the
    write of a new state, and these updated. A row inserted all the same is the primary
    key's error, one not there to update an `AssertionError`, not a state silently lost
    (a bug either way: the mapper then maps the batch's events one by one, where states
    are written with `ON CONFLICT`). Without it: each inserted or updated as it is found."""
    version = secrets.randbits(62) + 1  # > 0: 0 is a state written before versions
    if not states:
        return version
    if stored is None:
        await _write_states(conn, _UPSERT_STATES, tenant_id, states, version)
        return version
    new = {key: value for key, value in states.items() if key not in stored}
    old = {key: value for key, value in states.items() if key in stored}
    if len(new) >= COPY_FROM:
        await copy_records(
            conn,
            "order_states",
            _STATE_COLUMNS,
            [(tenant_id, key, state, held, version) for key, (state, held) in new.items()],
        )
    elif new:
        await _write_states(conn, _INSERT_STATES, tenant_id, new, version)
    if old:
        status = await _write_states(conn, _UPDATE_STATES, tenant_id, old, version)
        if status != f"UPDATE {len(old)}":
            raise AssertionError(f"{status} of {len(old)} stored states")
    return version


async def _write_states(
    conn: Conn, statement: str, tenant_id: str, states: dict[str, tuple[str, bool]], version: int
) -> str:
    # The states as a text[]: asyncpg copies each as it is, where a JSON array of them
    # made PostgreSQL lex every state to split it (~12 µs of a ~30 µs write of a 2 kB
    # state, rolled back, min of 15).
    status: str = await conn.execute(
        statement,
        tenant_id,
        json_texts(states),
        [state for state, _ in states.values()],
        json.dumps([held for _, held in states.values()]),
        version,
    )
    return status


async def load_state(conn: Conn, tenant_id: str, state_key: str) -> str | None:
    raw: str | None = await conn.fetchval(
        "SELECT state FROM order_states WHERE tenant_id = $1 AND state_key = $2 FOR UPDATE",
        tenant_id,
        state_key,
    )
    return raw


async def save_state(conn: Conn, tenant_id: str, state_key: str, state: str, held: bool) -> int:
    return await save_states(conn, tenant_id, {state_key: (state, held)})


_INSERT_ORIGINS = (
    "INSERT INTO posting_origins (tenant_id, posting_key, state_key)"
    " SELECT $1, posting_key, state_key FROM ROWS FROM"
    " (json_array_elements_text($2::json), json_array_elements_text($3::json))"
    " AS o(state_key, posting_key)"
)


async def record_origins(
    conn: Conn, tenant_id: str, origins: list[tuple[str, str]], *, new: bool = False
) -> None:
    """Remember that these posting keys (emitted or held) come from these states:
    (state key, posting key) pairs. `new`: the caller knows none of them is recorded yet
    (each once, under the tenant's lock): inserted without `ON CONFLICT`, whose speculative
    insertion was ~40 % of the statement; a pair recorded all the same is the unique
    index's error."""
    if origins:
        await conn.execute(
            _INSERT_ORIGINS if new else _INSERT_ORIGINS + " ON CONFLICT DO NOTHING",
            tenant_id,
            json_texts(state_key for state_key, _ in origins),
            json_texts(key for _, key in origins),
        )


async def origin(conn: Conn, tenant_id: str, posting_key: str) -> tuple[str, int] | None:
    """(state key, revision) of a posting key; the first state that gave it."""
    row = await conn.fetchrow(
        "SELECT state_key, revision FROM posting_origins WHERE tenant_id = $1"
        " AND posting_key = $2 ORDER BY state_key LIMIT 1",
        tenant_id,
        posting_key,
    )
    return None if row is None else (row["state_key"], row["revision"])


async def set_revision(conn: Conn, tenant_id: str, posting_key: str, revision: int) -> None:
    await conn.execute(
        "UPDATE posting_origins SET revision = $3 WHERE tenant_id = $1 AND posting_key = $2",
        tenant_id,
        posting_key,
        revision,
    )


async def held_states(conn: Conn, tenant_id: str) -> list[tuple[str, str]]:
    """(state key, state) of the tenant's states that hold something back."""
    rows = await conn.fetch(
        "SELECT state_key, state FROM order_states WHERE tenant_id = $1 AND held"
        " ORDER BY state_key FOR UPDATE",
        tenant_id,
    )
    return [(r["state_key"], r["state"]) for r in rows]


async def claim_action(conn: Conn, action_id: str) -> bool:
    """False when this operator action was carried out before (a redelivery)."""
    row = await conn.fetchrow(
        "INSERT INTO actions_applied (action_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1",
        action_id,
    )
    return row is not None
