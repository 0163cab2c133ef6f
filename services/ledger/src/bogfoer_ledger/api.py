"""The ops HTTP API: postings by tenant and state, one posting with history, counts."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query
from faststream.kafka import KafkaBroker

from bogfoer_kit.errors import ApiError
from bogfoer_ledger import queries


def ops_router(pool: asyncpg.Pool, broker: KafkaBroker) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["ops"])

    @router.get("/tenants/{tenant}/postings")
    async def list_postings(
        tenant: str,
        state: str | None = None,
        kind: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        return await queries.postings(pool, tenant, state, kind, limit)

    @router.get("/tenants/{tenant}/postings/{posting_key}")
    async def get_posting(tenant: str, posting_key: str) -> dict[str, Any]:
        found = await queries.posting(pool, tenant, posting_key)
        if found is None:
            raise ApiError(404, "unknown_posting", {"posting_key": posting_key})
        return found

    @router.get("/counts")
    async def get_counts() -> list[dict[str, Any]]:
        return await queries.counts(pool)

    @router.get("/dead-letters")
    async def list_dead_letters(
        tenant: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        return await queries.dead_letters(pool, tenant, limit)

    @router.post("/dead-letters/{dead_letter_id}/redrive", status_code=202)
    async def redrive(dead_letter_id: int) -> dict[str, Any]:
        """Publish a dead-lettered record to its original topic again (after the fix)."""
        letter = await queries.dead_letter(pool, dead_letter_id)
        if letter is None:
            raise ApiError(404, "unknown_dead_letter", {"id": dead_letter_id})
        headers: dict[str, str] = letter["headers"]
        if "x-posting-key" in headers:
            # A posting Dinero refused: the poster knows its progress and re-drives it.
            raise ApiError(409, "redrive_in_poster", {"posting_key": headers["x-posting-key"]})
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
        await queries.mark_redriven(pool, dead_letter_id)
        return {"id": dead_letter_id, "topic": letter["original_topic"]}

    return router
