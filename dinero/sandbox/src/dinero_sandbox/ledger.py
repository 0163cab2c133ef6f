"""The ledger each booked document implies, and a trial balance over it (debit positive)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from dinero_sandbox.documents import totals
from dinero_sandbox.money import vat_from_gross
from dinero_sandbox.seed import DEBTORS_ACCOUNT, FEE_ACCOUNT
from dinero_sandbox.state import Document, Organization, Voucher


@dataclass(frozen=True)
class Posting:
    account: int
    amount_ore: int  # debit positive, credit negative
    date: date
    source: str  # e.g. "invoice 3", "payment <guid>", "voucher 2"


def _document_postings(doc: Document, org: Organization) -> list[Posting]:
    """Invoice: Dr 53000 gross / Cr revenue net / Cr VAT account. A credit note reverses it."""
    sign = 1 if doc.kind == "invoice" else -1
    source = f"{doc.kind} {doc.number}"
    total = totals(doc, org)
    postings = [Posting(DEBTORS_ACCOUNT, sign * total.gross_ore, doc.date, source)]
    for line, amounts in zip(doc.lines, total.lines, strict=True):
        if line.account_number is None or amounts.gross_ore == 0:
            continue
        postings.append(Posting(line.account_number, -sign * amounts.net_ore, doc.date, source))
        if amounts.vat_ore and amounts.vat_type and amounts.vat_type.vat_account is not None:
            postings.append(
                Posting(amounts.vat_type.vat_account, -sign * amounts.vat_ore, doc.date, source)
            )
    if doc.kind == "invoice":
        for payment in doc.payments:
            ref = f"payment {payment.guid}"
            postings.append(
                Posting(payment.deposit_account, payment.amount_ore, payment.payment_date, ref)
            )
            postings.append(
                Posting(DEBTORS_ACCOUNT, -payment.amount_ore, payment.payment_date, ref)
            )
            if payment.fee_ore:
                postings.append(Posting(FEE_ACCOUNT, payment.fee_ore, payment.payment_date, ref))
                postings.append(
                    Posting(DEBTORS_ACCOUNT, -payment.fee_ore, payment.payment_date, ref)
                )
    return postings


def _side(
    org: Organization, account: int, code: str | None, amount: int, when: date, source: str
) -> list[Posting]:
    """One side of a voucher line; a VAT-bearing code splits the VAT-inclusive amount."""
    resolved = org.accounts[account].vat_code if code is None else code
    vat = org.vat_type(resolved)
    if vat is None or vat.rate == 0 or vat.vat_account is None or org.is_vat_free:
        return [Posting(account, amount, when, source)]
    vat_ore = vat_from_gross(amount, vat.rate)
    return [
        Posting(account, amount - vat_ore, when, source),
        Posting(vat.vat_account, vat_ore, when, source),
    ]


def _voucher_postings(voucher: Voucher, org: Organization) -> list[Posting]:
    """A positive Amount debits AccountNumber and credits BalancingAccountNumber (§7)."""
    source = f"voucher {voucher.number}"
    postings: list[Posting] = []
    for line in voucher.lines:
        postings += _side(
            org,
            line.account_number,
            line.account_vat_code,
            line.amount_ore,
            voucher.voucher_date,
            source,
        )
        if line.balancing_account_number is not None:
            postings += _side(
                org,
                line.balancing_account_number,
                line.balancing_account_vat_code,
                -line.amount_ore,
                voucher.voucher_date,
                source,
            )
    return postings


def journal(org: Organization) -> list[Posting]:
    postings: list[Posting] = []
    for doc in sorted(org.documents.values(), key=lambda d: d.seq):
        if doc.status == "Booked" and doc.deleted_at is None:
            postings += _document_postings(doc, org)
    for voucher in sorted(org.vouchers.values(), key=lambda v: v.seq):
        if voucher.status == "Booked" and voucher.deleted_at is None:
            postings += _voucher_postings(voucher, org)
    return postings


def trial_balance(org: Organization) -> dict[int, int]:
    """Each touched account's balance in øre, debit positive; the values sum to zero."""
    balances: dict[int, int] = defaultdict(int)
    for posting in journal(org):
        balances[posting.account] += posting.amount_ore
    return dict(sorted(balances.items()))


__all__ = ["Posting", "journal", "trial_balance"]
