"""Writes to the ledger's tables, each Kafka record exactly once.

Every apply_* runs in one transaction with the tracking row for its Kafka record
(topic, partition, offset): a redelivered record finds its row and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import asyncpg

from bogfoer_contracts.ops import OpsAction, RemapPosting, ResumeTenant, RetryPosting
from bogfoer_contracts.postings import PostingCommand, PostingResult, amount_of
from bogfoer_kit.db import Conn

# A state change applied: (from, to); from is None for a posting seen for the first time.
Transition = tuple[str | None, str]


@dataclass(frozen=True)
class RecordRef:
    topic: str
    partition: int
    offset: int


async def _claim(conn: Conn, ref: RecordRef) -> bool:
    row = await conn.fetchrow(
        'INSERT INTO ledger_applied (topic, partition, "offset") VALUES ($1, $2, $3) '
        "ON CONFLICT DO NOTHING RETURNING 1",
        ref.topic,
        ref.partition,
        ref.offset,
    )
    return row is not None


async def _lock_posting(conn: Conn, key: str) -> None:
    """A posting's command and its results arrive on two topics, applied by two consumers:
    after a restart both catch up at once, and without this both could find no row for a
    new posting and insert it (a unique violation, retried). Held to the commit."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"ledger:{key}")


async def _transition(
    conn: Conn,
    key: str,
    old: str | None,
    new: str,
    ref: RecordRef,
    at: dt.datetime,
    detail: str | None = None,
    error: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO posting_transitions (posting_key, from_state, to_state, detail, error,"
        ' topic, partition, "offset", at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)',
        key,
        old,
        new,
        detail,
        error,
        ref.topic,
        ref.partition,
        ref.offset,
        at,
    )


async def apply_command(
    pool: asyncpg.Pool, ref: RecordRef, command: PostingCommand, trace_id: str | None = None
) -> Transition | None:
    """Record a command (None: its record was applied before, or the posting is known)."""
    amount = amount_of(command)
    currency = getattr(command, "currency", "DKK" if amount is not None else None)
    async with pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, ref):
            return None
        await _lock_posting(conn, command.posting_key)
        old = await conn.fetchval(
            "SELECT state FROM postings WHERE posting_key = $1 FOR UPDATE", command.posting_key
        )
        payload = command.model_dump_json()
        if old is None:
            await conn.execute(
                "INSERT INTO postings (posting_key, tenant_id, kind, state, amount_minor, currency,"
                " depends_on, command, created_at, updated_at, trace_id)"
                " VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7::jsonb, $8, $8, $9)",
                command.posting_key,
                command.tenant_id,
                command.kind,
                amount,
                currency,
                command.depends_on,
                payload,
                command.issued_at,
                trace_id,
            )
            await _transition(conn, command.posting_key, None, "pending", ref, command.issued_at)
            return (None, "pending")
        else:
            # The result overtook its command (two topics): keep the state, add the details.
            # A re-mapped command (higher revision) replaces the stored one; a command for a
            # held posting means the hold was resolved (e.g. by new settings): pending.
            stored_revision = await conn.fetchval(
                "SELECT coalesce((command ->> 'revision')::int, 0) FROM postings"
                " WHERE posting_key = $1",
                command.posting_key,
            )
            if stored_revision is not None and stored_revision > command.revision:
                return None  # an older revision arriving late
            new_state = "pending" if old == "held" else old
            await conn.execute(
                "UPDATE postings SET amount_minor = $2, currency = $3, depends_on = $4,"
                " command = $5::jsonb, trace_id = COALESCE($6, trace_id), state = $7"
                " WHERE posting_key = $1",
                command.posting_key,
                amount,
                currency,
                command.depends_on,
                payload,
                trace_id,
                new_state,
            )
            if new_state != old or command.revision > (stored_revision or 0):
                note = f"re-mapped (revision {command.revision})" if command.revision else None
                await _transition(
                    conn, command.posting_key, old, new_state, ref, command.issued_at, note
                )
                return (old, new_state)
        return None


async def apply_result(
    pool: asyncpg.Pool, ref: RecordRef, result: PostingResult
) -> Transition | None:
    """Record a result; the state change it made (None: applied before, or stale)."""
    error = result.error.model_dump_json() if result.error else None
    async with pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, ref):
            return None
        await _lock_posting(conn, result.posting_key)
        current = await conn.fetchrow(
            "SELECT state, last_result_at FROM postings WHERE posting_key = $1 FOR UPDATE",
            result.posting_key,
        )
        old: str | None = None if current is None else current["state"]
        stale = current is not None and (current["last_result_at"] or result.at) > result.at
        if old == "done" and result.status == "done" and not stale:
            # A re-mapped posting checked again in Dinero (e.g. a deleted draft created anew):
            # still done, with the document Dinero holds now.
            await conn.execute(
                "UPDATE postings SET dinero_guid = COALESCE($2, dinero_guid),"
                " dinero_number = COALESCE($3, dinero_number), attempts = $4,"
                " last_result_at = $5 WHERE posting_key = $1",
                result.posting_key,
                result.dinero_guid,
                result.dinero_number,
                result.attempts,
                result.at,
            )
            await _transition(conn, result.posting_key, old, old, ref, result.at, result.detail)
            await _follow_actions(conn, result)
            return None  # no change of state
        if old is not None and current is not None and (old == "done" or stale):
            # Done is final, and a result older than the one applied is stale (results of
            # two poster replicas may arrive out of order): kept as history, state unchanged.
            await _transition(
                conn,
                result.posting_key,
                old,
                old,
                ref,
                result.at,
                f"stale {result.status} result ignored",
                error,
            )
            return None
        if old is None:
            await conn.execute(
                "INSERT INTO postings (posting_key, tenant_id, kind, state, amount_minor,"
                " dinero_guid, dinero_number, attempts, last_error, detail, created_at, updated_at,"
                " last_result_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $11, $11)",
                result.posting_key,
                result.tenant_id,
                result.kind,
                result.status,
                result.amount,
                result.dinero_guid,
                result.dinero_number,
                result.attempts,
                error,
                result.detail,
                result.at,
            )
        else:
            await conn.execute(
                "UPDATE postings SET state = $2, dinero_guid = COALESCE($3, dinero_guid),"
                " dinero_number = COALESCE($4, dinero_number), attempts = $5,"
                " last_error = $6::jsonb, detail = $7, updated_at = $8, last_result_at = $8,"
                " amount_minor = COALESCE(amount_minor, $9) WHERE posting_key = $1",
                result.posting_key,
                result.status,
                result.dinero_guid,
                result.dinero_number,
                result.attempts,
                error,
                result.detail,
                result.at,
                result.amount,
            )
        await _transition(
            conn, result.posting_key, old, result.status, ref, result.at, result.detail, error
        )
        await _follow_actions(conn, result)
        return (old, result.status)


_FINAL = ("done", "failed", "held", "parked")


async def _follow_actions(conn: Conn, result: PostingResult) -> None:
    """What came of the actions asked for this posting (or its parked tenant): the state it
    reached since, until a final one."""
    await conn.execute(
        "UPDATE ops_actions SET outcome = $2, outcome_detail = $3, outcome_at = $4"
        " WHERE posting_key = $1 AND action IN ('retry_posting', 'remap_posting')"
        " AND requested_at <= $4 AND (outcome IS NULL OR outcome <> ALL($5::text[]))",
        result.posting_key,
        result.status,
        result.detail,
        result.at,
        list(_FINAL),
    )
    await conn.execute(
        "UPDATE ops_actions SET outcome = $2, outcome_detail = $3, outcome_at = $4"
        " WHERE tenant_id = $1 AND action = 'resume_tenant' AND outcome IS NULL"
        " AND requested_at <= $4",
        result.tenant_id,
        "parked again" if result.status == "parked" else "resumed",
        f"{result.posting_key} is {result.status}",
        result.at,
    )


async def record_action(
    conn: Conn,
    action: OpsAction,
    *,
    outcome: str | None = None,
    outcome_detail: str | None = None,
) -> bool:
    """The action in the trail (False: it is there already, by its id)."""
    posting_key = action.posting_key if isinstance(action, RemapPosting | RetryPosting) else None
    assert posting_key is not None or isinstance(action, ResumeTenant)
    row = await conn.fetchrow(
        "INSERT INTO ops_actions (action_id, action, tenant_id, posting_key, requested_by,"
        " requested_at, note, outcome, outcome_detail, outcome_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $8::text IS NULL THEN NULL"
        " ELSE now() END) ON CONFLICT DO NOTHING RETURNING 1",
        action.action_id,
        action.action,
        action.tenant_id,
        posting_key,
        action.requested_by,
        action.requested_at,
        action.note,
        outcome,
        outcome_detail,
    )
    return row is not None


async def apply_action(pool: asyncpg.Pool, ref: RecordRef, action: OpsAction) -> bool:
    """An action seen on ops.actions.v1, in the trail exactly once."""
    async with pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, ref):
            return False
        await record_action(conn, action)
        return True


async def record_dead_letter_redrive(
    conn: Conn,
    action_id: str,
    dead_letter_id: int,
    tenant_id: str | None,
    requested_by: str,
    note: str | None,
    topic: str,
) -> None:
    """A dead letter re-driven (by the ledger itself): in the trail with its outcome."""
    await conn.execute(
        "INSERT INTO ops_actions (action_id, action, tenant_id, dead_letter_id, requested_by,"
        " requested_at, note, outcome, outcome_detail, outcome_at)"
        " VALUES ($1, 'redrive_dead_letter', $2, $3, $4, now(), $5, 'republished', $6, now())"
        " ON CONFLICT DO NOTHING",
        action_id,
        tenant_id,
        dead_letter_id,
        requested_by,
        note,
        f"to {topic}",
    )
    await conn.execute("UPDATE dead_letters SET redriven_at = now() WHERE id = $1", dead_letter_id)


async def apply_dead_letter(
    pool: asyncpg.Pool,
    ref: RecordRef,
    tenant_id: str | None,
    payload: bytes,
    headers: dict[str, str],
) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, ref):
            return False
        await conn.execute(
            'INSERT INTO dead_letters (tenant_id, topic, partition, "offset", original_topic,'
            " reason, detail, payload, headers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"
            " ON CONFLICT DO NOTHING",
            tenant_id,
            ref.topic,
            ref.partition,
            ref.offset,
            headers.get("x-original-topic"),
            headers.get("x-dlq-reason", "unknown"),
            headers.get("x-dlq-detail"),
            payload,
            json.dumps(headers),
        )
        return True
