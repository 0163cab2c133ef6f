"""The ops HTTP API: postings by tenant and state, one posting with history, counts."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query

from bogfoer_ledger import queries


def ops_router(pool: asyncpg.Pool) -> APIRouter:
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
            raise HTTPException(404, {"reason": "unknown_posting", "posting_key": posting_key})
        return found

    @router.get("/counts")
    async def get_counts() -> list[dict[str, Any]]:
        return await queries.counts(pool)

    @router.get("/dead-letters")
    async def list_dead_letters(
        tenant: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        return await queries.dead_letters(pool, tenant, limit)

    return router
