"""Writes to the ledger's tables, each Kafka record exactly once.

Every apply_* runs in one transaction with the tracking row for its Kafka record
(topic, partition, offset): a redelivered record finds its row and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import asyncpg

from bogfoer_contracts.postings import PostingCommand, PostingResult, amount_of
from bogfoer_kit.db import Conn


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


async def apply_command(pool: asyncpg.Pool, ref: RecordRef, command: PostingCommand) -> bool:
    amount = amount_of(command)
    currency = getattr(command, "currency", "DKK" if amount is not None else None)
    async with pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, ref):
            return False
        old = await conn.fetchval(
            "SELECT state FROM postings WHERE posting_key = $1 FOR UPDATE", command.posting_key
        )
        payload = command.model_dump_json()
        if old is None:
            await conn.execute(
                "INSERT INTO postings (posting_key, tenant_id, kind, state, amount_minor, currency,"
                " depends_on, command, created_at, updated_at)"
                " VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7::jsonb, $8, $8)",
                command.posting_key,
                command.tenant_id,
                command.kind,
                amount,
                currency,
                command.depends_on,
                payload,
                command.issued_at,
            )
            await _transition(conn, command.posting_key, None, "pending", ref, command.issued_at)
        else:
            # The result overtook its command (two topics): keep the state, add the details.
            await conn.execute(
                "UPDATE postings SET amount_minor = $2, currency = $3, depends_on = $4,"
                " command = $5::jsonb WHERE posting_key = $1",
                command.posting_key,
                amount,
                currency,
                command.depends_on,
                payload,
            )
        return True


async def apply_result(pool: asyncpg.Pool, ref: RecordRef, result: PostingResult) -> bool:
    error = result.error.model_dump_json() if result.error else None
    async with pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, ref):
            return False
        current = await conn.fetchrow(
            "SELECT state, last_result_at FROM postings WHERE posting_key = $1 FOR UPDATE",
            result.posting_key,
        )
        old: str | None = None if current is None else current["state"]
        if (
            old is not None
            and current is not None
            and (old == "done" or (current["last_result_at"] or result.at) > result.at)
        ):
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
            return True
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
        return True


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
