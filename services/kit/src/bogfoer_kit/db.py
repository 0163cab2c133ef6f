"""PostgreSQL for services: one schema per service, migrations applied once each.

Each service owns a schema (`mapper`, `poster`, `ledger`) and its pool's search_path is
that schema alone, so no service can read another's tables by accident. Several replicas
may start at once; an advisory lock per schema makes exactly one of them migrate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import zlib
from collections.abc import Coroutine, Iterable, Sequence
from importlib import resources
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bogfoer_kit.tls import client_context

# What a handler holds: a plain connection or one lent by a pool.
Conn = asyncpg.Connection | PoolConnectionProxy


def json_texts(values: Iterable[str | None]) -> str:
    """Strings for a statement as one JSON array (`json_array_elements_text($n::json)`),
    not as a text[]: asyncpg encodes an array element by element, with type checks in
    Python for each string; PostgreSQL reads the JSON in C (the mapper's and the ledger's
    batches: ~1.5 µs of the mapper's CPU an event). For short strings (ids, keys,
    outcomes): escaping a long one (an event's JSON) costs more than asyncpg's copy. None
    is JSON null, SQL NULL. Each string reads back as itself; one a text[] could not
    store (a NUL, a lone surrogate) is refused as there, a `DataError`. Not escaped to
    ASCII: shorter, and the string goes as the UTF-8 a text[] sent."""
    return json.dumps(list(values), ensure_ascii=False)


def json_documents(documents: Iterable[str]) -> str:
    """JSON documents for a statement as one JSON array of them
    (`json_array_elements($n::json)`, each `::text` the document's own text, byte for
    byte): joined as they are, not escaped as strings to be read back (`json_texts`)."""
    return "[" + ",".join(documents) + "]"


async def copy_records(
    conn: Conn, table: str, columns: Sequence[str], records: Sequence[tuple[object, ...]]
) -> None:
    """Rows copied into a table (`COPY ... FROM STDIN`, binary: asyncpg's
    `copy_records_to_table`), in order, ending when the connection is lost
    (`until_lost`)."""
    await until_lost(
        conn, table, conn.copy_records_to_table(table, columns=list(columns), records=records)
    )


async def until_lost(conn: Conn, table: str, copy: Coroutine[Any, Any, object]) -> None:
    """A copy into `table`, ended when its connection is lost. asyncpg (0.32) sends a copy's
    rows as the socket takes them and waits while it takes none: a connection lost in that
    wait (PostgreSQL restarted, its backend terminated mid-copy) never wakes it, and the
    poll hung for good. The connection's termination listener cancels it, and the loss is
    raised as one (`ConnectionResetError`: transient, the batch comes again). The mapper's
    copies (`copy_records`) and the ledger's own rows (`store._copy`) go through it."""
    copying = asyncio.ensure_future(copy)
    watched = [copying]  # the listener's: emptied once the copy is over
    lost = False

    def on_lost(_: object) -> None:
        nonlocal lost
        lost = True
        for task in watched:
            task.cancel()

    conn.add_termination_listener(on_lost)
    try:
        await copying
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if lost and (task is None or not task.cancelling()):
            raise ConnectionResetError(
                f"the connection to PostgreSQL was lost while copying into {table}"
            ) from None
        raise
    finally:
        with contextlib.suppress(asyncpg.InterfaceError):
            conn.remove_termination_listener(on_lost)
        # A failed copy's task holds its exception, whose traceback holds this frame: let go
        # of the task, or the copy's rows and the batch's frames wait for the collector.
        watched.clear()
        del copying


async def create_pool(
    url: str, schema: str, max_size: int = 10, tls: ssl.SSLContext | None = None
) -> asyncpg.Pool:
    async with _connect(url, tls) as conn:
        # In production the schema exists, owned by the service's role, which may not
        # create schemas (CloudNativePG's Database resource): CREATE SCHEMA IF NOT EXISTS
        # would still be refused, so ask first.
        if not await conn.fetchval("SELECT true FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": schema},
        ssl=tls,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection given back to the pool needs beyond asyncpg's own rollback of an
    open transaction: nothing. asyncpg's default sends a reset query on every release
    (unlock all advisory locks, close cursors, unlisten, RESET ALL), a round trip as dear as
    the statement it follows; no code of ours leaves session state on a pooled connection
    (advisory locks are transaction locks, or held on a connection of their own, as the
    poster's tenant locks and `migrate`'s, which unlocks before it gives the connection
    back)."""


class _connect:  # noqa: N801 - used as a context manager
    def __init__(self, url: str, tls: ssl.SSLContext | None) -> None:
        self.url = url
        self.tls = tls

    async def __aenter__(self) -> asyncpg.Connection:
        self.conn: asyncpg.Connection = await asyncpg.connect(self.url, ssl=self.tls)
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()


async def migrate(pool: asyncpg.Pool, package: str) -> list[str]:
    """Apply `<package>/migrations/*.sql` not yet applied in the pool's schema."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        schema = await conn.fetchval("SELECT current_schema()")
        lock_id = zlib.crc32(f"migrate:{schema}".encode())
        await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            folder = resources.files(package).joinpath("migrations")
            files = sorted(
                (f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name
            )
            for file in files:
                if file.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(file.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migrations (name) VALUES ($1)", file.name
                    )
                applied_now.append(file.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
    return applied_now


class ServiceDatabase:
    """A service's own schema: opened (and migrated) in the lifespan, closed at shutdown,
    and asked by the readiness probe. With `ca_file` the connections are TLS, the server's
    certificate and host name checked against that CA."""

    def __init__(
        self,
        url: str,
        schema: str,
        package: str,
        max_size: int = 10,
        ca_file: str | None = None,
    ) -> None:
        self.url, self.schema, self.package, self.max_size = url, schema, package, max_size
        self.tls = None if ca_file is None else client_context(ca_file)
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database is not open yet")
        return self._pool

    async def open(self) -> asyncpg.Pool:
        self._pool = await create_pool(self.url, self.schema, self.max_size, self.tls)
        await migrate(self._pool, self.package)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def failing(self) -> str | None:
        """Readiness: None when a query answers (a failure raises, and is the reason)."""
        if self._pool is None:
            return "the database is not open yet"
        await self._pool.fetchval("SELECT true", timeout=2.0)
        return None
