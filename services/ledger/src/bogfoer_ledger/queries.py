"""Read-side queries behind the ops API."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

_POSTING_COLUMNS = (
    "posting_key, tenant_id, kind, state, amount_minor, currency, dinero_guid, dinero_number,"
    " attempts, last_error, detail, depends_on, created_at, updated_at"
)


def _row(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for key in ("last_error", "error", "headers"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


async def postings(
    pool: asyncpg.Pool,
    tenant: str,
    state: str | None,
    kind: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_POSTING_COLUMNS} FROM postings WHERE tenant_id = $1"  # noqa: S608 - fixed columns
        " AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR kind = $3)"
        " ORDER BY updated_at DESC, posting_key LIMIT $4",
        tenant,
        state,
        kind,
        limit,
    )
    return [_row(r) for r in rows]


async def posting(pool: asyncpg.Pool, tenant: str, key: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        f"SELECT {_POSTING_COLUMNS}, command FROM postings"  # noqa: S608 - fixed columns
        " WHERE tenant_id = $1 AND posting_key = $2",
        tenant,
        key,
    )
    if row is None:
        return None
    result = _row(row)
    if isinstance(result.get("command"), str):
        result["command"] = json.loads(result["command"])
    history = await pool.fetch(
        'SELECT from_state, to_state, detail, error, topic, partition, "offset", at'
        " FROM posting_transitions WHERE posting_key = $1 ORDER BY id",
        key,
    )
    result["history"] = [_row(h) for h in history]
    return result


async def counts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT tenant_id, state, kind, count(*) AS count, sum(amount_minor) AS amount_minor"
        " FROM postings GROUP BY tenant_id, state, kind ORDER BY tenant_id, state, kind"
    )
    return [dict(r) for r in rows]


async def dead_letters(pool: asyncpg.Pool, tenant: str | None, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        'SELECT id, tenant_id, topic, partition, "offset", original_topic, reason, detail,'
        " headers, at, redriven_at FROM dead_letters"
        " WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id DESC LIMIT $2",
        tenant,
        limit,
    )
    return [_row(r) for r in rows]


async def dead_letter(pool: asyncpg.Pool, dead_letter_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        'SELECT id, tenant_id, topic, partition, "offset", original_topic, reason, payload,'
        " headers FROM dead_letters WHERE id = $1",
        dead_letter_id,
    )
    return None if row is None else _row(row)


async def mark_redriven(pool: asyncpg.Pool, dead_letter_id: int) -> None:
    await pool.execute("UPDATE dead_letters SET redriven_at = now() WHERE id = $1", dead_letter_id)
