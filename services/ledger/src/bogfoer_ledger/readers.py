"""Read-only access to `postings` for the PostgreSQL roles named in the settings.

The reconciler reads the ledger's `postings` table straight from the database (one query
instead of thousands of ops API pages; docs/operations.md) with a role of its own — in
production the poster's, which holds the sealed Dinero credentials and the rate-limit slots
it also needs. Only the schema's owner can grant that, so the ledger does it at every start
(GRANT is idempotent), instead of an operator once by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg

log = logging.getLogger(__name__)


async def grant_postings_readers(pool: asyncpg.Pool, roles: Sequence[str]) -> list[str]:
    """GRANT USAGE on the schema and SELECT on `postings` to each role; the roles granted.

    A role the database does not know is logged as an error and left out: the ledger, its
    consumers and the ops pages do not depend on the reconciler, so they still start."""
    granted: list[str] = []
    async with pool.acquire() as conn:
        for role in roles:
            # The role and the schema as SQL names, or no row: the server knows no such role.
            names = await conn.fetchrow(
                "SELECT quote_ident(rolname) AS who, quote_ident(current_schema()) AS schema"
                " FROM pg_roles WHERE rolname = $1",
                role,
            )
            if names is None:
                log.error(
                    "no PostgreSQL role %r: it cannot be granted read access to postings"
                    " (BOGFOER_LEDGER_POSTINGS_READERS)",
                    role,
                )
                continue
            who, schema = names["who"], names["schema"]
            async with conn.transaction():
                await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {who}")
                await conn.execute(f"GRANT SELECT ON {schema}.postings TO {who}")
            granted.append(role)
    return granted
