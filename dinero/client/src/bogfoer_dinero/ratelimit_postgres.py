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
`poll_seconds`) for the earliest slot to come back.
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
"""

_TAKE = """
INSERT INTO dinero_rate_slots (bucket, holder, returns_at)
VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) RETURNING id
"""


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
        await pool.execute(SCHEMA)

    async def _try_take(self, bucket: str) -> tuple[int | None, float]:
        """(a slot's id, 0) or (None, how long to wait before trying again, in seconds)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"dinero:{bucket}")
            await conn.execute(
                "DELETE FROM dinero_rate_slots WHERE bucket = $1"
                " AND returns_at <= clock_timestamp()",
                bucket,
            )
            row = await conn.fetchrow(
                "SELECT count(*) AS used, count(*) FILTER (WHERE holder = $2) AS mine,"
                " extract(epoch FROM min(returns_at) - clock_timestamp()) AS next_back,"
                " (SELECT extract(epoch FROM until - clock_timestamp()) FROM dinero_rate_holds h"
                "  WHERE h.bucket = $1 AND until > clock_timestamp()) AS held"
                " FROM dinero_rate_slots WHERE bucket = $1",
                bucket,
                self.holder,
            )
            assert row is not None
            if row["held"] is not None:
                return None, float(row["held"])
            if row["used"] < self.usable and row["mine"] < self.allowance:
                slot: int = await conn.fetchval(_TAKE, bucket, self.holder, self._pending_seconds)
                return slot, 0.0
            return None, float(row["next_back"] or 0.0)

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
