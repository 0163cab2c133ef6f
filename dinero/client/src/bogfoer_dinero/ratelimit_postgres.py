"""Dinero's rate limit as one budget in PostgreSQL, shared by every process that calls Dinero.

Dinero allows 100 calls a minute per (client id, organisation), however many poster replicas
and operator tools make them. Each call takes a *slot*: a row in `dinero_rate_slots` for its
bucket. Like the in-process `RateLimiter`, a slot comes back one full window after the
response arrived (no window on Dinero's side can then hold more than `limit` of our calls,
however it counts); while the call is in flight its slot is counted until
`max_call_seconds` + window, so the slots of a process that died mid-call come back by
themselves. The slots survive restarts, and a 429 that comes anyway (`hold`) stops every
process for the wait.

A holder with a `share` below 1 (the reconciler) takes at most that part of the limit, so the
poster always keeps the rest: a reconcile slows the poster down at most by its share and never
makes Dinero answer it 429. A `reserved_share` of the limit is taken by no process of ours:
Dinero counts the calls of everyone using the same client id on the organisation (a
bookkeeper's script, the shop's other tools), and those must find room too.

Taking a slot is one short transaction under the bucket's advisory lock: drop slots that came
back, count the rest, insert one if there is room; otherwise wait (polling, at most
`poll_seconds`) for the earliest slot to come back. That transaction is one function in the
database (`dinero_take_slot`), so it costs one round trip a call, not six: under a backlog
for many organisations the poster's CPU, not Dinero's limit, was what held it back.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Final

import asyncpg

__all__ = ["SCHEMA", "PostgresRateLimiter"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS dinero_rate_slots (
    id          bigserial PRIMARY KEY,
    bucket      text NOT NULL,
    holder      text NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    returns_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS dinero_rate_slots_bucket ON dinero_rate_slots (bucket, returns_at);
CREATE TABLE IF NOT EXISTS dinero_rate_holds (
    bucket  text PRIMARY KEY,
    until   timestamptz NOT NULL
);
-- A slot for `bucket`, or how long to wait before asking again. Each statement of a volatile
-- function sees what committed before it began, so the count is taken under the lock.
CREATE OR REPLACE FUNCTION dinero_take_slot(
    p_bucket text, p_holder text, p_usable int, p_allowance int, p_pending double precision
) RETURNS TABLE (slot bigint, wait double precision) LANGUAGE plpgsql VOLATILE AS $take$
DECLARE
    used int;
    mine int;
    next_back double precision;
    held double precision;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('dinero:' || p_bucket));
    DELETE FROM dinero_rate_slots s
        WHERE s.bucket = p_bucket AND s.returns_at <= clock_timestamp();
    SELECT extract(epoch FROM h.until - clock_timestamp()) INTO held
        FROM dinero_rate_holds h WHERE h.bucket = p_bucket AND h.until > clock_timestamp();
    IF held IS NOT NULL THEN
        RETURN QUERY SELECT NULL::bigint, held;
        RETURN;
    END IF;
    SELECT count(*), count(*) FILTER (WHERE s.holder = p_holder),
           extract(epoch FROM min(s.returns_at) - clock_timestamp())
        INTO used, mine, next_back
        FROM dinero_rate_slots s WHERE s.bucket = p_bucket;
    IF used < p_usable AND mine < p_allowance THEN
        RETURN QUERY INSERT INTO dinero_rate_slots AS s (bucket, holder, returns_at)
            VALUES (p_bucket, p_holder, clock_timestamp() + make_interval(secs => p_pending))
            RETURNING s.id, 0.0::double precision;
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::bigint, coalesce(next_back, 0.0)::double precision;
END
$take$;
"""
# Replicas starting together would race on the catalogue (CREATE OR REPLACE FUNCTION,
# CREATE TABLE IF NOT EXISTS): one at a time.
_CREATE = "SELECT pg_advisory_xact_lock(hashtext('dinero:schema'));" + SCHEMA

_TAKE = "SELECT slot, wait FROM dinero_take_slot($1, $2, $3, $4, $5)"


def bucket_of(key: Hashable) -> str:
    """(client id, organisation) → "client/organisation", the row key of a budget."""
    if isinstance(key, tuple):
        return "/".join(str(part) for part in key)
    return str(key)


class PostgresRateLimiter:
    """A `Limiter` whose budget lives in PostgreSQL (see the module docstring)."""

    def __init__(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        limit: int = 100,
        window: float = 60.0,
        *,
        holder: str = "poster",
        share: float = 1.0,
        reserved_share: float = 0.0,
        max_call_seconds: float = 120.0,
        poll_seconds: float = 0.5,
    ) -> None:
        if limit < 1 or window <= 0 or not 0 < share <= 1 or not 0 <= reserved_share < 1:
            raise ValueError(
                "limit must be >= 1, window > 0, 0 < share <= 1 and 0 <= reserved_share < 1"
            )
        self._pool = pool
        self.limit = limit
        self.window = window
        self.holder = holder
        # The slots all our processes may hold together: the limit less the reserved room.
        self.usable = max(1, limit - math.ceil(limit * reserved_share))
        # The most slots this holder may have at once: its share of that (at least one).
        self.allowance = max(1, int(self.usable * share))
        self._pending_seconds = max_call_seconds + window
        self._poll = poll_seconds

    def __repr__(self) -> str:
        return (
            f"PostgresRateLimiter(limit={self.limit}, window={self.window}, holder={self.holder!r})"
        )

    @staticmethod
    async def create_schema(pool: asyncpg.Pool[asyncpg.Record]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_CREATE)

    async def _try_take(self, bucket: str) -> tuple[int | None, float]:
        """(a slot's id, 0) or (None, how long to wait before trying again, in seconds)."""
        args = (bucket, self.holder, self.usable, self.allowance, self._pending_seconds)
        try:
            row = await self._pool.fetchrow(_TAKE, *args)
        except asyncpg.UndefinedFunctionError:
            # A schema made by an older version (the reconciler run before the poster
            # was upgraded): make the function, then take the slot.
            await self.create_schema(self._pool)
            row = await self._pool.fetchrow(_TAKE, *args)
        assert row is not None
        slot: int | None = row["slot"]
        return slot, float(row["wait"])

    async def _give_back(self, slot: int) -> None:
        await self._pool.execute(
            "UPDATE dinero_rate_slots"
            " SET returns_at = clock_timestamp() + make_interval(secs => $2) WHERE id = $1",
            slot,
            self.window,
        )

    @asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        bucket = bucket_of(key)
        taken, wait = await self._try_take(bucket)
        while taken is None:
            # Slots of calls in flight come back earlier than their pessimistic return time.
            await asyncio.sleep(min(max(wait, 0.01), self._poll))
            taken, wait = await self._try_take(bucket)
        try:
            yield
        finally:
            await asyncio.shield(self._give_back(taken))

    async def hold(self, key: Hashable, seconds: float) -> None:
        await self._pool.execute(
            "INSERT INTO dinero_rate_holds (bucket, until)"
            " VALUES ($1, clock_timestamp() + make_interval(secs => $2))"
            " ON CONFLICT (bucket) DO UPDATE SET until = GREATEST(dinero_rate_holds.until,"
            " EXCLUDED.until)",
            bucket_of(key),
            seconds,
        )

    async def used(self, key: Hashable) -> dict[str, int]:
        """Slots counted now per holder (for reports and tests)."""
        rows = await self._pool.fetch(
            "SELECT holder, count(*) AS n FROM dinero_rate_slots WHERE bucket = $1"
            " AND returns_at > clock_timestamp() GROUP BY holder",
            bucket_of(key),
        )
        return {r["holder"]: r["n"] for r in rows}
