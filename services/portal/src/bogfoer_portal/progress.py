"""An onboarding's progress: what has been chosen and done, which step comes next, and the
tenant settings the choices add up to. Pure (no I/O), so every rule here is unit-tested.

The steps, in order:
 1. `dinero`         connect with Visma Connect (consent; tokens sealed in the poster)
 2. `organisation`   the Dinero organisation to book into (Pro only)
 3. `accounts`       sales accounts per kind and zone, fee account, bank account
 4. `stripe_account` the Stripe deposit account ("beholdning"), chosen or made
 5. `shop`           the shop's signing secret, generated and shown once
 6. `stripe`         the Stripe webhook endpoint, registered or pasted
 7. `booking`        draft / booked / booked and e-mailed, and the trigger
 8. `start`          forward only, or backfill from a date
 9. `activate`       the settings published; a backfill started
A `reconnect` onboarding (after a revoked consent) has only `dinero`, then resumes the tenant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field, StrictInt

from bogfoer_contracts.model import ContractModel
from bogfoer_contracts.money import PaymentProvider
from bogfoer_contracts.tenants import BookingMode, SalesAccounts, TenantSettings, Trigger
from bogfoer_contracts.times import Day
from bogfoer_rules.accounts import ROLE_VAT_CODES, vat_code_mismatches

DANISH = ZoneInfo("Europe/Copenhagen")
Purpose = Literal["onboard", "reconnect"]
Step = Literal[
    "dinero",
    "organisation",
    "accounts",
    "stripe_account",
    "shop",
    "stripe",
    "booking",
    "start",
    "activate",
]
STEPS: tuple[Step, ...] = get_args(Step)
TITLES: dict[Step, str] = {
    "dinero": "Connect Dinero",
    "organisation": "Choose the organisation",
    "accounts": "Choose accounts",
    "stripe_account": "Stripe account in Dinero",
    "shop": "Your shop's signing secret",
    "stripe": "Connect Stripe",
    "booking": "How invoices are made",
    "start": "Where to start",
    "activate": "Activate",
}
# What each sales account is for, in a shop owner's words.
ROLE_TEXT: dict[str, str] = {
    "goods_domestic": "Goods sold in Denmark, and to consumers in other EU countries",
    "shipping_domestic": "Shipping charged in Denmark and to EU consumers",
    "services_domestic": "Services sold in Denmark and to EU consumers",
    "goods_eu_b2b": "Goods sold to businesses in other EU countries (reverse charge)",
    "shipping_eu_b2b": "Shipping on sales to businesses in other EU countries",
    "services_eu_b2b": "Services sold to businesses in other EU countries",
    "goods_non_eu": "Goods sold outside the EU (Norway, Greenland, the Canary Islands …)",
    "shipping_non_eu": "Shipping on sales outside the EU",
    "services_non_eu": "Services sold outside the EU",
    "without_vat": "Sales without VAT (the shop is not VAT-registered)",
    "gift_cards": "Gift cards sold (owed to the customer until used; no VAT)",
}
# A VAT-exempt organisation books every sale without VAT; the zone accounts are never used.
EXEMPT_ROLES = ("without_vat", "gift_cards")
TAXED_ROLES = tuple(r for r in ROLE_TEXT if r != "without_vat")


class _Model(ContractModel):
    """What a step takes: unknown fields refused, no text that cannot be stored."""


class OrganisationChoice(_Model):
    id: StrictInt
    name: str | None = None
    vat_free: bool = False


class AccountsChoice(_Model):
    accounts: SalesAccounts
    fee_account: StrictInt
    bank_account: StrictInt


class StripeChoice(_Model):
    webhook_url: str
    webhook_endpoint_id: str | None = Field(
        default=None, description="Registered through Stripe's API; null when pasted"
    )


class BookingChoice(_Model):
    booking_mode: BookingMode
    trigger: Trigger


class StartChoice(_Model):
    mode: Literal["forward", "backfill"]
    since: Day | None = Field(default=None, description="The first day booked (backfill)")


class Progress(_Model):
    dinero_connected_at: AwareDatetime | None = None
    organisation: OrganisationChoice | None = None
    accounts: AccountsChoice | None = None
    stripe_deposit_account: StrictInt | None = None
    signing_secret_issued_at: AwareDatetime | None = None
    stripe: StripeChoice | None = None
    booking: BookingChoice | None = None
    start: StartChoice | None = None
    activated_at: AwareDatetime | None = None
    settings_version: StrictInt | None = None
    cutover: dt.date | None = None
    backfill_id: str | None = None
    resumed: bool | None = Field(
        default=None, description="reconnect: whether the tenant was parked and is resumed"
    )


def steps_of(purpose: Purpose) -> tuple[Step, ...]:
    return ("dinero",) if purpose == "reconnect" else STEPS


# The field of `Progress` each step fills in when it is done.
_DONE_BY: dict[Step, str] = {
    "dinero": "dinero_connected_at",
    "organisation": "organisation",
    "accounts": "accounts",
    "stripe_account": "stripe_deposit_account",
    "shop": "signing_secret_issued_at",
    "stripe": "stripe",
    "booking": "booking",
    "start": "start",
    "activate": "activated_at",
}


def is_done(step: Step, progress: Progress) -> bool:
    return getattr(progress, _DONE_BY[step]) is not None


def next_step(purpose: Purpose, progress: Progress) -> Step | None:
    """The first step not done yet; None when everything is."""
    return next((s for s in steps_of(purpose) if not is_done(s, progress)), None)


def may_open(purpose: Purpose, step: Step, progress: Progress) -> bool:
    """A step opens once every step before it is done; nothing changes after activation
    (a change of settings then is an operator's, or a new onboarding's)."""
    order = steps_of(purpose)
    if step not in order or progress.activated_at is not None:
        return False
    return all(is_done(s, progress) for s in order[: order.index(step)])


def with_organisation(progress: Progress, choice: OrganisationChoice) -> Progress:
    """Another organisation has another chart: the accounts chosen for the old one go."""
    if progress.organisation is not None and progress.organisation.id == choice.id:
        return progress.model_copy(update={"organisation": choice})
    return progress.model_copy(
        update={"organisation": choice, "accounts": None, "stripe_deposit_account": None}
    )


def roles_for(organisation: OrganisationChoice) -> tuple[str, ...]:
    return EXEMPT_ROLES if organisation.vat_free else TAXED_ROLES


def vat_warnings(
    accounts: SalesAccounts, vat_exempt_seller: bool, chart: dict[int, str | None]
) -> dict[str, str]:
    """Role -> why its chosen account's VAT code contradicts it, in words; the poster
    refuses such settings, so the pages warn as soon as the account is chosen."""
    warnings: dict[str, str] = {}
    for role, (number, code, wanted) in vat_code_mismatches(
        accounts, vat_exempt_seller, chart
    ).items():
        has = "no VAT" if code == "none" else f"VAT code {code}"
        needs = " or ".join(sorted(c if c != "none" else "no VAT" for c in wanted))
        warnings[role] = (
            f"Account {number} has {has} in Dinero, but “{ROLE_TEXT[role]}” needs {needs}:"
            " Dinero would book another VAT than your shop charged."
        )
    return warnings


def vat_code_needed(role: str) -> str:
    return " or ".join(sorted(c if c != "none" else "no VAT" for c in ROLE_VAT_CODES[role]))


@dataclass(frozen=True)
class RoleRow:
    """One sales account to choose: what it is for, the VAT code it needs, the account
    chosen (or the default), and why that account does not fit, if it does not."""

    role: str
    text: str
    needs: str
    account: int
    warning: str | None


def role_rows(
    organisation: OrganisationChoice, accounts: SalesAccounts, chart: dict[int, str | None]
) -> list[RoleRow]:
    warnings = vat_warnings(accounts, organisation.vat_free, chart)
    return [
        RoleRow(
            role=role,
            text=ROLE_TEXT[role],
            needs=vat_code_needed(role),
            account=getattr(accounts, role),
            warning=warnings.get(role),
        )
        for role in roles_for(organisation)
    ]


def danish_today(now: dt.datetime) -> dt.date:
    return now.astimezone(DANISH).date()


def settings_of(
    progress: Progress,
    now: dt.datetime,
    *,
    deposit: bool = True,
    active: bool = True,
) -> TenantSettings:
    """The tenant settings the choices add up to. The cutover is the backfill's first day,
    or today (Danish date) for forward only. Without `deposit` (before the Stripe account is
    chosen), no deposit account is named, so the accounts can be checked on their own."""
    organisation, accounts = progress.organisation, progress.accounts
    if organisation is None or accounts is None:
        raise ValueError("the organisation and the accounts are chosen first")
    booking = progress.booking or BookingChoice(booking_mode="booked", trigger="order_paid")
    start = progress.start
    cutover = (
        start.since
        if start is not None and start.mode == "backfill" and start.since is not None
        else danish_today(now)
    )
    deposits: dict[PaymentProvider, int] = (
        {"stripe": progress.stripe_deposit_account}
        if deposit and progress.stripe_deposit_account is not None
        else {}
    )
    return TenantSettings(
        dinero_organization_id=organisation.id,
        booking_mode=booking.booking_mode,
        trigger=booking.trigger,
        cutover=cutover,
        accounts=accounts.accounts,
        deposit_accounts=deposits,
        fee_account=accounts.fee_account,
        bank_account=accounts.bank_account,
        vat_exempt_seller=organisation.vat_free,
        active=active,
    )
