"""Read-side queries behind the ops API and the ops pages. Filters, ordering and pages are
in the SQL, so a page costs the same with ten postings or a million."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

_POSTING_COLUMNS = (
    "posting_key, tenant_id, kind, state, amount_minor, currency, dinero_guid, dinero_number,"
    " attempts, last_error, detail, depends_on, created_at, updated_at, trace_id, seen_at"
)
OPEN_STATES = ("pending", "waiting", "parked")
STATES = ("pending", "waiting", "done", "failed", "held", "parked")
KINDS = ("contact", "invoice", "payment", "credit_note", "voucher")


def _row(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for key in ("last_error", "error", "headers", "command"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


@dataclass(frozen=True)
class PostingFilter:
    """What the tenant page and `GET /v1/tenants/{t}/postings` filter by."""

    state: str | None = None
    kind: str | None = None
    # An order number or any part of a posting key (`1042` finds `…:invoice:shopify:1042`).
    search: str | None = None
    updated_from: dt.date | None = None
    updated_to: dt.date | None = None

    def where(self, first: int) -> tuple[str, list[Any]]:
        """The SQL condition (tenant excluded) and its arguments, numbered from `first`."""
        n = first
        sql = (
            f" AND (${n}::text IS NULL OR state = ${n})"
            f" AND (${n + 1}::text IS NULL OR kind = ${n + 1})"
            f" AND (${n + 2}::text IS NULL OR posting_key LIKE '%' || ${n + 2} || '%'"
            f" OR command->>'description' ILIKE '%' || ${n + 2} || '%')"
            f" AND (${n + 3}::date IS NULL OR updated_at >= ${n + 3}::date)"
            f" AND (${n + 4}::date IS NULL OR updated_at < ${n + 4}::date + 1)"
        )
        search = (
            self.search.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            if (self.search)
            else None
        )
        return sql, [self.state, self.kind, search, self.updated_from, self.updated_to]


async def postings(
    pool: asyncpg.Pool, tenant: str, where: PostingFilter, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    condition, args = where.where(2)
    rows = await pool.fetch(
        f"SELECT {_POSTING_COLUMNS} FROM postings WHERE tenant_id = $1{condition}"  # noqa: S608 - fixed columns, numbered arguments
        " ORDER BY updated_at DESC, posting_key LIMIT $7 OFFSET $8",
        tenant,
        *args,
        limit,
        offset,
    )
    return [_row(r) for r in rows]


async def count_postings(pool: asyncpg.Pool, tenant: str, where: PostingFilter) -> int:
    condition, args = where.where(2)
    found: int = await pool.fetchval(
        f"SELECT count(*) FROM postings WHERE tenant_id = $1{condition}",  # noqa: S608 - as above
        tenant,
        *args,
    )
    return found


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
    history = await pool.fetch(
        'SELECT from_state, to_state, detail, error, topic, partition, "offset", at'
        " FROM posting_transitions WHERE posting_key = $1 ORDER BY id",
        key,
    )
    result["history"] = [_row(h) for h in history]
    return result


async def counts(pool: asyncpg.Pool, tenant: str | None = None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT tenant_id, state, kind, count(*) AS count,"
        " coalesce(sum(amount_minor), 0)::bigint AS amount_minor"
        " FROM postings WHERE ($1::text IS NULL OR tenant_id = $1)"
        " GROUP BY tenant_id, state, kind ORDER BY tenant_id, state, kind",
        tenant,
    )
    return [dict(r) for r in rows]


async def dead_letters(
    pool: asyncpg.Pool,
    tenant: str | None,
    limit: int,
    offset: int = 0,
    *,
    open_only: bool = False,
    reason: str | None = None,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        'SELECT id, tenant_id, topic, partition, "offset", original_topic, reason, detail,'
        " headers, at, redriven_at FROM dead_letters"
        " WHERE ($1::text IS NULL OR tenant_id = $1) AND (NOT $4 OR redriven_at IS NULL)"
        " AND ($5::text IS NULL OR reason = $5)"
        " ORDER BY id DESC LIMIT $2 OFFSET $3",
        tenant,
        limit,
        offset,
        open_only,
        reason,
    )
    return [_row(r) for r in rows]


async def count_dead_letters(
    pool: asyncpg.Pool, tenant: str | None, *, open_only: bool, reason: str | None
) -> int:
    found: int = await pool.fetchval(
        "SELECT count(*) FROM dead_letters WHERE ($1::text IS NULL OR tenant_id = $1)"
        " AND (NOT $2 OR redriven_at IS NULL) AND ($3::text IS NULL OR reason = $3)",
        tenant,
        open_only,
        reason,
    )
    return found


async def dead_letter(pool: asyncpg.Pool, dead_letter_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        'SELECT id, tenant_id, topic, partition, "offset", original_topic, reason, detail,'
        " payload, headers, at, redriven_at FROM dead_letters WHERE id = $1",
        dead_letter_id,
    )
    return None if row is None else _row(row)


async def actions(
    pool: asyncpg.Pool,
    *,
    tenant: str | None = None,
    posting_key: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT action_id, action, tenant_id, posting_key, dead_letter_id, requested_by,"
        " requested_at, note, outcome, outcome_detail, outcome_at FROM ops_actions"
        " WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR posting_key = $2)"
        " ORDER BY requested_at DESC, action_id LIMIT $3 OFFSET $4",
        tenant,
        posting_key,
        limit,
        offset,
    )
    return [dict(r) for r in rows]


async def action_exists(pool: asyncpg.Pool, action_id: str) -> bool:
    return bool(await pool.fetchval("SELECT 1 FROM ops_actions WHERE action_id = $1", action_id))


# --- the overview ---------------------------------------------------------------------------

_TENANT_SUMMARY = """
WITH summary AS (
    SELECT tenant_id,
        count(*) AS total,
        count(*) FILTER (WHERE state = 'pending') AS pending,
        count(*) FILTER (WHERE state = 'waiting') AS waiting,
        count(*) FILTER (WHERE state = 'done') AS done,
        count(*) FILTER (WHERE state = 'failed') AS failed,
        count(*) FILTER (WHERE state = 'held') AS held,
        count(*) FILTER (WHERE state = 'parked') AS parked,
        min(seen_at) FILTER (WHERE state IN ('pending', 'waiting', 'parked')) AS oldest_open_at,
        count(*) FILTER (WHERE state IN ('pending', 'waiting', 'parked')
                         AND seen_at < now() - make_interval(secs => $1)) AS stuck,
        min(updated_at) FILTER (WHERE state = 'parked') AS parked_since,
        min(updated_at) FILTER (WHERE state = 'failed') AS failing_since,
        max(updated_at) FILTER (WHERE state = 'done') AS last_booking_at
    FROM postings GROUP BY tenant_id
), letters AS (
    SELECT tenant_id, count(*) AS dead_letters FROM dead_letters
    WHERE redriven_at IS NULL AND tenant_id IS NOT NULL GROUP BY tenant_id
)
SELECT s.*, coalesce(l.dead_letters, 0) AS dead_letters,
    (s.failed + s.held + s.parked + s.stuck + coalesce(l.dead_letters, 0)) > 0 AS has_problems
FROM summary s LEFT JOIN letters l USING (tenant_id)
WHERE ($2::text IS NULL OR s.tenant_id LIKE $2 || '%') AND (NOT $3 OR
    (s.failed + s.held + s.parked + s.stuck + coalesce(l.dead_letters, 0)) > 0)
ORDER BY has_problems DESC, s.parked DESC, s.failed DESC, s.tenant_id
LIMIT $4 OFFSET $5
"""


async def tenants(
    pool: asyncpg.Pool,
    stuck_after: float,
    *,
    prefix: str | None,
    problems_only: bool,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(_TENANT_SUMMARY, stuck_after, prefix, problems_only, limit, offset)
    return [dict(r) for r in rows]


async def count_tenants(pool: asyncpg.Pool, *, prefix: str | None) -> int:
    found: int = await pool.fetchval(
        "SELECT count(DISTINCT tenant_id) FROM postings"
        " WHERE ($1::text IS NULL OR tenant_id LIKE $1 || '%')",
        prefix,
    )
    return found


async def problems(pool: asyncpg.Pool, stuck_after: float) -> dict[str, Any]:
    """What is wrong, where and since when, across every tenant (the overview's header)."""
    row = await pool.fetchrow(
        "SELECT"
        " count(*) FILTER (WHERE state = 'failed') AS failed,"
        " count(DISTINCT tenant_id) FILTER (WHERE state = 'failed') AS failed_tenants,"
        " min(updated_at) FILTER (WHERE state = 'failed') AS failed_since,"
        " count(*) FILTER (WHERE state = 'held') AS held,"
        " count(DISTINCT tenant_id) FILTER (WHERE state = 'held') AS held_tenants,"
        " min(updated_at) FILTER (WHERE state = 'held') AS held_since,"
        " count(DISTINCT tenant_id) FILTER (WHERE state = 'parked') AS parked_tenants,"
        " min(updated_at) FILTER (WHERE state = 'parked') AS parked_since,"
        " count(*) FILTER (WHERE state IN ('pending', 'waiting', 'parked')"
        "   AND seen_at < now() - make_interval(secs => $1)) AS stuck,"
        " count(DISTINCT tenant_id) FILTER (WHERE state IN ('pending', 'waiting', 'parked')"
        "   AND seen_at < now() - make_interval(secs => $1)) AS stuck_tenants,"
        " min(seen_at) FILTER (WHERE state IN ('pending', 'waiting', 'parked'))"
        "   AS oldest_open_at,"
        " count(*) FILTER (WHERE state = 'done') AS done,"
        " max(updated_at) FILTER (WHERE state = 'done') AS last_booking_at,"
        " count(DISTINCT tenant_id) AS tenants"
        " FROM postings",
        stuck_after,
    )
    assert row is not None
    letters = await pool.fetchrow(
        "SELECT count(*) AS open, min(at) AS since FROM dead_letters WHERE redriven_at IS NULL"
    )
    assert letters is not None
    return {**dict(row), "dead_letters": letters["open"], "dead_letters_since": letters["since"]}


async def stuck_postings(
    pool: asyncpg.Pool, stuck_after: float, tenant: str | None, limit: int
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_POSTING_COLUMNS} FROM postings"  # noqa: S608 - fixed columns
        " WHERE state IN ('pending', 'waiting', 'parked')"
        " AND seen_at < now() - make_interval(secs => $1)"
        " AND ($2::text IS NULL OR tenant_id = $2) ORDER BY seen_at LIMIT $3",
        stuck_after,
        tenant,
        limit,
    )
    return [_row(r) for r in rows]
