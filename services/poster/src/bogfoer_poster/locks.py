"""Which tenants this replica serves: a Postgres advisory lock per tenant, so across replicas
each tenant is served by one worker at a time.

Every lock lives on one connection of its own, opened for them and never lent by the pool:
- a pooled connection held per busy tenant would empty the pool and leave every worker
  waiting for a second one;
- a pooled connection that dies is handed back to its pool by asyncpg behind the holder's
  back, and the holder's handle then refuses every call ("connection has been released
  back to the pool"): after a database restart no tenant could be locked again until the
  process was restarted.
A session's advisory locks die with its connection. When the connection is lost it is
replaced, and its generation changes, which tells the workers that held locks on the old
one to stop (another replica may have taken their tenants meanwhile).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable

import asyncpg

Connect = Callable[[], Awaitable[asyncpg.Connection]]
# A lock query that takes longer than this is on a connection that is gone without a word
# (a network partition): the connection is dropped and its locks with it.
QUERY_TIMEOUT_SECONDS = 10.0


def lock_id(tenant_id: str) -> int:
    return zlib.crc32(f"poster-tenant:{tenant_id}".encode())


class TenantLocks:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._conn: asyncpg.Connection | None = None
        self._generation = 0
        self._mutex = asyncio.Lock()
        self._closed = False

    async def take(self, tenant_id: str) -> int | None:
        """The tenant's lock: the generation it was taken in, or None when another replica
        holds it (or this replica is shutting down). Session locks are re-entrant, which is
        safe because a replica runs one worker per tenant. Raises when the database cannot
        be reached; the next call connects again."""
        async with self._mutex:
            if self._closed:
                return None
            if self._conn is None or self._conn.is_closed():
                await self._drop()
                self._conn = await asyncio.wait_for(self._connect(), QUERY_TIMEOUT_SECONDS)
                self._generation += 1
            try:
                taken = await self._conn.fetchval(
                    "SELECT pg_try_advisory_lock($1)",
                    lock_id(tenant_id),
                    timeout=QUERY_TIMEOUT_SECONDS,
                )
            except BaseException:
                await self._drop()  # whatever it held is released with it
                raise
            return self._generation if taken else None

    def holds(self, generation: int) -> bool:
        """Whether the locks taken in `generation` are still held."""
        conn = self._conn
        return (
            not self._closed
            and generation == self._generation
            and conn is not None
            and not conn.is_closed()
        )

    async def release(self, tenant_id: str, generation: int) -> None:
        async with self._mutex:
            if not self.holds(generation):
                return  # gone with its connection
            assert self._conn is not None
            try:
                await self._conn.execute(
                    "SELECT pg_advisory_unlock($1)",
                    lock_id(tenant_id),
                    timeout=QUERY_TIMEOUT_SECONDS,
                )
            except BaseException:
                await self._drop()
                raise

    async def close(self) -> None:
        """Release every lock (by closing their connection) and take no more."""
        async with self._mutex:
            self._closed = True
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), QUERY_TIMEOUT_SECONDS)
        except Exception:
            conn.terminate()  # the server does not answer: cut the connection
        except asyncio.CancelledError:
            conn.terminate()
            raise
