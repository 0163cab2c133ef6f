"""What Dinero holds for a tenant's organisation in a date range, read through list endpoints.

Invoices and credit notes come a thousand a page with the fields the comparison needs
(`fields=…,ProductLines`: totals, VAT, status, contact and each line's account and amount),
vouchers likewise; only our own documents (ExternalReference `bogfoer:<tenant>:…`) are kept.
Payments have no list across invoices: an invoice's payments are read (one call) only where
its `PaymentStatus` contradicts the payments the rules expect (`payments_of`). Every call
goes through the rate limit the reconciler shares with the poster; `calls` counts them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from bogfoer_dinero import OrganisationClient
from bogfoer_dinero.models import CreditNote, Invoice, ManualVoucher, Payment

DocumentKind = Literal["invoice", "credit_note", "voucher", "payment"]
LIST_FIELDS = (
    "Guid,Number,ExternalReference,Status,PaymentStatus,TotalInclVat,TotalExclVat,TotalVat,"
    "TimeStamp,Date,ContactGuid,ShowLinesInclVat,ProductLines"
)
VOUCHER_FIELDS = "Guid,VoucherNumber,VoucherDate,ExternalReference,Status,Timestamp,Lines"
PAGE_SIZE = 1000


@dataclass(frozen=True)
class Line:
    """One line as it moves an account: `amount` in the document's own basis (incl. VAT
    when it shows lines incl. VAT), `net` excluding VAT (what the account is credited)."""

    account: int
    amount: int
    net: int
    balancing: int | None = None  # vouchers: the account credited by a positive amount


@dataclass(frozen=True)
class Document:
    kind: DocumentKind
    guid: str
    reference: str
    booked: bool
    date: dt.date | None
    total: int | None  # incl. VAT; a voucher's summed amount; a payment's amount
    vat: int | None = None
    lines: tuple[Line, ...] = ()
    contact_guid: str | None = None
    payment_status: str | None = None
    number: int | None = None
    invoice_guid: str | None = None  # payments
    deposit_account: int | None = None  # payments


@dataclass
class Books:
    """Our documents in Dinero, by ExternalReference (a list: duplicates are findings)."""

    documents: dict[str, list[Document]] = field(default_factory=dict)
    payments_read: set[str] = field(default_factory=set)  # invoice guids whose payments we read

    def add(self, document: Document) -> None:
        self.documents.setdefault(document.reference, []).append(document)

    def invoice(self, guid: str) -> Document | None:
        for found in self.documents.values():
            for document in found:
                if document.guid == guid and document.kind == "invoice":
                    return document
        return None


def _invoice_like(kind: DocumentKind, item: Invoice | CreditNote) -> Document:
    lines = tuple(
        Line(
            account=line.account_number or 0,
            amount=int((line.quantity or 0) * (line.base_amount_ore or 0)),
            net=line.total_amount_ore or 0,
        )
        for line in item.product_lines or []
        if line.line_type != "Text"
    )
    return Document(
        kind=kind,
        guid=item.guid,
        reference=item.external_reference or "",
        booked=item.booked_number is not None and item.status != "Draft",
        date=item.date,
        total=item.total_incl_vat_ore,
        vat=item.total_vat_ore,
        lines=lines,
        contact_guid=item.contact_guid,
        payment_status=item.payment_status,
        number=item.booked_number,
    )


def _voucher(item: ManualVoucher) -> Document:
    lines = tuple(
        Line(
            account=line.account_number or 0,
            amount=line.amount_ore or 0,
            net=line.amount_excl_vat_ore if line.amount_excl_vat_ore is not None else 0,
            balancing=line.balancing_account_number,
        )
        for line in item.lines or []
    )
    return Document(
        kind="voucher",
        guid=item.guid,
        reference=item.external_reference or "",
        booked=item.status != "Draft" and item.voucher_number is not None,
        date=item.voucher_date,
        total=sum(line.amount for line in lines),
        lines=lines,
        number=item.voucher_number,
    )


def payment_document(invoice_guid: str, payment: Payment) -> Document:
    return Document(
        kind="payment",
        guid=payment.guid,
        reference=payment.external_reference or "",
        booked=True,
        date=payment.payment_date,
        total=payment.amount_ore,
        invoice_guid=invoice_guid,
        deposit_account=payment.deposit_account_number,
    )


def ours(reference: str | None, tenant: str) -> bool:
    return bool(reference) and str(reference).startswith(f"bogfoer:{tenant}:")


async def read_books(org: OrganisationClient, tenant: str, first: dt.date, last: dt.date) -> Books:
    """Our invoices, credit notes and vouchers dated `first`..`last` (list endpoints)."""
    books = Books()
    window = {"start_date": first, "end_date": last, "page_size": PAGE_SIZE}
    async for invoice in org.iter_invoices(fields=LIST_FIELDS, **window):
        if ours(invoice.external_reference, tenant):
            books.add(_invoice_like("invoice", invoice))
    async for note in org.iter_credit_notes(fields=LIST_FIELDS + ",CreditNoteFor", **window):
        if ours(note.external_reference, tenant):
            books.add(_invoice_like("credit_note", note))
    async for voucher in org.iter_manual_vouchers(fields=VOUCHER_FIELDS, **window):
        if ours(voucher.external_reference, tenant):
            books.add(_voucher(voucher))
    return books


async def read_payments(org: OrganisationClient, books: Books, invoices: Iterable[str]) -> None:
    """Add the payments of these invoices (one call each) to `books`."""
    for guid in invoices:
        if guid in books.payments_read:
            continue
        listed = await org.list_payments(guid)
        books.payments_read.add(guid)
        for payment in listed.payments:
            books.add(payment_document(guid, payment))
