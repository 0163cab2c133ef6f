"""Kafka intake: a command is durable in the poster's queue before its offset commits (a
re-mapped command, with a higher revision, replaces the stored one); an operator's action
(retry a posting, resume a tenant) is carried out once. A tenant's commands of one poll go
into the queue in one transaction (`bogfoer_kit.consumer`)."""

from __future__ import annotations

import asyncpg

from bogfoer_contracts.ops import OPS_ACTION
from bogfoer_contracts.postings import PostingCommand, parse_command
from bogfoer_kit.consumer import Consumers, TenantBatch
from bogfoer_kit.telemetry import traced
from bogfoer_poster import store
from bogfoer_poster.workers import Supervisor


def register(consumers: Consumers, pool: asyncpg.Pool, supervisor: Supervisor) -> None:
    async def on_commands(batch: TenantBatch) -> None:
        # Each with the trace it was published in: its attempts run in it.
        commands: list[tuple[PostingCommand, str | None]] = [
            (command, record.header("traceparent"))
            for record, command in batch.parsed(parse_command, "invalid_command")
        ]
        if not commands:
            return
        async with pool.acquire() as conn:
            # A known posting key is a duplicate (dropped) unless re-mapped (a higher
            # revision).
            await store.intake_many(conn, commands)
        supervisor.wake.set()

    async def on_actions(batch: TenantBatch) -> None:
        for record, action in batch.parsed(OPS_ACTION.validate_json, "invalid_action"):
            with traced(record.trace_context()):
                await supervisor.carry_out(action)

    consumers.subscribe("commands", on_commands)
    consumers.subscribe("actions", on_actions)
