"""What the ledger says, read straight from its schema (read-only).

The reconciler is an operator tool, not a service: paging the ledger's HTTP API for a month
of postings would cost thousands of requests for what one query returns. It reads the
`postings` table of the ledger's schema with a read-only transaction and never writes there
(docs/architecture.md says so).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from bogfoer_contracts.postings import POSTING_COMMAND, PostingCommand

FINAL = frozenset({"done"})


@dataclass(frozen=True)
class LedgerPosting:
    key: str
    kind: str
    state: str
    amount: int | None
    dinero_guid: str | None
    dinero_number: int | None
    attempts: int
    detail: str | None
    error: dict[str, Any] | None
    command: PostingCommand | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def revision(self) -> int:
        return self.command.revision if self.command is not None else 0

    @property
    def since(self) -> dt.datetime:
        """When the sale behind it happened (its command's time), or when the ledger first
        recorded it: the age a stuck posting is reported with. (A result can reach the
        ledger before its command, so the row's own creation time alone is not enough.)"""
        if self.command is not None:
            return min(self.created_at, self.command.issued_at)
        return self.created_at

    @property
    def reason(self) -> str:
        """Why it is where it is, in the ledger's own words."""
        if self.error and self.error.get("message"):
            return str(self.error["message"])
        return self.detail or ""


# A posting is in the range by its document's date; a held posting (no command) and a
# contact by when it was recorded, since they carry no document date; a daily summary (the
# poster's own posting: no command either) by the members in the range it books, which
# carry its document's guid.
_QUERY = """
WITH ranged AS (
    SELECT * FROM postings
    WHERE tenant_id = $1
      AND coalesce(command ->> 'date', command ->> 'payment_date')::date BETWEEN $2 AND $3
)
SELECT posting_key, kind, state, amount_minor, dinero_guid, dinero_number, attempts, detail,
       last_error::text AS last_error, command::text AS command, created_at, updated_at
FROM postings
WHERE tenant_id = $1 AND (
    posting_key IN (SELECT posting_key FROM ranged)
    OR (kind = 'contact')
    OR (command IS NULL AND created_at::date BETWEEN $2 AND $3)
    OR (command IS NULL AND dinero_guid IN (
        SELECT dinero_guid FROM ranged WHERE (command ->> 'summary')::boolean
    ))
    OR state <> 'done'
)
"""


async def ledger_postings(
    pool: asyncpg.Pool, tenant: str, first: dt.date, last: dt.date
) -> dict[str, LedgerPosting]:
    """The tenant's postings dated `first`..`last`, its contacts, and all it has not finished."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        rows = await conn.fetch(_QUERY, tenant, first, last)
    found: dict[str, LedgerPosting] = {}
    for r in rows:
        command = POSTING_COMMAND.validate_json(r["command"]) if r["command"] else None
        found[r["posting_key"]] = LedgerPosting(
            key=r["posting_key"],
            kind=r["kind"],
            state=r["state"],
            amount=r["amount_minor"],
            dinero_guid=r["dinero_guid"],
            dinero_number=r["dinero_number"],
            attempts=r["attempts"],
            detail=r["detail"],
            error=json.loads(r["last_error"]) if r["last_error"] else None,
            command=command,
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
    return found
