"""A tenant's settings checked against its Dinero organisation before they are published.

Every account the settings name must exist in the organisation's chart (deposit accounts as
deposit accounts), every sales account must carry the VAT code its role needs, and the
template must exist. A refusal names each field, the account, and what to do — including
fields the caller never sent, whose defaults did not fit this organisation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from pydantic import BaseModel

from bogfoer_contracts.tenants import TenantSettings
from bogfoer_dinero import DineroClient, DineroError, RetryLater, TenantParked, UnknownOutcome
from bogfoer_dinero.models import Organisation
from bogfoer_kit.errors import ApiError
from bogfoer_rules.accounts import vat_code_mismatches


class AccountProblem(BaseModel):
    field: str
    account: int
    defaulted: bool
    message: str


def _defaulted(settings: TenantSettings, field: str) -> bool:
    """Whether the caller left `field` (e.g. `accounts.goods_domestic`) to its default."""
    head, _, rest = field.partition(".")
    if head not in settings.model_fields_set:
        return True
    if head == "accounts" and rest:
        return rest not in settings.accounts.model_fields_set
    return False


def _problem(settings: TenantSettings, field: str, account: int, what: str) -> AccountProblem:
    defaulted = _defaulted(settings, field)
    head = field.partition(".")[0]
    if defaulted:
        what = (
            f"{head} was not sent, and its default names account {account}, which {what}; "
            f"send {head} with an account of the organisation's chart"
        )
    else:
        what = f"account {account} {what}"
    return AccountProblem(field=field, account=account, defaulted=defaulted, message=what)


def account_problems(
    settings: TenantSettings, entry: dict[int, str | None], deposit: set[int]
) -> tuple[list[AccountProblem], list[AccountProblem]]:
    """(unknown accounts, VAT codes contradicting their roles) — pure, for the tests."""
    org = settings.dinero_organization_id
    unknown: list[AccountProblem] = []
    wanted_entry = {
        "accounts." + name: number for name, number in settings.accounts.model_dump().items()
    } | {"fee_account": settings.fee_account, "debtor_account": settings.debtor_account}
    for field, number in wanted_entry.items():
        if number not in entry and number not in deposit:
            unknown.append(_problem(settings, field, number, f"is not in organisation {org}"))
    wanted_deposit = {
        f"deposit_accounts.{provider}": n for provider, n in settings.deposit_accounts.items()
    } | {"bank_account": settings.bank_account}
    for field, number in wanted_deposit.items():
        if number not in deposit:
            unknown.append(
                _problem(
                    settings,
                    field,
                    number,
                    f"is not a deposit account in organisation {org}"
                    " (create it in Dinero under Bank, or choose one it has)",
                )
            )
    mismatched = [
        _problem(
            settings,
            f"accounts.{role}",
            number,
            f"has VAT code {code} in Dinero, but {role.replace('_', ' ')} needs "
            f"{' or '.join(sorted(wanted))}; Dinero would book another VAT than the shop charged",
        )
        for role, (number, code, wanted) in vat_code_mismatches(
            settings.accounts, settings.vat_exempt_seller, entry
        ).items()
    ]
    return unknown, mismatched


def _detail(problems: list[AccountProblem]) -> list[dict[str, Any]]:
    return [p.model_dump() for p in problems]


@contextmanager
def dinero_errors() -> Iterator[None]:
    """Dinero's failures as the admin API answers them."""
    try:
        yield
    except TenantParked as exc:
        raise ApiError(409, "dinero_not_connected", str(exc)) from exc
    except (RetryLater, UnknownOutcome) as exc:
        raise ApiError(503, "dinero_unavailable", str(exc)) from exc
    except DineroError as exc:
        raise ApiError(502, "dinero_error", str(exc)) from exc


@asynccontextmanager
async def within(seconds: float, retry_after: int) -> AsyncIterator[None]:
    """An admin call's Dinero reads, in a bounded time: the organisation's rate limit is
    shared with its postings, and a person waiting on a page should hear 503 with
    Retry-After rather than wait out the window."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise ApiError(
            503,
            "dinero_busy",
            "Dinero's rate limit for this organisation is used up by postings; try again",
            headers={"Retry-After": str(retry_after)},
        ) from exc


def pro_organisation(orgs: list[Organisation], organization_id: int) -> Organisation:
    """The organisation, if the tenant's Dinero reaches it and it has Dinero Pro (without
    Pro, Dinero refuses every integration's call)."""
    found = next((o for o in orgs if o.id == organization_id), None)
    if found is None:
        raise ApiError(422, "unknown_organization", organization_id)
    if found.is_pro is False:
        raise ApiError(
            422,
            "organisation_not_pro",
            f"{found.name or organization_id} has no Dinero Pro subscription; Dinero lets"
            " integrations like Bogfør book only into Pro organisations. Upgrade it in Dinero,"
            " or choose another organisation.",
        )
    return found


async def check_settings(dinero: DineroClient, tenant: str, settings: TenantSettings) -> None:
    """Refuse settings that name accounts, a template or an organisation Dinero lacks, an
    organisation without Pro, or sales accounts whose VAT code contradicts their role."""
    with dinero_errors():
        pro_organisation(await dinero.organisations(tenant), settings.dinero_organization_id)
        org = dinero.organisation(tenant, settings.dinero_organization_id)
        entry = {a.account_number: a.vat_code for a in await org.entry_accounts()}
        deposit = {a.account_number for a in await org.deposit_accounts()}
        templates = {t.id for t in await org.invoice_templates()}
    unknown, mismatched = account_problems(settings, entry, deposit)
    if unknown:
        raise ApiError(422, "unknown_accounts", _detail(unknown))
    if mismatched:
        raise ApiError(422, "account_vat_mismatch", _detail(mismatched))
    if settings.invoice_template_id and settings.invoice_template_id not in templates:
        raise ApiError(422, "unknown_invoice_template", settings.invoice_template_id)
