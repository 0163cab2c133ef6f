"""The ledger grants the reconciler's role read-only access to `postings` at start
(BOGFOER_LEDGER_POSTINGS_READERS), on a real PostgreSQL with a role of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import pytest

from bogfoer_kit.db import create_pool, migrate
from bogfoer_ledger.readers import grant_postings_readers

pytestmark = pytest.mark.integration


@pytest.fixture
async def reader(fresh_database: str) -> AsyncIterator[str]:
    """A login role of its own (roles are the server's, not the database's)."""
    role = f"it_reader_{uuid4().hex[:8]}"
    admin = await asyncpg.connect(fresh_database)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        yield role
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
    finally:
        await admin.close()


async def test_the_reconcilers_role_reads_postings_and_writes_nothing(
    fresh_database: str, reader: str
) -> None:
    pool = await create_pool(fresh_database, "ledger")
    try:
        await migrate(pool, "bogfoer_ledger")
        as_reader = urlunsplit(
            urlsplit(fresh_database)._replace(
                netloc=f"{reader}@{urlsplit(fresh_database).netloc.split('@')[-1]}"
            )
        )
        conn = await asyncpg.connect(as_reader)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval("SELECT count(*) FROM ledger.postings")

            # A role the server does not know is left out; the ledger starts regardless.
            granted = await grant_postings_readers(pool, [reader, "no_such_role_here"])
            assert granted == [reader]
            assert await grant_postings_readers(pool, [reader]) == [reader]  # each start

            assert await conn.fetchval("SELECT count(*) FROM ledger.postings") == 0
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("DELETE FROM ledger.postings")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval("SELECT count(*) FROM ledger.dead_letters")
        finally:
            await conn.close()
    finally:
        await pool.close()
