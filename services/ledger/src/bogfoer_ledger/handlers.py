"""Kafka handlers: parse, apply exactly once, commit. Poison records go to the DLQ.

Each tenant batch of a poll (`bogfoer_kit.consumer`) is applied in one transaction, with
the tracking rows of its records (`store.py`)."""

from __future__ import annotations

import asyncio

import asyncpg

from bogfoer_contracts.ops import OPS_ACTION, OpsAction
from bogfoer_contracts.postings import PostingResult
from bogfoer_kit.consumer import Consumers, Record, TenantBatch
from bogfoer_ledger import rules, store
from bogfoer_ledger.metrics import count_transitions


def _ref(record: Record) -> store.RecordRef:
    return store.RecordRef(record.topic, record.partition, record.offset)


def trace_id_of(value: object) -> str | None:
    """The trace id of a W3C `traceparent` header's value (00-<trace id>-<span id>-<flags>)."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if not isinstance(value, str):
        return None
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    return parts[1]


# Tenant batches of a poll handled at once, each on a pooled connection of its own.
COMMANDS_CONCURRENCY = 4


def register(consumers: Consumers, pool: asyncpg.Pool) -> None:
    # One group per subscription: groups with different subscriptions rebalance each other
    # for nothing.

    async def on_commands(batch: TenantBatch) -> None:
        # Parsed in the transaction, not before it: a poll's tenant batches run together,
        # and this one's first statements run while the next one is parsed. Its records are
        # tracked while they are parsed (the claim needs only their positions): PostgreSQL
        # takes the tenant's lock while this process parses the batch, then tracks it as
        # one run (`store.claim_run`), the records refused by the parse included (they are
        # dead-lettered whenever they come).
        async with pool.acquire() as conn, conn.transaction():
            claiming = asyncio.ensure_future(
                store.claim_run(conn, batch.tenant, [_ref(r) for r in batch.records])
            )
            await asyncio.sleep(0)  # its statement sent before the parse holds the loop
            try:
                commands: list[tuple[store.RecordRef, store.Command, str | None]] = [
                    (_ref(record), command, trace_id_of(record.header("traceparent")))
                    for record, command in batch.parsed(rules.parse, "invalid_command")
                ]
            except BaseException:
                # The connection must be free for the rollback.
                await asyncio.gather(claiming, return_exceptions=True)
                raise
            try:
                claimed = await claiming
            finally:
                # A failed claim's task holds its exception, whose traceback holds this
                # frame: let go of it, or the batch waits for the collector (a cycle).
                del claiming
            changes = (
                await store.apply_commands(conn, commands, claimed=claimed) if commands else []
            )
        count_transitions((c.tenant_id, c.kind, old, new) for c, (old, new) in changes)

    async def on_results(batch: TenantBatch) -> None:
        results = [
            (_ref(record), result)
            for record, result in batch.parsed(PostingResult.model_validate_json, "invalid_result")
        ]
        if not results:
            return
        # Tracked as one run from the first result to the last: a record refused between
        # them is in its span, and refused again (dead-lettered) whenever it comes.
        async with pool.acquire() as conn, conn.transaction():
            changes = await store.apply_results(conn, results, tenant=batch.tenant)
        count_transitions((r.tenant_id, r.kind, old, new) for r, (old, new) in changes)

    async def on_actions(batch: TenantBatch) -> None:
        actions: list[tuple[store.RecordRef, OpsAction]] = [
            (_ref(record), action)
            for record, action in batch.parsed(OPS_ACTION.validate_json, "invalid_action")
        ]
        if actions:
            async with pool.acquire() as conn, conn.transaction():
                for ref, action in actions:
                    await store.apply_action(conn, ref, action)

    async def on_dead_letters(batch: TenantBatch) -> None:
        async with pool.acquire() as conn, conn.transaction():
            for record in batch.records:
                await store.apply_dead_letter(
                    conn, _ref(record), record.tenant or None, record.value, record.header_map()
                )

    consumers.subscribe("commands", on_commands, concurrency=COMMANDS_CONCURRENCY)
    consumers.subscribe("results", on_results)
    consumers.subscribe("actions", on_actions)
    consumers.subscribe("dead-letters", on_dead_letters)
