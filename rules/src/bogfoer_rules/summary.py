"""Daily summaries: one day's sales, refunds, payments and fees as a handful of documents.

A tenant in `daily_summary` mode has its sales mapped exactly as per order (so the ledger
keeps every sale, its amount and its events), but each invoice, credit note and payment —
and every fee of a provider without a payout feed, whatever the mode — is a *member*
(`summary=True`): the poster does not post it on its own, it gathers the members by day and,
once the day is over, hands them to `summarise`, which makes the day's documents:

- one invoice per contact (the collective contact), a line per account and VAT rate carrying
  the day's sales incl. VAT;
- one credit note per invoice it credits (a sale's summary invoice, usually an earlier day's),
  a line per account and VAT rate;
- one payment per (invoice, deposit account, direction): the day's captures on an invoice,
  and the day's refunds paid back from it;
- one fee voucher, a line per fee (each naming its payment and balance transaction).

Dinero computes VAT per line, rounded, and so did the per-order documents: the VAT of a day's
total is not the sum of its sales' VAT (49,99 kr has 10,00 kr VAT; 1,000 of them 9,998 kr).
A few "Momsudligning" lines of a few øre on the same account make the summary's VAT the sum
of the sales' VAT to the øre (each line's rounding moves the VAT by up to 0.4 øre), so a
summary month books the same trial balance as the same month per order. Where that would
take more than `CORRECTION_LINES` lines, the summary books Dinero's VAT on the day's total
and names the difference (`SummaryDocument.residual_vat`).

Pure and deterministic: the same members give the same documents and the same keys, so a
day that is closed again books nothing twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from bogfoer_contracts.ids import posting_key
from bogfoer_contracts.postings import (
    CreateCreditNote,
    CreateInvoice,
    CreateVoucher,
    InvoiceLineSpec,
    PostingCommand,
    RegisterPayment,
)
from bogfoer_rules.totals import vat_of

# The most correction lines per account a summary carries to match the sales' VAT.
CORRECTION_LINES = 24
_CORRECTION_AMOUNTS = range(1, 21)  # øre: small enough to read as rounding
CORRECTION_DESCRIPTION = "Momsudligning"


@dataclass(frozen=True)
class SummaryDocument:
    """One document of a day and the members it books."""

    command: PostingCommand
    members: tuple[str, ...]
    residual_vat: int = 0  # øre of the sales' VAT the lines could not reproduce


@dataclass(frozen=True)
class DaySummary:
    documents: list[SummaryDocument] = field(default_factory=list)
    # Members that must wait for a later day: what they depend on is not summarised yet.
    deferred: list[str] = field(default_factory=list)


def _short(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


# --- VAT-exact lines ---------------------------------------------------------------------------


def split_for_vat(gross: int, vat: int, rate: int) -> tuple[list[int], int]:
    """Gross amounts of lines (incl. VAT, at `rate`) that sum to `gross` and whose VAT, as
    Dinero rounds it per line, sums to `vat`; and the residual VAT they miss (0 when exact).

    The first line carries the amount; the others are correction lines of a few øre, each
    moving the VAT by its own rounding (at most half an øre): steps towards the target by
    the amount whose rounding moves it most, finished by the one or two amounts that land
    on it exactly. Within `CORRECTION_LINES`; beyond, the closest found.
    """

    def vat_on(amount: int) -> int:
        return vat_of(amount, rate, incl_vat=True)

    def error(amount: int) -> float:
        return vat_on(amount) - amount * rate / (10_000 + rate)

    missed = vat - vat_on(gross)
    if rate == 0 or missed == 0:
        return [gross], missed
    up = max(_CORRECTION_AMOUNTS, key=error)
    down = min(_CORRECTION_AMOUNTS, key=error)
    finishes = [(a,) for a in _CORRECTION_AMOUNTS] + [
        (a, b) for a in _CORRECTION_AMOUNTS for b in _CORRECTION_AMOUNTS if a <= b
    ]
    best, best_missed = [gross], missed
    steps: list[int] = []
    while len(steps) + 2 <= CORRECTION_LINES:
        for finish in finishes:
            corrections = [*steps, *finish]
            reached = vat_on(gross - sum(corrections)) + sum(vat_on(c) for c in corrections)
            if abs(vat - reached) < abs(best_missed):
                best, best_missed = [gross - sum(corrections), *corrections], vat - reached
                if reached == vat:
                    return best, 0
        reached = vat_on(gross - sum(steps)) + sum(vat_on(c) for c in steps)
        steps.append(up if vat > reached else down)
    return best, best_missed


@dataclass
class _Account:
    gross: int = 0
    vat: int = 0


def _line_amounts(
    lines: Sequence[InvoiceLineSpec], incl_vat: bool, key: str
) -> list[tuple[int, int, int, int]]:
    """(account, rate, gross, VAT) per line, as Dinero computes it on the member's document."""
    out = []
    for line in lines:
        if line.vat_rate is None:
            raise ValueError(f"{key}: a summary member's lines must carry their VAT rate")
        amount = line.quantity * line.unit_price
        line_vat = vat_of(amount, line.vat_rate, incl_vat=incl_vat)
        gross = amount if incl_vat else amount + line_vat
        out.append((line.account_number, line.vat_rate, gross, line_vat))
    return out


def _summed_lines(
    members: Sequence[CreateInvoice | CreateCreditNote], title: str
) -> tuple[list[InvoiceLineSpec], int]:
    """The members' lines summed per account and rate (incl. VAT), VAT-exact; the residual."""
    accounts: dict[tuple[int, int], _Account] = defaultdict(_Account)
    for member in members:
        for account, rate, gross, vat in _line_amounts(
            member.lines, member.show_lines_incl_vat, member.posting_key
        ):
            accounts[(account, rate)].gross += gross
            accounts[(account, rate)].vat += vat
    lines: list[InvoiceLineSpec] = []
    residual = 0
    for (account, rate), total in sorted(accounts.items()):
        if total.gross == 0 and total.vat == 0:
            continue
        amounts, missed = split_for_vat(total.gross, total.vat, rate)
        residual += missed
        for index, amount in enumerate(amounts):
            lines.append(
                InvoiceLineSpec(
                    description=f"{title}, konto {account}"
                    if index == 0
                    else f"{CORRECTION_DESCRIPTION}, konto {account}",
                    quantity=1,
                    unit_price=amount,
                    account_number=account,
                    vat_rate=rate,
                )
            )
    if not lines:  # every sale of the day cancelled out: one zero line keeps it a document
        account, rate = min(accounts)
        lines.append(
            InvoiceLineSpec(
                description=title, quantity=1, unit_price=0, account_number=account, vat_rate=rate
            )
        )
    return lines, residual


def _vat(lines: Sequence[InvoiceLineSpec]) -> int:
    return sum(
        vat_of(line.quantity * line.unit_price, line.vat_rate or 0, incl_vat=True) for line in lines
    )


def _booking(members: Sequence[CreateInvoice | CreateCreditNote]) -> str:
    # Settings changed within a day: a draft is the careful choice (a person books it).
    return "draft" if any(m.booking == "draft" for m in members) else "booked"


def _titles(members: Sequence[CreateInvoice | CreateCreditNote]) -> str:
    first, last = members[0].description, members[-1].description
    span = first if len(members) == 1 else f"{first} … {last}"
    return f"{len(members)} salg ({span}); hvert salg står i Bogførs ledger"


# --- the day -----------------------------------------------------------------------------------


class _Close:
    """The documents of one close, built member by member."""

    def __init__(
        self,
        tenant_id: str,
        organization_id: int,
        day: dt.date,
        earlier: Mapping[str, str],
        scope: tuple[str, ...],
    ) -> None:
        self.tenant = tenant_id
        self.org = organization_id
        self.day = day
        self.scope = scope
        self.where: dict[str, str] = dict(earlier)  # member key -> its summary key

    def key(self, kind: str, *parts: str) -> str:
        return posting_key(self.tenant, kind, self.day.isoformat(), *self.scope, *parts)

    def depends(self, members: Sequence[PostingCommand], own: str) -> list[str]:
        """What the members depend on, as summaries (or as the postings themselves)."""
        keys = {self.where.get(dep, dep) for m in members for dep in m.depends_on}
        keys.discard(own)
        return sorted(keys)

    def take(self, members: Sequence[PostingCommand], key: str, on: str | None = None) -> _Envelope:
        """`members` are summarised under `key` from now on; the summary's envelope (it
        depends on what they depend on, and on `on`: the invoice it pays or credits)."""
        for member in members:
            self.where[member.posting_key] = key
        depends = self.depends(members, key)
        return _Envelope(
            posting_key=key,
            tenant_id=self.tenant,
            organization_id=self.org,
            depends_on=depends if on is None else sorted({on, *depends}),
            issued_at=max(m.issued_at for m in members),
        )


class _Envelope(TypedDict):
    posting_key: str
    tenant_id: str
    organization_id: int
    depends_on: list[str]
    issued_at: dt.datetime


def _ready(
    members: Sequence[PostingCommand], not_ready: Collection[str]
) -> tuple[list[PostingCommand], list[str]]:
    """Members whose dependencies are summarised or posted (or in this close)."""
    waiting = set(not_ready)
    ready = list(members)
    while True:
        blocked = [
            m
            for m in ready
            if any(dep in waiting for dep in m.depends_on)
            or (isinstance(m, RegisterPayment | CreateCreditNote) and m.invoice_key in waiting)
        ]
        if not blocked:
            return ready, [m.posting_key for m in members if m not in ready]
        waiting |= {m.posting_key for m in blocked}
        ready = [m for m in ready if m.posting_key not in waiting]


def summarise(
    tenant_id: str,
    organization_id: int,
    day: dt.date,
    members: Sequence[PostingCommand],
    *,
    earlier: Mapping[str, str],
    not_ready: Collection[str],
    scope: tuple[str, ...] = (),
) -> DaySummary:
    """The documents of `day` for `members` (in arrival order).

    `earlier`: members summarised before, and the summary that carries each. `not_ready`:
    members known but not in this close (a later day's); a member depending on one of them
    waits (`deferred`) for the close that takes them. A dependency in neither is a posting
    of its own (the contact, or an invoice booked per order before the tenant changed mode)
    and is depended on as it is. `scope`: extra key parts, when one tenant's day is
    summarised in more than one organisation.
    """
    ready, deferred = _ready(members, not_ready)
    close = _Close(tenant_id, organization_id, day, earlier, scope)
    documents: list[SummaryDocument] = []
    invoices = [m for m in ready if isinstance(m, CreateInvoice)]
    credit_notes = [m for m in ready if isinstance(m, CreateCreditNote)]
    payments = [m for m in ready if isinstance(m, RegisterPayment)]
    fees = [m for m in ready if isinstance(m, CreateVoucher)]
    if len(invoices) + len(credit_notes) + len(payments) + len(fees) != len(ready):
        odd = sorted({m.kind for m in ready} - {"invoice", "credit_note", "payment", "voucher"})
        raise ValueError(f"{', '.join(odd)} cannot be part of a summary")
    documents += _invoices(close, invoices)
    documents += _credit_notes(close, credit_notes)
    documents += _payments(close, payments)
    if fees:
        documents.append(_fees(close, fees))
    return DaySummary(documents, deferred)


def _invoices(close: _Close, members: Sequence[CreateInvoice]) -> list[SummaryDocument]:
    by_contact: dict[str, list[CreateInvoice]] = defaultdict(list)
    for member in members:
        by_contact[member.contact_key].append(member)
    out = []
    for index, contact in enumerate(sorted(by_contact)):
        group = by_contact[contact]
        key = close.key("summary_invoice", *(() if len(by_contact) == 1 else (str(index),)))
        envelope = close.take(group, key)
        lines, residual = _summed_lines(group, f"Salg {close.day:%d.%m.%Y}")
        first = group[0]
        command = CreateInvoice(
            **envelope,
            contact_key=contact,
            date=close.day,
            currency=first.currency,
            description=f"Dagens salg {close.day:%d.%m.%Y}",
            comment=_titles(group),
            lines=lines,
            show_lines_incl_vat=True,
            expected_total=sum(m.expected_total for m in group),
            expected_vat=_vat(lines),
            booking="draft" if _booking(group) == "draft" else "booked",
            invoice_template_id=first.invoice_template_id,
            payment_condition_type=first.payment_condition_type,
            payment_condition_days=first.payment_condition_days,
        )
        out.append(SummaryDocument(command, tuple(m.posting_key for m in group), residual))
    return out


def _credit_notes(close: _Close, members: Sequence[CreateCreditNote]) -> list[SummaryDocument]:
    by_invoice: dict[str, list[CreateCreditNote]] = defaultdict(list)
    for member in members:
        by_invoice[close.where.get(member.invoice_key, member.invoice_key)].append(member)
    out = []
    for target in sorted(by_invoice):
        group = by_invoice[target]
        key = close.key("summary_credit", "for", _short(target))
        envelope = close.take(group, key, on=target)
        lines, residual = _summed_lines(group, f"Refusioner {close.day:%d.%m.%Y}")
        command = CreateCreditNote(
            **envelope,
            invoice_key=target,
            contact_key=group[0].contact_key,
            date=close.day,
            currency=group[0].currency,
            description=f"Dagens refusioner {close.day:%d.%m.%Y}",
            lines=lines,
            show_lines_incl_vat=True,
            expected_total=sum(m.expected_total for m in group),
            expected_vat=_vat(lines),
            booking="draft" if _booking(group) == "draft" else "booked",
        )
        out.append(SummaryDocument(command, tuple(m.posting_key for m in group), residual))
    return out


def _payments(close: _Close, members: Sequence[RegisterPayment]) -> list[SummaryDocument]:
    groups: dict[tuple[str, int, bool], list[RegisterPayment]] = defaultdict(list)
    for member in members:
        target = close.where.get(member.invoice_key, member.invoice_key)
        groups[(target, member.deposit_account, member.amount < 0)].append(member)
    out = []
    for target, deposit, back in sorted(groups):
        group = groups[(target, deposit, back)]
        direction = "out" if back else "in"
        key = close.key("summary_payment", _short(target), str(deposit), direction)
        what = "refusioner" if back else "betalinger"
        command = RegisterPayment(
            **close.take(group, key, on=target),
            invoice_key=target,
            amount=sum(m.amount for m in group),
            currency=group[0].currency,
            deposit_account=deposit,
            payment_date=close.day,
            description=f"{len(group)} {what} {close.day:%d.%m.%Y}",
        )
        out.append(SummaryDocument(command, tuple(m.posting_key for m in group)))
    return out


def _fees(close: _Close, members: Sequence[CreateVoucher]) -> SummaryDocument:
    command = CreateVoucher(
        **close.take(members, close.key("summary_fees")),
        purpose="fee",
        date=close.day,
        lines=[line for member in members for line in member.lines],
    )
    return SummaryDocument(command, tuple(m.posting_key for m in members))
