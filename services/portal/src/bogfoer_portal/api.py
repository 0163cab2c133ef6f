"""The platform API: a shop platform (or an operator's script) onboards a tenant without the
web pages — every step of the pages as a JSON route, with the portal's operator token. The
shop owner still consents to Dinero in a browser: the platform sends them to the authorize
URL, and the portal's callback returns them to the platform's `return_url`."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import AnyHttpUrl, BaseModel, Field

from bogfoer_contracts.admin import (
    Backfill,
    Chart,
    Endpoints,
    NewDepositAccount,
    OrganisationView,
    StripeConnected,
    StripeConnection,
)
from bogfoer_contracts.ids import TenantId
from bogfoer_contracts.model import ContractModel
from bogfoer_contracts.tenants import SalesAccounts
from bogfoer_kit.auth import Guard, Principal
from bogfoer_kit.errors import ApiError
from bogfoer_portal import store
from bogfoer_portal.flow import Flow, Link
from bogfoer_portal.progress import (
    TITLES,
    AccountsChoice,
    BookingChoice,
    Progress,
    Purpose,
    StartChoice,
    Step,
    is_done,
    next_step,
    role_rows,
    steps_of,
)
from bogfoer_portal.store import Onboarding

OnboardingPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class StepView(BaseModel):
    step: Step
    title: str
    done: bool


class OnboardingView(BaseModel):
    id: str
    tenant_id: str
    purpose: Purpose
    owner_email: str | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    withdrawn_at: dt.datetime | None
    steps: list[StepView]
    next_step: Step | None = Field(description="null once every step is done")
    progress: Progress


class LinkView(BaseModel):
    url: str = Field(description="One-time: it opens a session for the shop owner once")
    expires_at: dt.datetime


class CreatedOnboarding(BaseModel):
    onboarding: OnboardingView
    link: LinkView


class NewOnboarding(ContractModel):
    tenant_id: TenantId
    purpose: Purpose = Field(
        default="onboard", description="`reconnect`: only Dinero again, then resume the tenant"
    )
    owner_email: str | None = Field(
        default=None, max_length=254, description="Suggested to Visma Connect's login"
    )


class AuthorizeRequest(ContractModel):
    return_url: AnyHttpUrl | None = Field(
        default=None, description="Where the owner's browser goes once Dinero is connected"
    )


class AuthorizeAnswer(BaseModel):
    authorize_url: str


class OrganisationBody(ContractModel):
    organization_id: int


class RoleView(BaseModel):
    role: str
    text: str
    needs: str = Field(description="The VAT code its account must carry in Dinero")
    account: int = Field(description="The default, or the account chosen so far")
    warning: str | None


class ChartAnswer(BaseModel):
    chart: Chart
    roles: list[RoleView] = Field(description="The sales accounts to choose, for this organisation")


class DepositChoice(ContractModel):
    number: int


class SigningSecret(BaseModel):
    secret: str = Field(description="Shown once: sign every event with it (Bogfoer-Signature)")
    endpoints: Endpoints


def view_of(onboarding: Onboarding) -> OnboardingView:
    purpose, progress = onboarding.purpose, onboarding.progress
    return OnboardingView(
        id=onboarding.id,
        tenant_id=onboarding.tenant_id,
        purpose=purpose,
        owner_email=onboarding.owner_email,
        created_by=onboarding.created_by,
        created_at=onboarding.created_at,
        updated_at=onboarding.updated_at,
        withdrawn_at=onboarding.withdrawn_at,
        steps=[
            StepView(step=s, title=TITLES[s], done=is_done(s, progress)) for s in steps_of(purpose)
        ],
        next_step=next_step(purpose, progress),
        progress=progress,
    )


def _link(link: Link) -> LinkView:
    return LinkView(url=link.url, expires_at=link.expires_at)


def role_views(onboarding: Onboarding, chart: Chart) -> list[RoleView]:
    organisation = onboarding.progress.organisation
    assert organisation is not None
    chosen = onboarding.progress.accounts
    accounts = chosen.accounts if chosen is not None else SalesAccounts()
    return [RoleView(**asdict(row)) for row in role_rows(organisation, accounts, chart.vat_codes())]


def api_router(guard: Guard, flow: Flow) -> APIRouter:
    operator = guard.require("operator")
    as_operator = Depends(operator)
    router = APIRouter(
        prefix="/v1/onboardings", tags=["onboarding"], dependencies=[Depends(operator)]
    )

    @router.post("", status_code=201, response_model=CreatedOnboarding)
    async def create(
        body: NewOnboarding, request: Request, who: Principal = as_operator
    ) -> CreatedOnboarding:
        """An onboarding for a tenant, and the one-time link to give its owner (or drive
        every step through this API instead)."""
        onboarding, link = await flow.create(
            body.tenant_id, body.purpose, body.owner_email, who.subject, str(request.base_url)
        )
        return CreatedOnboarding(onboarding=view_of(onboarding), link=_link(link))

    @router.get("", response_model=list[OnboardingView])
    async def of_tenant(tenant: TenantId) -> list[OnboardingView]:
        return [view_of(o) for o in await store.of_tenant(flow.pool, tenant)]

    @router.get("/{onboarding_id}", response_model=OnboardingView)
    async def one(onboarding_id: OnboardingPath) -> OnboardingView:
        return view_of(await flow.get(onboarding_id))

    @router.delete("/{onboarding_id}", status_code=204)
    async def withdraw(onboarding_id: OnboardingPath) -> Response:
        """Its links and sessions stop working; what was done stays done."""
        await flow.get(onboarding_id)
        await store.withdraw(flow.pool, onboarding_id)
        return Response(status_code=204)

    @router.post("/{onboarding_id}/links", status_code=201, response_model=LinkView)
    async def new_link(onboarding_id: OnboardingPath, request: Request) -> LinkView:
        """Another one-time link (the first was used, lost or expired)."""
        onboarding = await flow.get(onboarding_id)
        if onboarding.withdrawn_at is not None:
            raise ApiError(410, "onboarding_withdrawn", onboarding_id)
        return _link(await flow.link(onboarding, str(request.base_url)))

    @router.post("/{onboarding_id}/dinero/authorize", response_model=AuthorizeAnswer)
    async def authorize(
        onboarding_id: OnboardingPath, body: AuthorizeRequest, request: Request
    ) -> AuthorizeAnswer:
        """Send the shop owner's browser here to consent; it comes back to `return_url`."""
        onboarding = await flow.get(onboarding_id)
        url = await flow.begin_dinero(
            onboarding,
            str(request.base_url),
            session_sha256=None,
            return_url=str(body.return_url) if body.return_url else None,
        )
        return AuthorizeAnswer(authorize_url=url)

    @router.get("/{onboarding_id}/organisations", response_model=list[OrganisationView])
    async def organisations(onboarding_id: OnboardingPath) -> list[OrganisationView]:
        return await flow.organisations(await flow.get(onboarding_id))

    @router.put("/{onboarding_id}/organisation", response_model=OnboardingView)
    async def organisation(onboarding_id: OnboardingPath, body: OrganisationBody) -> OnboardingView:
        onboarding = await flow.get(onboarding_id)
        return view_of(await flow.choose_organisation(onboarding, body.organization_id))

    @router.get("/{onboarding_id}/chart", response_model=ChartAnswer)
    async def chart(onboarding_id: OnboardingPath) -> ChartAnswer:
        """The organisation's accounts with their VAT codes, and each sales role with the
        code it needs, its default (or chosen) account and a warning if they disagree."""
        onboarding = await flow.get(onboarding_id)
        found = await flow.chart(onboarding)
        return ChartAnswer(chart=found, roles=role_views(onboarding, found))

    @router.put("/{onboarding_id}/accounts", response_model=OnboardingView)
    async def accounts(onboarding_id: OnboardingPath, body: AccountsChoice) -> OnboardingView:
        return view_of(await flow.choose_accounts(await flow.get(onboarding_id), body))

    @router.post("/{onboarding_id}/stripe-account", response_model=OnboardingView)
    async def make_deposit_account(
        onboarding_id: OnboardingPath, body: NewDepositAccount
    ) -> OnboardingView:
        """Make the Stripe deposit account in Dinero (e.g. 55010 "Stripe") and choose it."""
        onboarding = await flow.get(onboarding_id)
        return view_of(await flow.create_deposit_account(onboarding, body))

    @router.put("/{onboarding_id}/stripe-account", response_model=OnboardingView)
    async def choose_deposit_account(
        onboarding_id: OnboardingPath, body: DepositChoice
    ) -> OnboardingView:
        """Choose a deposit account the organisation already has."""
        onboarding = await flow.get(onboarding_id)
        return view_of(await flow.choose_deposit_account(onboarding, body.number))

    @router.post("/{onboarding_id}/signing-secret", response_model=SigningSecret)
    async def signing_secret(onboarding_id: OnboardingPath, response: Response) -> SigningSecret:
        """A new signing secret, answered this once (a second call replaces it)."""
        response.headers["Cache-Control"] = "no-store"
        onboarding, secret = await flow.issue_signing_secret(await flow.get(onboarding_id))
        return SigningSecret(secret=secret, endpoints=(await flow.doors(onboarding)).endpoints)

    @router.put("/{onboarding_id}/stripe", response_model=StripeConnected)
    async def stripe(onboarding_id: OnboardingPath, body: StripeConnection) -> StripeConnected:
        """The restricted key, checked with Stripe; the webhook endpoint registered through
        Stripe's API, or its secret pasted from Stripe's dashboard."""
        _, connected = await flow.connect_stripe(await flow.get(onboarding_id), body)
        return connected

    @router.put("/{onboarding_id}/booking", response_model=OnboardingView)
    async def booking(onboarding_id: OnboardingPath, body: BookingChoice) -> OnboardingView:
        return view_of(await flow.choose_booking(await flow.get(onboarding_id), body))

    @router.put("/{onboarding_id}/start", response_model=OnboardingView)
    async def start(onboarding_id: OnboardingPath, body: StartChoice) -> OnboardingView:
        return view_of(await flow.choose_start(await flow.get(onboarding_id), body))

    @router.post("/{onboarding_id}/activate", response_model=OnboardingView)
    async def activate(onboarding_id: OnboardingPath) -> OnboardingView:
        """Publish the settings; for a backfill, start fetching Stripe's history. The
        platform then sends its orders since the first day again, with `backfill: true`."""
        return view_of(await flow.activate(await flow.get(onboarding_id)))

    @router.get("/{onboarding_id}/backfill", response_model=Backfill)
    async def backfill(onboarding_id: OnboardingPath) -> Backfill:
        found = await flow.backfill(await flow.get(onboarding_id))
        if found is None:
            raise ApiError(404, "no_backfill", onboarding_id)
        return found

    return router
