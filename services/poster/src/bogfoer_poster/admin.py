"""The tenant admin API: connect Dinero, choose settings (validated against the
organisation's real chart), un-park a tenant, re-drive a failed posting."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Header, Path
from pydantic import BaseModel, Field

from bogfoer_contracts.ids import TENANT_PATTERN
from bogfoer_contracts.tenants import TenantConfig, TenantSettings
from bogfoer_contracts.topics import TENANTS_CONFIG
from bogfoer_dinero import DineroClient, DineroError, RetryLater, TenantParked, UnknownOutcome
from bogfoer_kit.errors import ApiError
from bogfoer_kit.outbox import OutboxRelay, enqueue
from bogfoer_poster import store
from bogfoer_poster.chart_check import check_settings
from bogfoer_poster.settings import PosterSettings
from bogfoer_poster.workers import Supervisor

TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]


class ApiKeyConnection(BaseModel):
    api_key: str = Field(min_length=8, repr=False)


class AuthorizationCode(BaseModel):
    code: str = Field(repr=False)
    redirect_uri: str
    code_verifier: str | None = Field(default=None, repr=False)


def _problem(status: int, reason: str, detail: Any = None) -> ApiError:
    return ApiError(status, reason, detail)


def admin_router(
    settings: PosterSettings,
    pool: asyncpg.Pool,
    dinero: DineroClient,
    outbox: OutboxRelay,
    supervisor: Supervisor,
) -> APIRouter:
    async def authorised(authorization: Annotated[str, Header()] = "") -> None:
        expected = f"Bearer {settings.admin_token.get_secret_value()}"
        if not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise _problem(401, "bad_admin_token")

    router = APIRouter(
        prefix="/v1/tenants/{tenant}", tags=["tenant admin"], dependencies=[Depends(authorised)]
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

    @router.post("/unpark", status_code=204)
    async def unpark(tenant: TenantPath) -> None:
        async with pool.acquire() as conn:
            await store.unpark_tenant(conn, tenant)
        supervisor.wake.set()

    @router.post("/postings/{posting_key}/redrive", status_code=202)
    async def redrive(tenant: TenantPath, posting_key: str) -> dict[str, str]:
        if not await supervisor.redrive(tenant, posting_key):
            raise _problem(409, "not_failed", posting_key)
        return {"posting_key": posting_key, "state": "waiting"}

    return router
