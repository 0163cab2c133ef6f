"""What onboarding reads from, and makes in, a tenant's Dinero (operator credentials): the
state of its connection, the organisations its consent reaches, an organisation's chart
(every account with its VAT code, the deposit accounts, the invoice templates), a deposit
account made on request (the Stripe beholdning), and settings checked without publishing
them. The portal carries out the shop owner's onboarding through these routes."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Path, Response

from bogfoer_contracts.admin import (
    Chart,
    ChartAccount,
    CurrentSettings,
    DepositAccountView,
    DineroConnection,
    NewDepositAccount,
    OrganisationView,
    Parked,
    SettingsAccepted,
    TemplateView,
)
from bogfoer_contracts.ids import TENANT_PATTERN
from bogfoer_contracts.tenants import TenantSettings
from bogfoer_dinero import DineroClient, UnknownOutcome
from bogfoer_dinero.auth import CredentialStore
from bogfoer_dinero.models import DepositAccountCreate, Organisation
from bogfoer_kit.auth import Guard
from bogfoer_kit.errors import ApiError
from bogfoer_poster.chart_check import check_settings, dinero_errors, pro_organisation, within
from bogfoer_rules.accounts import normal_vat_code

TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]
OrgPath = Annotated[int, Path(ge=1, le=2**53)]


def _view(org: Organisation) -> OrganisationView:
    return OrganisationView(
        id=org.id, name=org.name, is_pro=bool(org.is_pro), is_vat_free=bool(org.is_vat_free)
    )


def dinero_admin_router(
    guard: Guard,
    pool: asyncpg.Pool,
    dinero: DineroClient,
    credentials: CredentialStore,
    *,
    dinero_timeout: float,
    dinero_retry_after: int,
) -> APIRouter:
    def budget() -> AbstractAsyncContextManager[None]:
        return within(dinero_timeout, dinero_retry_after)

    router = APIRouter(
        prefix="/v1/tenants/{tenant}",
        tags=["tenant admin"],
        dependencies=[Depends(guard.require("operator"))],
    )

    @router.get("/dinero", response_model=DineroConnection)
    async def connection(tenant: TenantPath) -> DineroConnection:
        stored = await credentials.get(tenant)
        row = await pool.fetchrow(
            "SELECT parked_reason, parked_at FROM tenants WHERE tenant_id = $1", tenant
        )
        parked = (
            Parked(reason=row["parked_reason"], since=row["parked_at"])
            if row is not None and row["parked_reason"]
            else None
        )
        return DineroConnection(
            connected=stored is not None and stored.parked_reason is None,
            kind=stored.kind if stored is not None else None,
            refused=stored.parked_reason if stored is not None else None,
            parked=parked,
        )

    @router.get("/dinero/organisations", response_model=list[OrganisationView])
    async def organisations(tenant: TenantPath) -> list[OrganisationView]:
        """The organisations the tenant's Dinero consent reaches, with their Pro status."""
        async with budget():
            with dinero_errors():
                return [_view(o) for o in await dinero.organisations(tenant)]

    @router.get("/dinero/organisations/{organization_id}/chart", response_model=Chart)
    async def chart(tenant: TenantPath, organization_id: OrgPath) -> Chart:
        """Every account with its VAT code, the deposit accounts and the invoice templates
        (422 `organisation_not_pro` for an organisation without Dinero Pro)."""
        async with budget():
            with dinero_errors():
                found = pro_organisation(await dinero.organisations(tenant), organization_id)
                org = dinero.organisation(tenant, organization_id)
                entry = await org.entry_accounts()
                deposit = await org.deposit_accounts()
                templates = await org.invoice_templates()
        return Chart(
            organisation=_view(found),
            entry_accounts=[
                ChartAccount(
                    number=a.account_number,
                    name=a.name,
                    vat_code=normal_vat_code(a.vat_code),
                    category=a.category,
                    hidden=bool(a.is_hidden),
                )
                for a in entry
            ],
            deposit_accounts=[
                DepositAccountView(number=a.account_number, name=a.name) for a in deposit
            ],
            invoice_templates=[
                TemplateView(id=t.id, name=t.name, is_default=bool(t.is_default)) for t in templates
            ],
        )

    @router.post(
        "/dinero/organisations/{organization_id}/deposit-accounts",
        status_code=201,
        response_model=DepositAccountView,
        responses={200: {"model": DepositAccountView, "description": "it existed already"}},
    )
    async def create_deposit_account(
        tenant: TenantPath, organization_id: OrgPath, body: NewDepositAccount, response: Response
    ) -> DepositAccountView:
        """Make a deposit account (e.g. 55010 "Stripe"); asking again for one that exists
        answers it with 200, so a repeated click or a lost answer makes one account."""
        async with budget():
            with dinero_errors():
                pro_organisation(await dinero.organisations(tenant), organization_id)
                org = dinero.organisation(tenant, organization_id)
                existing = {a.account_number: a for a in await org.deposit_accounts()}
                if body.number in existing:
                    response.status_code = 200
                    return DepositAccountView(number=body.number, name=existing[body.number].name)
                if body.number in {a.account_number for a in await org.entry_accounts()}:
                    raise ApiError(
                        409,
                        "account_number_taken",
                        f"account {body.number} is already an account in the chart; choose a free"
                        " number for the deposit account",
                    )
                try:
                    await org.create_deposit_account(
                        DepositAccountCreate(number=body.number, name=body.name)
                    )
                except UnknownOutcome:
                    # The answer was lost: it exists now, or the call never took effect.
                    if body.number not in {a.account_number for a in await org.deposit_accounts()}:
                        raise
        return DepositAccountView(number=body.number, name=body.name)

    @router.get("/settings", response_model=CurrentSettings)
    async def current(tenant: TenantPath) -> CurrentSettings:
        """The settings last accepted for the tenant (what `PUT …/settings` published)."""
        row = await pool.fetchrow(
            "SELECT config_version, config::text AS config FROM tenants"
            " WHERE tenant_id = $1 AND config IS NOT NULL",
            tenant,
        )
        if row is None:
            raise ApiError(404, "no_settings", tenant)
        return CurrentSettings(
            version=row["config_version"],
            settings=TenantSettings.model_validate_json(row["config"]),
        )

    @router.post("/settings/check", response_model=SettingsAccepted)
    async def check(tenant: TenantPath, body: TenantSettings) -> SettingsAccepted:
        """The checks of `PUT …/settings` against the organisation's chart, without
        publishing anything: the same 422s with every problem, or `accepted`."""
        async with budget():
            await check_settings(dinero, tenant, body)
        return SettingsAccepted()

    return router
