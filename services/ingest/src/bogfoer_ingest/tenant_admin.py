"""The tenant admin API beside the credentials (operator credentials): what ingest knows of a
tenant and the addresses it sends to, the tenant's Stripe account connected (its restricted
key checked, the webhook endpoint registered through Stripe's API), and Stripe backfills."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Path, Request

from bogfoer_contracts.admin import (
    Backfill,
    BackfillRequest,
    Endpoints,
    RegisteredEndpoint,
    SigningView,
    StripeConnected,
    StripeConnection,
    StripeView,
    TenantView,
)
from bogfoer_contracts.ids import TENANT_PATTERN
from bogfoer_ingest import backfill
from bogfoer_ingest.backfill import BackfillRunner
from bogfoer_ingest.settings import IngestSettings
from bogfoer_ingest.stripe.api import StripeApi, StripePermanent, StripeTransient
from bogfoer_ingest.tenants import TenantDirectory
from bogfoer_kit.auth import Guard, Principal
from bogfoer_kit.errors import ApiError

TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]


def endpoints_of(settings: IngestSettings, request: Request, tenant: str) -> Endpoints:
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return Endpoints(
        events=f"{base}/v1/tenants/{tenant}/events",
        stripe_webhook=f"{base}/v1/tenants/{tenant}/webhooks/stripe",
    )


def _stripe_refusal(exc: StripePermanent | StripeTransient) -> ApiError:
    if isinstance(exc, StripeTransient):
        return ApiError(503, "stripe_unavailable", str(exc))
    if exc.http_status == 401:
        return ApiError(422, "stripe_refused_api_key", "Stripe does not know this key")
    if exc.http_status == 403:
        return ApiError(
            422,
            "stripe_key_lacks_permission",
            "the restricted key needs Read on Charges, Refunds, Balance and Payouts, and"
            f" Write on Webhook Endpoints: {exc}",
        )
    return ApiError(502, "stripe_error", str(exc))


def tenant_admin_router(
    guard: Guard,
    settings: IngestSettings,
    tenants: TenantDirectory,
    pool: asyncpg.Pool,
    stripe_api: StripeApi,
    runner: BackfillRunner,
) -> APIRouter:
    operator = guard.require("operator")
    as_operator = Depends(operator)
    router = APIRouter(
        prefix="/v1/admin/tenants/{tenant}", tags=["admin"], dependencies=[Depends(operator)]
    )

    @router.get("", response_model=TenantView)
    async def view(tenant: TenantPath, request: Request) -> TenantView:
        found = await tenants.get(tenant)
        return TenantView(
            tenant_id=tenant,
            known=found is not None,
            signing=SigningView(
                hmac_secret=bool(found and found.hmac_secret),
                api_key=bool(found and found.api_key_sha256),
            ),
            stripe=StripeView(
                api_key=bool(found and found.stripe_api_key),
                webhook_secret=bool(found and found.stripe_webhook_secret),
                webhook_endpoint_id=await tenants.webhook_endpoint_id(tenant),
            ),
            endpoints=endpoints_of(settings, request, tenant),
        )

    @router.put("/stripe", response_model=StripeConnected)
    async def connect_stripe(
        tenant: TenantPath, body: StripeConnection, request: Request
    ) -> StripeConnected:
        """Check the key with Stripe, then store it with the webhook secret: pasted, or of an
        endpoint registered now (any endpoint of the account already sending to this tenant's
        address is replaced, so connecting again leaves one)."""
        key = body.api_key.get_secret_value()
        api = stripe_api.for_tenant(key)
        url = endpoints_of(settings, request, tenant).stripe_webhook
        try:
            await api.verify()
            if body.webhook_secret is not None:
                await tenants.connect_stripe(
                    tenant, key, body.webhook_secret.get_secret_value(), None
                )
                return StripeConnected(webhook_url=url, webhook_endpoint=None)
            for stale in [e for e in await api.webhook_endpoints() if e.url == url]:
                await api.delete_webhook_endpoint(stale.id)
            created = await api.create_webhook_endpoint(
                url, f"Bogfør books {tenant}'s Stripe payments", uuid.uuid4().hex
            )
        except (StripePermanent, StripeTransient) as exc:
            raise _stripe_refusal(exc) from exc
        if created.secret is None:
            raise ApiError(502, "stripe_error", "Stripe answered the new endpoint without a secret")
        await tenants.connect_stripe(tenant, key, created.secret, created.id)
        return StripeConnected(
            webhook_url=url,
            webhook_endpoint=RegisteredEndpoint(
                id=created.id, url=created.url, enabled_events=list(created.enabled_events)
            ),
        )

    @router.post("/stripe/backfills", status_code=202, response_model=Backfill)
    async def start_backfill(
        tenant: TenantPath, body: BackfillRequest, who: Principal = as_operator
    ) -> Backfill:
        """Fetch the tenant's Stripe history from `from` (a Danish date) and book it."""
        found = await tenants.get(tenant)
        if found is None or found.stripe_api_key is None:
            raise ApiError(409, "stripe_not_configured", "connect the tenant's Stripe first")
        since, until = backfill.window(body, dt.datetime.now(dt.UTC))
        if since >= until:
            raise ApiError(422, "empty_backfill", "`from` must be before `until`")
        job = await backfill.create(pool, tenant, since, until, who.subject)
        runner.wake()
        return job

    @router.get("/stripe/backfills", response_model=list[Backfill])
    async def list_backfills(tenant: TenantPath) -> list[Backfill]:
        return await backfill.of_tenant(pool, tenant)

    @router.get("/stripe/backfills/{backfill_id}", response_model=Backfill)
    async def get_backfill(
        tenant: TenantPath, backfill_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
    ) -> Backfill:
        found = await backfill.find(pool, tenant, backfill_id)
        if found is None:
            raise ApiError(404, "unknown_backfill", backfill_id)
        return found

    return router
