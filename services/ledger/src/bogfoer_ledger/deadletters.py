"""Re-driving a dead letter: its record published to its original topic again, once the
cause is fixed, and the re-drive put in the actions' trail. Shared by the ops API and the
ops pages."""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker

from bogfoer_kit.errors import ApiError
from bogfoer_ledger import queries, store


async def redrive(
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    dead_letter_id: int,
    *,
    requested_by: str,
    action_id: str,
    note: str | None = None,
) -> str:
    """Publish the record again; returns the topic. ApiError when it cannot be re-driven here."""
    letter = await queries.dead_letter(pool, dead_letter_id)
    if letter is None:
        raise ApiError(404, "unknown_dead_letter", {"id": dead_letter_id})
    headers: dict[str, str] = letter["headers"]
    if "x-posting-key" in headers:
        # A posting Dinero refused: re-driven as a posting (re-mapped with the tenant's
        # current settings), from its page, not by resending the old command.
        raise ApiError(
            409,
            "redrive_as_posting",
            {"posting_key": headers["x-posting-key"], "tenant": letter["tenant_id"]},
        )
    if letter["original_topic"] is None:
        raise ApiError(409, "no_original_topic", {"id": dead_letter_id})
    kept = {k: v for k, v in headers.items() if not k.startswith(("x-dlq-", "x-original-"))}
    kept["x-redriven-from"] = f"{letter['topic']}:{letter['partition']}:{letter['offset']}"
    await broker.publish(
        bytes(letter["payload"]),
        topic=letter["original_topic"],
        key=letter["tenant_id"].encode() if letter["tenant_id"] else None,
        headers=kept,
    )
    async with pool.acquire() as conn, conn.transaction():
        await store.record_dead_letter_redrive(
            conn,
            action_id,
            dead_letter_id,
            letter["tenant_id"],
            requested_by,
            note,
            letter["original_topic"],
        )
    topic: str = letter["original_topic"]
    return topic
