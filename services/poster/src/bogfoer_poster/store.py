"""The poster's tables. Every state change and its outbox rows commit together."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import asyncpg

from bogfoer_contracts.postings import POSTING_COMMAND, PostingCommand
from bogfoer_kit.db import Conn

RUNNABLE = ("queued", "in_flight", "waiting")


@dataclass(frozen=True)
class Posting:
    posting_key: str
    tenant_id: str
    organization_id: int
    kind: str
    command: PostingCommand
    state: str
    step: str | None
    dinero_guid: str | None
    dinero_number: int | None
    dinero_timestamp: str | None
    attempts: int
    detail: str | None
    traceparent: str | None
    # The revision of the command the document in Dinero was written for (older: check it).
    dinero_revision: int = 0

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> Posting:
        return cls(
            posting_key=r["posting_key"],
            tenant_id=r["tenant_id"],
            organization_id=r["organization_id"],
            kind=r["kind"],
            command=POSTING_COMMAND.validate_json(r["command"]),
            state=r["state"],
            step=r["step"],
            dinero_guid=r["dinero_guid"],
            dinero_number=r["dinero_number"],
            dinero_timestamp=r["dinero_timestamp"],
            attempts=r["attempts"],
            detail=r["detail"],
            traceparent=r["traceparent"],
            dinero_revision=r["dinero_revision"],
        )


_COLUMNS = (
    "posting_key, tenant_id, organization_id, kind, command::text AS command, state, step,"
    " dinero_guid, dinero_number, dinero_timestamp, attempts, detail, traceparent,"
    " dinero_revision"
)


async def intake(conn: Conn, command: PostingCommand, traceparent: str | None) -> bool:
    """Record a command; False when its posting key is known and the command is no newer
    (a duplicate). A re-mapped command (higher revision) replaces the stored one."""
    row = await conn.fetchrow(
        "INSERT INTO postings (posting_key, tenant_id, organization_id, kind, command, depends_on,"
        " traceparent, revision) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)"
        " ON CONFLICT (posting_key) DO NOTHING RETURNING 1",
        command.posting_key,
        command.tenant_id,
        command.organization_id,
        command.kind,
        POSTING_COMMAND.dump_json(command).decode(),
        command.depends_on,
        traceparent,
        command.revision,
    )
    if row is not None:
        return True
    return command.revision > 0 and await replace(conn, command)


async def replace(conn: Conn, command: PostingCommand) -> bool:
    """Put a re-mapped command in place of an older revision and queue it again.

    Whatever its state (a failed, waiting or done posting), it runs again with a look-up
    first (`attempts` > 0 makes the executor search the ExternalReference) and checks the
    document Dinero holds against the new revision: a draft is rewritten, a booked document
    is never touched, a deleted draft is created again — never a second document. While an
    attempt holds the posting's lease the command waits in `next_command` (see `release`).
    """
    payload = POSTING_COMMAND.dump_json(command).decode()
    row = await conn.fetchrow(
        "UPDATE postings SET command = $2::jsonb, revision = $3, depends_on = $4,"
        " next_command = NULL, state = CASE WHEN attempts > 0 THEN 'in_flight' ELSE 'queued' END,"
        " next_attempt_at = now(), last_error = NULL, unexpected_failures = 0,"
        " watch_invoice = NULL, detail = 're-mapped (revision ' || $3 || ')', updated_at = now()"
        " WHERE posting_key = $1 AND revision < $3"
        " AND (lease_owner IS NULL OR lease_until < now()) RETURNING 1",
        command.posting_key,
        payload,
        command.revision,
        command.depends_on,
    )
    if row is not None:
        return True
    row = await conn.fetchrow(
        "UPDATE postings SET next_command = $2::jsonb WHERE posting_key = $1 AND revision < $3"
        " AND (next_command IS NULL OR (next_command ->> 'revision')::int < $3) RETURNING 1",
        command.posting_key,
        payload,
        command.revision,
    )
    return row is not None


async def due_tenants(pool: asyncpg.Pool, limit: int = 1000) -> list[str]:
    rows = await pool.fetch(
        "SELECT DISTINCT p.tenant_id FROM postings p LEFT JOIN tenants t USING (tenant_id)"
        " WHERE p.state = ANY($1::text[]) AND p.next_attempt_at <= now()"
        " AND t.parked_reason IS NULL LIMIT $2",
        list(RUNNABLE),
        limit,
    )
    return [r["tenant_id"] for r in rows]


async def next_due(conn: Conn, tenant_id: str) -> Posting | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM postings"  # noqa: S608 - fixed column list
        " WHERE tenant_id = $1 AND state = ANY($2::text[]) AND next_attempt_at <= now()"
        " ORDER BY seq LIMIT 1",
        tenant_id,
        list(RUNNABLE),
    )
    return None if row is None else Posting.from_record(row)


async def get(conn: Conn, posting_key: str) -> Posting | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM postings WHERE posting_key = $1",  # noqa: S608
        posting_key,
    )
    return None if row is None else Posting.from_record(row)


async def claim(conn: Conn, posting_key: str, owner: str, lease_seconds: float) -> bool:
    """Mark that a call to Dinero may be about to happen (committed before the call).

    False when another replica's lease on the posting is still running: its attempt may be
    in flight, so this replica must not touch the posting (it is deferred to the lease end).
    """
    row = await conn.fetchrow(
        "UPDATE postings SET state = 'in_flight', attempts = attempts + 1, updated_at = now(),"
        " lease_owner = $2, lease_until = now() + make_interval(secs => $3)"
        " WHERE posting_key = $1"
        " AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < now()) RETURNING 1",
        posting_key,
        owner,
        lease_seconds,
    )
    if row is None:
        await conn.execute(
            "UPDATE postings SET next_attempt_at = GREATEST(next_attempt_at, lease_until)"
            " WHERE posting_key = $1",
            posting_key,
        )
    return row is not None


async def renew_lease(conn: Conn, posting_key: str, owner: str, lease_seconds: float) -> None:
    await conn.execute(
        "UPDATE postings SET lease_until = now() + make_interval(secs => $3)"
        " WHERE posting_key = $1 AND lease_owner = $2",
        posting_key,
        owner,
        lease_seconds,
    )


async def release(conn: Conn, posting_key: str, owner: str) -> None:
    """The attempt is over (recorded, retried later, failed or parked); a re-mapped command
    that arrived during it takes its place now."""
    waiting: str | None = await conn.fetchval(
        "UPDATE postings SET lease_owner = NULL, lease_until = NULL"
        " WHERE posting_key = $1 AND lease_owner = $2 RETURNING next_command::text",
        posting_key,
        owner,
    )
    if waiting is not None:
        await replace(conn, POSTING_COMMAND.validate_json(waiting))


async def count_unexpected_failure(conn: Conn, posting_key: str) -> int:
    failures: int = await conn.fetchval(
        "UPDATE postings SET unexpected_failures = unexpected_failures + 1"
        " WHERE posting_key = $1 RETURNING unexpected_failures",
        posting_key,
    )
    return failures


async def progress(
    conn: Conn,
    posting_key: str,
    step: str,
    guid: str | None,
    timestamp: str | None,
    number: int | None = None,
) -> None:
    """What Dinero now holds, persisted before the next call so a crash resumes, not repeats."""
    await conn.execute(
        "UPDATE postings SET step = $2, dinero_guid = COALESCE($3, dinero_guid),"
        " dinero_revision = revision,"
        " dinero_timestamp = COALESCE($4, dinero_timestamp),"
        " dinero_number = COALESCE($5, dinero_number), updated_at = now()"
        " WHERE posting_key = $1",
        posting_key,
        step,
        guid,
        timestamp,
        number,
    )


async def finish(
    conn: Conn,
    posting_key: str,
    state: str,
    *,
    detail: str | None = None,
    error: dict[str, object] | None = None,
    retry_at: dt.datetime | None = None,
) -> None:
    await conn.execute(
        "UPDATE postings SET state = $2, detail = $3, last_error = $4::jsonb,"
        " next_attempt_at = COALESCE($5, next_attempt_at), updated_at = now()"
        " WHERE posting_key = $1",
        posting_key,
        state,
        detail,
        None if error is None else json.dumps(error),
        retry_at,
    )
    if state == "done":
        # Wake what waited for this posting.
        await conn.execute(
            "UPDATE postings SET next_attempt_at = now() WHERE $1 = ANY(depends_on)"
            " AND state = ANY($2::text[])",
            posting_key,
            list(RUNNABLE),
        )


async def requeue(conn: Conn, posting_key: str, retry_at: dt.datetime, detail: str) -> None:
    await conn.execute(
        "UPDATE postings SET next_attempt_at = $2, detail = $3, updated_at = now()"
        " WHERE posting_key = $1",
        posting_key,
        retry_at,
        detail,
    )


async def park_tenant(conn: Conn, tenant_id: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO tenants (tenant_id, parked_reason, parked_at) VALUES ($1, $2, now())"
        " ON CONFLICT (tenant_id) DO UPDATE SET parked_reason = $2, parked_at = now()",
        tenant_id,
        reason,
    )


async def unpark_tenant(conn: Conn, tenant_id: str) -> None:
    await conn.execute(
        "UPDATE tenants SET parked_reason = NULL, parked_at = NULL WHERE tenant_id = $1",
        tenant_id,
    )
    await conn.execute(
        "UPDATE postings SET next_attempt_at = now() WHERE tenant_id = $1"
        " AND state = ANY($2::text[])",
        tenant_id,
        list(RUNNABLE),
    )


async def parked_reason(conn: Conn, tenant_id: str) -> str | None:
    reason: str | None = await conn.fetchval(
        "SELECT parked_reason FROM tenants WHERE tenant_id = $1", tenant_id
    )
    return reason


async def redrive(conn: Conn, tenant_id: str, posting_key: str, detail: str = "re-driven") -> bool:
    """Put a failed posting back in the queue (after the tenant fixed the cause); it is
    `in_flight`, so its next attempt looks the ExternalReference up before any write."""
    row = await conn.fetchrow(
        "UPDATE postings SET state = 'in_flight', next_attempt_at = now(), last_error = NULL,"
        " unexpected_failures = 0, detail = $3, updated_at = now()"
        " WHERE tenant_id = $1 AND posting_key = $2 AND state = 'failed' RETURNING 1",
        tenant_id,
        posting_key,
        detail,
    )
    return row is not None


async def state_of(conn: Conn, tenant_id: str, posting_key: str) -> str | None:
    """The posting's state, locked until the transaction ends (None: no such posting)."""
    state: str | None = await conn.fetchval(
        "SELECT state FROM postings WHERE tenant_id = $1 AND posting_key = $2 FOR UPDATE",
        tenant_id,
        posting_key,
    )
    return state


async def try_now(conn: Conn, posting_key: str, detail: str | None) -> None:
    """A queued or waiting posting is due at once (its detail, when given, says who asked)."""
    await conn.execute(
        "UPDATE postings SET next_attempt_at = now(), detail = COALESCE($2, detail),"
        " updated_at = now() WHERE posting_key = $1 AND state = ANY($3::text[])",
        posting_key,
        detail,
        list(RUNNABLE),
    )


async def handle_action(conn: Conn, action_id: str, action: str, outcome: str) -> bool:
    """Record an operator action as carried out; False when it was before (a redelivery)."""
    row = await conn.fetchrow(
        "INSERT INTO handled_actions (action_id, action, outcome) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        action_id,
        action,
        outcome,
    )
    return row is not None


async def drafts_polled_at(conn: Conn, tenant_id: str) -> dt.datetime | None:
    value: dt.datetime | None = await conn.fetchval(
        "SELECT drafts_polled_at FROM tenants WHERE tenant_id = $1", tenant_id
    )
    return value


async def set_drafts_polled_at(conn: Conn, tenant_id: str, at: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO tenants (tenant_id, drafts_polled_at) VALUES ($1, $2)"
        " ON CONFLICT (tenant_id) DO UPDATE SET drafts_polled_at = $2",
        tenant_id,
        at,
    )


async def next_config_version(conn: Conn, tenant_id: str, config_json: str) -> int:
    version: int = await conn.fetchval(
        "INSERT INTO tenants (tenant_id, config_version, config) VALUES ($1, 1, $2::jsonb)"
        " ON CONFLICT (tenant_id) DO UPDATE SET config_version = tenants.config_version + 1,"
        " config = $2::jsonb RETURNING config_version",
        tenant_id,
        config_json,
    )
    return version


async def watch(conn: Conn, posting_key: str, invoice_guid: str | None) -> None:
    await conn.execute(
        "UPDATE postings SET watch_invoice = $2 WHERE posting_key = $1", posting_key, invoice_guid
    )


async def watched_invoices(conn: Conn, tenant_id: str) -> list[tuple[str, int]]:
    """(draft invoice guid, organisation id) that waiting postings of the tenant watch."""
    rows = await conn.fetch(
        "SELECT DISTINCT watch_invoice, organization_id FROM postings"
        " WHERE tenant_id = $1 AND state = 'waiting' AND watch_invoice IS NOT NULL",
        tenant_id,
    )
    return [(r["watch_invoice"], r["organization_id"]) for r in rows]


async def wake_watchers(conn: Conn, tenant_id: str, invoice_guids: list[str]) -> None:
    await conn.execute(
        "UPDATE postings SET next_attempt_at = now() WHERE tenant_id = $1"
        " AND state = 'waiting' AND watch_invoice = ANY($2::text[])",
        tenant_id,
        invoice_guids,
    )
