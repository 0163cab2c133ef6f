"""The ops HTTP API. Tenant routes answer ops (viewer) and the tenant's own read tokens;
the rest need viewer credentials, and what changes anything an operator's. Amounts are
integers in minor units (øre)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path, Query
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field

from bogfoer_contracts.ids import POSTING_KEY_PATTERN, TENANT_PATTERN
from bogfoer_contracts.model import StorableText
from bogfoer_contracts.postings import PostingKind
from bogfoer_contracts.times import Day
from bogfoer_kit.actions import new_action_id
from bogfoer_kit.auth import Guard, Principal
from bogfoer_kit.errors import ApiError, ErrorResponse
from bogfoer_ledger import deadletters, queries
from bogfoer_ledger.tokens import TenantTokens

# Every parameter says what it can be, so what reaches a query is a value the table can
# hold and the OpenAPI tells clients (and the fuzz suite) the truth (issue 12, finding 10).
TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]
PostingState = Literal["pending", "waiting", "done", "failed", "parked", "held"]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or bad credentials"},
    403: {"model": ErrorResponse, "description": "the credentials may not do this"},
}


class PostingView(BaseModel):
    posting_key: str
    tenant_id: str
    kind: str
    state: str
    amount_minor: int | None = Field(description="In minor units (øre)")
    currency: str | None
    dinero_guid: str | None
    dinero_number: int | None
    attempts: int
    last_error: dict[str, Any] | None
    detail: str | None
    depends_on: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    trace_id: str | None = Field(description="The sale's trace (W3C trace id)")
    seen_at: dt.datetime = Field(description="When the ledger first saw the posting")


class TransitionView(BaseModel):
    from_state: str | None
    to_state: str
    detail: str | None
    error: dict[str, Any] | None
    topic: str
    partition: int
    offset: int
    at: dt.datetime


class PostingDetail(PostingView):
    command: dict[str, Any] | None
    history: list[TransitionView]


class CountView(BaseModel):
    tenant_id: str
    state: str
    kind: str
    count: int
    amount_minor: int = Field(description="Sum in minor units (øre)")


class DeadLetterView(BaseModel):
    id: int
    tenant_id: str | None
    topic: str
    partition: int
    offset: int
    original_topic: str | None
    reason: str
    detail: str | None
    headers: dict[str, str]
    at: dt.datetime
    redriven_at: dt.datetime | None


class ActionView(BaseModel):
    action_id: str
    action: str
    tenant_id: str | None
    posting_key: str | None
    dead_letter_id: int | None
    requested_by: str
    requested_at: dt.datetime
    note: str | None
    outcome: str | None
    outcome_detail: str | None
    outcome_at: dt.datetime | None


class Redriven(BaseModel):
    id: int
    topic: str
    action_id: str


class NewReadToken(StorableText):
    # A NUL in the label reached PostgreSQL: 500 (found by the fuzz suite, issue 12).
    label: str = Field(min_length=1, max_length=200, description="Who holds it, e.g. a platform")


class ReadToken(BaseModel):
    id: int
    tenant_id: str
    label: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class IssuedReadToken(ReadToken):
    token: str = Field(description="Shown once; only its digest is stored")


def ops_router(
    pool: asyncpg.Pool, broker: KafkaBroker, guard: Guard, tokens: TenantTokens
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["ops"], responses=ERRORS)
    reader = Depends(guard.tenant_reader())
    viewer = Depends(guard.require("viewer"))
    operator = guard.require("operator")
    as_operator = Depends(operator)  # the principal, for the trail

    @router.get("/tenants/{tenant}/postings", dependencies=[reader])
    async def list_postings(
        tenant: TenantPath,
        state: PostingState | None = None,
        kind: PostingKind | None = None,
        search: Annotated[
            str | None, Query(max_length=128, description="order number or part of a key")
        ] = None,
        # Days as every contract takes them (a number such as 0 was read as 1970-01-01).
        updated_from: Day | None = None,
        updated_to: Day | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> list[PostingView]:
        where = queries.PostingFilter(state, kind, search, updated_from, updated_to)
        rows = await queries.postings(pool, tenant, where, limit, offset)
        return [PostingView.model_validate(r) for r in rows]

    @router.get("/tenants/{tenant}/postings/{posting_key}", dependencies=[reader])
    async def get_posting(
        tenant: TenantPath, posting_key: Annotated[str, Path(pattern=POSTING_KEY_PATTERN)]
    ) -> PostingDetail:
        found = await queries.posting(pool, tenant, posting_key)
        if found is None:
            raise ApiError(404, "unknown_posting", {"posting_key": posting_key})
        return PostingDetail.model_validate(found)

    @router.get("/tenants/{tenant}/counts", dependencies=[reader])
    async def tenant_counts(tenant: TenantPath) -> list[CountView]:
        return [CountView.model_validate(r) for r in await queries.counts(pool, tenant)]

    @router.get("/counts", dependencies=[viewer])
    async def get_counts() -> list[CountView]:
        return [CountView.model_validate(r) for r in await queries.counts(pool)]

    @router.get("/dead-letters", dependencies=[viewer])
    async def list_dead_letters(
        tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[DeadLetterView]:
        rows = await queries.dead_letters(pool, tenant, limit)
        return [DeadLetterView.model_validate(r) for r in rows]

    @router.post("/dead-letters/{dead_letter_id}/redrive", status_code=202)
    async def redrive(
        dead_letter_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        who: Principal = as_operator,
    ) -> Redriven:
        """Publish a dead-lettered record to its original topic again (after the fix)."""
        action_id = new_action_id()
        topic = await deadletters.redrive(
            pool, broker, dead_letter_id, requested_by=who.subject, action_id=action_id
        )
        return Redriven(id=dead_letter_id, topic=topic, action_id=action_id)

    @router.get("/actions", dependencies=[viewer])
    async def list_actions(
        tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[ActionView]:
        rows = await queries.actions(pool, tenant=tenant, limit=limit)
        return [ActionView.model_validate(r) for r in rows]

    @router.post("/tenants/{tenant}/read-tokens", status_code=201)
    async def issue_read_token(
        tenant: TenantPath, body: NewReadToken, who: Principal = as_operator
    ) -> IssuedReadToken:
        """A read token for a shop platform, scoped to this tenant's postings."""
        token_id, token = await tokens.issue(tenant, body.label, who.subject)
        (issued,) = [t for t in await tokens.listed(tenant) if t["id"] == token_id]
        return IssuedReadToken(**issued, token=token)

    @router.get("/tenants/{tenant}/read-tokens", dependencies=[Depends(operator)])
    async def list_read_tokens(tenant: TenantPath) -> list[ReadToken]:
        return [ReadToken.model_validate(t) for t in await tokens.listed(tenant)]

    @router.delete(
        "/tenants/{tenant}/read-tokens/{token_id}",
        status_code=204,
        dependencies=[Depends(operator)],
    )
    async def revoke_read_token(
        tenant: TenantPath, token_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
    ) -> None:
        if not await tokens.revoke(tenant, token_id):
            raise ApiError(404, "unknown_read_token", {"id": token_id})

    return router
