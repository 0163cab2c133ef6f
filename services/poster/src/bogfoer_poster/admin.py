"""The tenant admin API (operator credentials): connect Dinero, choose settings (validated
against the organisation's real chart); resume a parked tenant and retry a posting, which
publish the same actions on ops.actions.v1 as the ops web app."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Path
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field

from bogfoer_contracts.ids import POSTING_KEY_PATTERN, TENANT_PATTERN
from bogfoer_contracts.model import StorableText
from bogfoer_contracts.tenants import TenantConfig, TenantSettings
from bogfoer_contracts.topics import TENANTS_CONFIG
from bogfoer_dinero import DineroClient, DineroError, RetryLater, TenantParked, UnknownOutcome
from bogfoer_kit.actions import make_action, publish_action
from bogfoer_kit.auth import Guard, Principal
from bogfoer_kit.errors import ApiError
from bogfoer_kit.outbox import OutboxRelay, enqueue
from bogfoer_poster import store
from bogfoer_poster.chart_check import check_settings, within

TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]
PostingKeyPath = Annotated[str, Path(pattern=POSTING_KEY_PATTERN)]


class ApiKeyConnection(StorableText):
    api_key: str = Field(min_length=8, repr=False)


class ActionAccepted(BaseModel):
    action_id: str
    action: str


class AuthorizationCode(StorableText):
    code: str = Field(repr=False)
    redirect_uri: str
    code_verifier: str | None = Field(default=None, repr=False)


def _problem(status: int, reason: str, detail: Any = None) -> ApiError:
    return ApiError(status, reason, detail)


def admin_router(
    guard: Guard,
    pool: asyncpg.Pool,
    dinero: DineroClient,
    outbox: OutboxRelay,
    broker: KafkaBroker,
    *,
    dinero_timeout: float,
    dinero_retry_after: int,
) -> APIRouter:
    operator = guard.require("operator")
    as_operator = Depends(operator)  # the principal, for the trail
    router = APIRouter(
        prefix="/v1/tenants/{tenant}", tags=["tenant admin"], dependencies=[Depends(operator)]
    )

    @router.put("/dinero/api-key", status_code=204)
    async def connect_api_key(tenant: TenantPath, body: ApiKeyConnection) -> None:
        """Stored only once Dinero grants a token for the key (a wrong key is refused now,
        not at the settings step)."""
        try:
            await dinero.auth.register_api_key(tenant, body.api_key)
        except TenantParked as exc:
            raise _problem(422, "dinero_refused_api_key", str(exc)) from exc
        except (RetryLater, UnknownOutcome) as exc:
            raise _problem(503, "dinero_unavailable", str(exc)) from exc

    @router.post("/dinero/authorization-code", status_code=204)
    async def connect_visma(tenant: TenantPath, body: AuthorizationCode) -> None:
        try:
            await dinero.auth.exchange_code(
                tenant, body.code, body.redirect_uri, code_verifier=body.code_verifier
            )
        except DineroError as exc:
            raise _problem(400, "authorization_failed", str(exc)) from exc

    @router.put("/settings", response_model=TenantConfig)
    async def put_settings(tenant: TenantPath, body: TenantSettings) -> TenantConfig:
        async with within(dinero_timeout, dinero_retry_after):
            await check_settings(dinero, tenant, body)
        async with pool.acquire() as conn, conn.transaction():
            version = await store.next_config_version(conn, tenant, body.model_dump_json())
            config = TenantConfig(
                **body.model_dump(),
                tenant_id=tenant,
                version=version,
                updated_at=dt.datetime.now(dt.UTC),
            )
            await enqueue(conn, tenant, TENANTS_CONFIG, config.model_dump_json())
        await outbox.relay()
        return config

    @router.post("/unpark", status_code=202, response_model=ActionAccepted)
    async def unpark(tenant: TenantPath, who: Principal = as_operator) -> ActionAccepted:
        """Resume a parked tenant (its Dinero connection fixed): a `resume_tenant` action."""
        action = make_action("resume_tenant", tenant, who.subject)
        await publish_action(broker, action)
        return ActionAccepted(action_id=action.action_id, action=action.action)

    @router.post("/postings/{posting_key}/redrive", status_code=202, response_model=ActionAccepted)
    async def redrive(
        tenant: TenantPath, posting_key: PostingKeyPath, who: Principal = as_operator
    ) -> ActionAccepted:
        """Re-drive a posting: a `remap_posting` action. The mapper derives it again from the
        sale with the tenant's *current* settings and its command replaces the stored one
        here (look-up first), so a settings fix reaches a failed posting."""
        async with pool.acquire() as conn:
            state = await conn.fetchval(
                "SELECT state FROM postings WHERE tenant_id = $1 AND posting_key = $2",
                tenant,
                posting_key,
            )
        if state is None:
            raise _problem(404, "unknown_posting", posting_key)
        if state == "done":
            raise _problem(409, "already_done", posting_key)
        action = make_action("remap_posting", tenant, who.subject, posting_key=posting_key)
        await publish_action(broker, action)
        return ActionAccepted(action_id=action.action_id, action=action.action)

    return router
