"""Pure invoice and credit-note arithmetic: per-line VAT from each account's VAT code."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from dinero_sandbox.money import round_to_ore, vat_from_gross, vat_from_net
from dinero_sandbox.state import Document, Line, Organization, VatType

DEFAULT_PAYMENT_DAYS = 8
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class LineAmounts:
    net_ore: int
    vat_ore: int
    gross_ore: int
    vat_type: VatType | None

    @property
    def rate(self) -> Decimal:
        return self.vat_type.rate if self.vat_type is not None else Decimal(0)


@dataclass(frozen=True)
class Totals:
    lines: list[LineAmounts]
    net_ore: int
    vat_ore: int
    gross_ore: int
    vatable_ore: int
    non_vatable_ore: int


def line_vat_type(line: Line, org: Organization) -> VatType | None:
    """VAT follows the line's account; a VAT-free organisation charges none [unverified]."""
    if org.is_vat_free or line.account_number is None:
        return None
    account = org.accounts.get(line.account_number)
    if account is None:
        return None
    return org.vat_type(account.vat_code)


def line_amounts(line: Line, org: Organization, incl_vat: bool) -> LineAmounts:
    """Quantity x unit price less the percentage discount, rounded per line to whole øre."""
    if line.line_type.lower() == "text":
        return LineAmounts(0, 0, 0, None)
    vat = line_vat_type(line, org)
    rate = vat.rate if vat is not None else Decimal(0)
    amount = round_to_ore(line.quantity * line.base_amount * (_HUNDRED - line.discount) / _HUNDRED)
    if incl_vat:
        vat_ore = vat_from_gross(amount, rate)
        return LineAmounts(amount - vat_ore, vat_ore, amount, vat)
    vat_ore = vat_from_net(amount, rate)
    return LineAmounts(amount, vat_ore, amount + vat_ore, vat)


def totals(doc: Document, org: Organization) -> Totals:
    amounts = [line_amounts(line, org, doc.show_lines_incl_vat) for line in doc.lines]
    return Totals(
        lines=amounts,
        net_ore=sum(a.net_ore for a in amounts),
        vat_ore=sum(a.vat_ore for a in amounts),
        gross_ore=sum(a.gross_ore for a in amounts),
        vatable_ore=sum(a.net_ore for a in amounts if a.rate > 0),
        non_vatable_ore=sum(a.net_ore for a in amounts if a.rate == 0),
    )


def unit_price_incl_vat(line: Line, amounts: LineAmounts, incl_vat: bool) -> Decimal:
    if incl_vat:
        return line.base_amount
    return (line.base_amount * (1 + amounts.rate)).quantize(Decimal("0.01"))


def due_date(doc: Document) -> date:
    """Dinero's PaymentDate: the due date from the payment condition."""
    kind = doc.payment_condition_type or "Netto"
    days = doc.payment_condition_days
    if kind in ("NettoCash", "Paid"):
        return doc.date
    if kind == "CurrentMonthOut":
        last = calendar.monthrange(doc.date.year, doc.date.month)[1]
        return doc.date.replace(day=last) + timedelta(days=days or 0)
    return doc.date + timedelta(days=DEFAULT_PAYMENT_DAYS if days is None else days)


def credited_ore(invoice: Document, org: Organization) -> int:
    """Booked credit notes issued for this invoice settle it like payments [unverified]."""
    return sum(
        totals(note, org).gross_ore
        for note in org.documents.values()
        if note.kind == "creditnote"
        and note.status == "Booked"
        and note.deleted_at is None
        and note.credit_note_for == invoice.guid
    )


def paid_ore(invoice: Document) -> int:
    return sum(p.amount_ore + p.fee_ore for p in invoice.payments)


def remaining_ore(invoice: Document, org: Organization) -> int:
    return totals(invoice, org).gross_ore - paid_ore(invoice) - credited_ore(invoice, org)


def payment_status(doc: Document, org: Organization, today: date) -> str:
    if doc.status == "Draft":
        return "Draft"
    if doc.kind == "creditnote":
        return "Booked"
    remaining = remaining_ore(doc, org)
    if remaining == 0:
        return "Paid"
    if remaining < 0:
        return "OverPaid"
    if due_date(doc) < today:
        return "Overdue"
    return "Booked"
