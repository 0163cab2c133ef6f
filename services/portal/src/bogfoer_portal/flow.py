"""Each onboarding step carried out: checked against the progress (`progress.py`), done
through the poster's and ingest's admin APIs (`backends.py`), and recorded. The web pages
and the platform API are two faces of these same functions."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from bogfoer_contracts.admin import (
    Backfill,
    Chart,
    NewDepositAccount,
    OrganisationView,
    StripeConnected,
    StripeConnection,
    TenantView,
)
from bogfoer_kit.errors import ApiError
from bogfoer_portal import store, visma
from bogfoer_portal.backends import Backends
from bogfoer_portal.progress import (
    AccountsChoice,
    BookingChoice,
    OrganisationChoice,
    Progress,
    Purpose,
    StartChoice,
    Step,
    StripeChoice,
    danish_today,
    may_open,
    next_step,
    settings_of,
    with_organisation,
)
from bogfoer_portal.settings import PortalSettings
from bogfoer_portal.store import Authorizations, Onboarding

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Finished:
    """A Visma Connect consent carried out: the onboarding, and where the browser goes."""

    onboarding: Onboarding
    return_url: str | None


class Flow:
    def __init__(
        self,
        pool: asyncpg.Pool,
        backends: Backends,
        authorizations: Authorizations,
        settings: PortalSettings,
        clock: Clock = _now,
    ) -> None:
        self.pool = pool
        self.backends = backends
        self.authorizations = authorizations
        self.settings = settings
        self.clock = clock

    # --- onboardings and their links ---------------------------------------------------

    def base_url(self, request_base: str) -> str:
        return (self.settings.public_url or request_base).rstrip("/")

    async def create(
        self, tenant: str, purpose: Purpose, owner_email: str | None, who: str, base: str
    ) -> tuple[Onboarding, Link]:
        if purpose == "onboard" and await store.activated(self.pool, tenant) is not None:
            raise ApiError(
                409,
                "tenant_already_onboarded",
                f"{tenant} was activated before; to reconnect its Dinero make a `reconnect`",
            )
        onboarding = await store.create(self.pool, tenant, purpose, owner_email, who)
        return onboarding, await self.link(onboarding, base)

    async def link(self, onboarding: Onboarding, base: str) -> Link:
        token, expires = await store.new_link(self.pool, onboarding.id, self.settings.link_hours)
        return Link(f"{self.base_url(base)}/portal/start/{token}", expires)

    async def get(self, onboarding_id: str) -> Onboarding:
        found = await store.get(self.pool, onboarding_id)
        if found is None:
            raise ApiError(404, "unknown_onboarding", onboarding_id)
        return found

    def _open(self, onboarding: Onboarding, step: Step) -> None:
        if onboarding.withdrawn_at is not None:
            raise ApiError(410, "onboarding_withdrawn", onboarding.id)
        if not may_open(onboarding.purpose, step, onboarding.progress):
            raise ApiError(
                409,
                "step_not_open",
                {"step": step, "next_step": next_step(onboarding.purpose, onboarding.progress)},
            )

    async def _step(
        self,
        onboarding: Onboarding,
        step: Step,
        change: Callable[[Onboarding], Awaitable[Progress]],
    ) -> Onboarding:
        """Carry out `step` under the onboarding's row lock, re-checking it may open then."""

        async def checked(current: Onboarding) -> Progress:
            self._open(current, step)
            return await change(current)

        self._open(onboarding, step)
        return await store.update(self.pool, onboarding.id, checked)

    # --- 1. Dinero -------------------------------------------------------------------------

    def redirect_uri(self, base: str) -> str:
        return f"{self.base_url(base)}/portal/dinero/callback"

    async def begin_dinero(
        self,
        onboarding: Onboarding,
        base: str,
        *,
        session_sha256: bytes | None,
        return_url: str | None,
    ) -> str:
        """A fresh state and PKCE verifier (sealed), and the authorize URL to send the
        browser to."""
        self._open(onboarding, "dinero")
        state, verifier = visma.new_state(), visma.new_verifier()
        redirect_uri = self.redirect_uri(base)
        await self.authorizations.begin(
            onboarding.id,
            state,
            verifier,
            redirect_uri,
            session_sha256,
            return_url,
            self.settings.authorization_minutes,
        )
        return visma.authorize_url(
            self.settings.dinero_connect_authorize_url,
            client_id=self.settings.dinero_connect_client_id,
            redirect_uri=redirect_uri,
            scope=self.settings.dinero_connect_scope,
            state=state,
            verifier=verifier,
            login_hint=onboarding.owner_email,
        )

    async def finish_dinero(self, state: str, session_sha256: bytes | None) -> Finished:
        """The poster exchanges the code (with the verifier) and seals the tokens. Only the
        browser session that left for Visma Connect may finish what it started."""
        started = await self.authorizations.peek(state)
        if started is None:
            raise ApiError(400, "unknown_authorization", "start connecting Dinero again")
        if started.session_sha256 is not None and started.session_sha256 != session_sha256:
            raise ApiError(403, "authorization_of_another_session", None)
        taken = await self.authorizations.take(state)
        if taken is None or taken.code is None:
            raise ApiError(400, "authorization_used_or_expired", "start connecting Dinero again")
        onboarding = await self.get(taken.onboarding_id)
        code = taken.code

        async def connect(current: Onboarding) -> Progress:
            await self.backends.exchange_code(
                current.tenant_id, code, taken.redirect_uri, taken.verifier
            )
            progress = current.progress.model_copy(update={"dinero_connected_at": self.clock()})
            if current.purpose == "reconnect":
                progress = await self._resume(current, progress)
            return progress

        done = await self._step(onboarding, "dinero", connect)
        return Finished(done, taken.return_url)

    async def _resume(self, onboarding: Onboarding, progress: Progress) -> Progress:
        """After a reconnect: the consent must reach the organisation the tenant books into;
        then a parked tenant is resumed (`resume_tenant`, carried out by the poster)."""
        tenant = onboarding.tenant_id
        current = await self.backends.current_settings(tenant)
        if current is not None:
            reached = {o.id for o in await self.backends.organisations(tenant)}
            if current.settings.dinero_organization_id not in reached:
                raise ApiError(
                    422,
                    "organisation_not_reached",
                    f"this Dinero login does not reach organisation"
                    f" {current.settings.dinero_organization_id}, which {tenant} books into;"
                    " log in as a user of that organisation",
                )
        connection = await self.backends.dinero_connection(tenant)
        if connection.parked is None:
            return progress.model_copy(update={"resumed": False})
        await self.backends.resume(tenant)
        log.info("tenant %s reconnected and resumed", tenant)
        return progress.model_copy(update={"resumed": True})

    # --- 2. the organisation ---------------------------------------------------------------

    async def organisations(self, onboarding: Onboarding) -> list[OrganisationView]:
        self._open(onboarding, "organisation")
        return await self.backends.organisations(onboarding.tenant_id)

    async def choose_organisation(self, onboarding: Onboarding, organisation_id: int) -> Onboarding:
        async def choose(current: Onboarding) -> Progress:
            orgs = await self.backends.organisations(current.tenant_id)
            found = next((o for o in orgs if o.id == organisation_id), None)
            if found is None:
                raise ApiError(422, "unknown_organization", organisation_id)
            if not found.is_pro:
                raise ApiError(
                    422,
                    "organisation_not_pro",
                    f"{found.name or organisation_id} has no Dinero Pro subscription, and"
                    " Dinero lets integrations like Bogfør book only into Pro organisations."
                    " Upgrade it in Dinero, or choose another organisation.",
                )
            choice = OrganisationChoice(id=found.id, name=found.name, vat_free=found.is_vat_free)
            return with_organisation(current.progress, choice)

        return await self._step(onboarding, "organisation", choose)

    # --- 3. accounts ---------------------------------------------------------------------

    async def chart(self, onboarding: Onboarding, step: Step = "accounts") -> Chart:
        self._open(onboarding, step)
        organisation = onboarding.progress.organisation
        assert organisation is not None  # the step is open
        return await self.backends.chart(onboarding.tenant_id, organisation.id)

    async def choose_accounts(self, onboarding: Onboarding, choice: AccountsChoice) -> Onboarding:
        """Checked by the poster against the chart (every account exists, sales accounts
        carry the VAT code their role needs) before they are kept."""

        async def choose(current: Onboarding) -> Progress:
            progress = current.progress.model_copy(update={"accounts": choice})
            await self.backends.check_settings(
                current.tenant_id, settings_of(progress, self.clock(), deposit=False)
            )
            return progress

        return await self._step(onboarding, "accounts", choose)

    # --- 4. the Stripe deposit account -----------------------------------------------------

    async def create_deposit_account(
        self, onboarding: Onboarding, account: NewDepositAccount
    ) -> Onboarding:
        """Make the account in Dinero (once, however often asked) and choose it."""

        async def create(current: Onboarding) -> Progress:
            organisation = current.progress.organisation
            assert organisation is not None
            made = await self.backends.create_deposit_account(
                current.tenant_id, organisation.id, account
            )
            return await self._with_deposit(current, made.number)

        return await self._step(onboarding, "stripe_account", create)

    async def choose_deposit_account(self, onboarding: Onboarding, number: int) -> Onboarding:
        async def choose(current: Onboarding) -> Progress:
            return await self._with_deposit(current, number)

        return await self._step(onboarding, "stripe_account", choose)

    async def _with_deposit(self, current: Onboarding, number: int) -> Progress:
        progress = current.progress.model_copy(update={"stripe_deposit_account": number})
        await self.backends.check_settings(current.tenant_id, settings_of(progress, self.clock()))
        return progress

    # --- 5. the shop's signing secret -----------------------------------------------------

    async def issue_signing_secret(self, onboarding: Onboarding) -> tuple[Onboarding, str]:
        """A new secret for `Bogfoer-Signature`, stored (sealed) by ingest and shown once
        here; a second one replaces the first."""
        secret = secrets.token_urlsafe(32)

        async def issue(current: Onboarding) -> Progress:
            await self.backends.set_signing_secret(current.tenant_id, secret)
            return current.progress.model_copy(update={"signing_secret_issued_at": self.clock()})

        return await self._step(onboarding, "shop", issue), secret

    async def doors(self, onboarding: Onboarding) -> TenantView:
        """What ingest has for the tenant, and the addresses its shop and Stripe send to."""
        return await self.backends.tenant(onboarding.tenant_id)

    # --- 6. Stripe -------------------------------------------------------------------------

    async def connect_stripe(
        self, onboarding: Onboarding, connection: StripeConnection
    ) -> tuple[Onboarding, StripeConnected]:
        answer: list[StripeConnected] = []

        async def connect(current: Onboarding) -> Progress:
            connected = await self.backends.connect_stripe(current.tenant_id, connection)
            answer.append(connected)
            endpoint = connected.webhook_endpoint
            choice = StripeChoice(
                webhook_url=connected.webhook_url,
                webhook_endpoint_id=endpoint.id if endpoint is not None else None,
            )
            return current.progress.model_copy(update={"stripe": choice})

        return await self._step(onboarding, "stripe", connect), answer[0]

    # --- 7. booking, 8. start ------------------------------------------------------------

    async def choose_booking(self, onboarding: Onboarding, choice: BookingChoice) -> Onboarding:
        async def choose(current: Onboarding) -> Progress:
            return current.progress.model_copy(update={"booking": choice})

        return await self._step(onboarding, "booking", choose)

    async def choose_start(self, onboarding: Onboarding, choice: StartChoice) -> Onboarding:
        today = danish_today(self.clock())
        if choice.mode == "backfill":
            if choice.since is None:
                raise ApiError(422, "backfill_needs_a_date", "say from which day to book")
            if choice.since > today:
                raise ApiError(422, "backfill_in_the_future", str(choice.since))
        else:
            choice = StartChoice(mode="forward", since=None)

        async def choose(current: Onboarding) -> Progress:
            return current.progress.model_copy(update={"start": choice})

        return await self._step(onboarding, "start", choose)

    # --- 9. activate -----------------------------------------------------------------------

    async def activate(self, onboarding: Onboarding) -> Onboarding:
        """Publish the settings (the poster checks them once more against Dinero), then,
        for a backfill, fetch Stripe's history since the first day."""

        async def activate(current: Onboarding) -> Progress:
            if await store.activated(self.pool, current.tenant_id) is not None:
                raise ApiError(409, "tenant_already_onboarded", current.tenant_id)
            now = self.clock()
            settings = settings_of(current.progress, now)
            config = await self.backends.put_settings(current.tenant_id, settings)
            progress = current.progress.model_copy(
                update={
                    "activated_at": now,
                    "settings_version": config.version,
                    "cutover": settings.cutover,
                }
            )
            start = current.progress.start
            if start is not None and start.mode == "backfill" and start.since is not None:
                job = await self.backends.start_backfill(current.tenant_id, start.since)
                progress = progress.model_copy(update={"backfill_id": job.id})
            log.info("tenant %s activated (settings version %s)", current.tenant_id, config.version)
            return progress

        return await self._step(onboarding, "activate", activate)

    async def backfill(self, onboarding: Onboarding) -> Backfill | None:
        backfill_id = onboarding.progress.backfill_id
        if backfill_id is None:
            return None
        return await self.backends.backfill(onboarding.tenant_id, backfill_id)
