"""One posting, carried out in Dinero exactly once.

The recipe (docs/design.md, "Poster"): the posting key is claimed in our table before a
call; every write carries the key as ExternalReference; what Dinero returned is stored
before the next call (so a crash resumes instead of repeating); after a crash or a lost
response (`attempts > 1`) we look the reference up before writing again. Booking
re-reads first (a set Number means already booked); a payment lists the invoice's
payments first; an e-mail is sent only if Dinero has not mailed the invoice yet.

A re-mapped command (a higher `revision`, after the tenant fixed its settings) is checked
against what Dinero holds for an older revision: a booked document is never touched; a
draft invoice is rewritten in place (`PUT /v1.2`), a draft credit note or voucher is
deleted and created again (Dinero documents no update for them); a document deleted in
Dinero meanwhile is created again. Each goes through the look-up first: never a second
document.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, TypeVar

from bogfoer_contracts.postings import (
    CreateCreditNote,
    CreateInvoice,
    CreateVoucher,
    EnsureContact,
    InvoiceLineSpec,
    RegisterPayment,
)
from bogfoer_dinero import DineroValidationError, NotFound, OrganisationClient, StaleTimestamp
from bogfoer_dinero.models import (
    NO_VAT,
    ContactCreate,
    CreditNoteCreate,
    Invoice,
    InvoiceCreate,
    InvoiceUpdate,
    MailoutRequest,
    ManualVoucherCreate,
    ManualVoucherLine,
    PaymentCreate,
    ProductLine,
)
from bogfoer_poster.store import Posting

log = logging.getLogger(__name__)
T = TypeVar("T")
STALE_RETRIES = 3


class Progress(Protocol):
    async def __call__(
        self, step: str, guid: str | None, timestamp: str | None, number: int | None = None
    ) -> None: ...


Dependency = Callable[[str], Awaitable[Posting | None]]


@dataclass(frozen=True)
class Outcome:
    state: Literal["done", "waiting"]
    guid: str | None = None
    number: int | None = None
    timestamp: str | None = None
    detail: str | None = None
    # A draft invoice in Dinero that a bookkeeper has to book before we can go on.
    watch_invoice: str | None = None


class PostingRejected(DineroValidationError):
    """Our own check refused the posting (never booked wrong); dead-lettered like Dinero's."""


def _check_totals(
    found: Invoice, expected_total: int, expected_vat: int | None, document: str
) -> None:
    """Never book wrong: Dinero's own total and VAT must be the ones the mapper checked to
    the øre (a sales account with the wrong VAT code changes the VAT, not always the total)."""
    problems = []
    if found.total_incl_vat_ore != expected_total:
        problems.append(f"total {found.total_incl_vat_ore} øre, expected {expected_total} øre")
    if expected_vat is not None and found.total_vat_ore != expected_vat:
        problems.append(f"VAT {found.total_vat_ore} øre, expected {expected_vat} øre")
    if problems:
        raise PostingRejected(
            f"Dinero computes the {document} with {' and '.join(problems)};"
            " left as a draft, not booked",
            code=None,
        )


def _lines(lines: list[InvoiceLineSpec]) -> list[ProductLine]:
    return [
        ProductLine(
            description=line.description,
            quantity=Decimal(line.quantity),
            base_amount_ore=line.unit_price,
            account_number=line.account_number,
            unit=line.unit,
        )
        for line in lines
    ]


def _stale(posting: Posting) -> bool:
    """Dinero's document (if any) was written for an older revision of the command."""
    return posting.dinero_revision < posting.command.revision


async def _current_draft(
    get: Callable[[], Awaitable[D]], number_of: Callable[[D], int | None]
) -> tuple[str | None, int | None, bool]:
    """(timestamp, number, exists) of a document we wrote for an older revision."""
    try:
        document = await get()
    except NotFound:
        return None, None, False  # a person deleted the draft: it is created again
    number = number_of(document) if document.status != "Draft" else None
    return document.timestamp, number, True


async def _drop_outdated_draft(
    guid: str,
    get: Callable[[], Awaitable[D]],
    number_of: Callable[[D], int | None],
    delete: Callable[[str], Awaitable[None]],
) -> tuple[str | None, str | None, int | None]:
    """(guid, timestamp, number) of a document written for an older revision: a booked one
    is kept as it is; a draft is deleted (Dinero documents no update for credit notes and
    vouchers), so the re-mapped one is created in its place — None for the guid then."""
    timestamp, number, exists = await _current_draft(get, number_of)
    if not exists:
        return None, None, None
    if number is None:
        await delete(timestamp or "")
        return None, None, None
    return guid, timestamp, number


async def _with_fresh_timestamp(
    call: Callable[[str], Awaitable[T]], timestamp: str, reread: Callable[[], Awaitable[str]]
) -> T:
    """Run a call that needs the entity's Timestamp; on error 58 re-read and try again."""
    for _ in range(STALE_RETRIES):
        try:
            return await call(timestamp)
        except StaleTimestamp:
            timestamp = await reread()
    return await call(timestamp)


class Executor:
    def __init__(self, dependency: Dependency) -> None:
        self.dependency = dependency

    async def run(self, posting: Posting, org: OrganisationClient, progress: Progress) -> Outcome:
        command = posting.command
        for key in command.depends_on:
            dep = await self.dependency(key)
            if dep is None or dep.state != "done":
                state = "not received yet" if dep is None else dep.state
                return Outcome("waiting", detail=f"waiting for {key} ({state})")
        match command:
            case EnsureContact():
                return await self._contact(posting, command, org)
            case CreateInvoice():
                return await self._invoice(posting, command, org, progress)
            case RegisterPayment():
                return await self._payment(posting, command, org)
            case CreateCreditNote():
                return await self._credit_note(posting, command, org, progress)
            case CreateVoucher():
                return await self._voucher(posting, command, org, progress)

    async def _guid_of(self, key: str) -> str:
        dep = await self.dependency(key)
        if dep is None or dep.dinero_guid is None:
            raise RuntimeError(f"{key} is done without a Dinero guid")
        return dep.dinero_guid

    async def _contact(
        self, posting: Posting, command: EnsureContact, org: OrganisationClient
    ) -> Outcome:
        if posting.dinero_guid and not _stale(posting):
            return Outcome("done", guid=posting.dinero_guid)
        # Always look up: the shop owner may have the customer in Dinero already.
        found = await org.find_contacts(external_reference=posting.posting_key)
        if not found and command.contact.vat_number:
            found = await org.find_contacts(vat_number=command.contact.vat_number)
        if not found and command.contact.email:
            found = await org.find_contacts(email=command.contact.email)
        if found:
            return Outcome("done", guid=found[0].contact_guid)
        spec = command.contact
        guid = await org.create_contact(
            ContactCreate(
                name=spec.name,
                country_key=spec.country,
                is_person=spec.is_person,
                external_reference=posting.posting_key,
                email=spec.email,
                vat_number=spec.vat_number,
            )
        )
        return Outcome("done", guid=guid)

    async def _invoice(
        self, posting: Posting, command: CreateInvoice, org: OrganisationClient, progress: Progress
    ) -> Outcome:
        guid, timestamp, number = (
            posting.dinero_guid,
            posting.dinero_timestamp,
            posting.dinero_number,
        )
        stale = _stale(posting)
        if guid is not None and number is None and stale:
            draft_guid = guid
            timestamp, number, exists = await _current_draft(
                lambda: org.get_invoice(draft_guid), lambda document: document.number
            )
            guid = guid if exists else None
        if guid is None and (posting.attempts > 1 or stale):
            found = await org.find_invoices(posting.posting_key)
            if len(found) > 1:
                log.error("%d invoices carry %s in Dinero", len(found), posting.posting_key)
            if found:
                guid, timestamp = found[0].guid, found[0].timestamp
                number = found[0].number if found[0].status != "Draft" else None
        fields = {
            "product_lines": _lines(command.lines),
            "contact_guid": await self._guid_of(command.contact_key),
            "date": command.date,
            "currency": command.currency,
            "external_reference": posting.posting_key,
            "description": command.description,
            "comment": command.comment,
            "show_lines_incl_vat": command.show_lines_incl_vat,
            "payment_condition_type": command.payment_condition_type,
            "payment_condition_number_of_days": command.payment_condition_days,
            "invoice_template_id": command.invoice_template_id,
        }
        if guid is None:
            created = await org.create_invoice(InvoiceCreate.model_validate(fields))
            guid, timestamp = created.guid, created.timestamp
            await progress("created", guid, timestamp)
        elif number is None and stale:
            # The draft was written for an older revision (e.g. a failed totals check under
            # the old settings): it becomes the re-mapped invoice, in place.
            update = InvoiceUpdate.model_validate(fields | {"timestamp": timestamp or ""})
            updated = await org.update_invoice(guid, update)
            timestamp = updated.timestamp
            await progress("rewritten", guid, timestamp)
        if number is None:
            invoice = await org.get_invoice(guid)
            _check_totals(invoice, command.expected_total, command.expected_vat, "invoice")
            if command.booking == "draft":
                return Outcome("done", guid=guid, timestamp=invoice.timestamp)
            if invoice.status != "Draft" and invoice.number is not None:
                number, timestamp = invoice.number, invoice.timestamp  # booked before a crash
            else:
                number, timestamp = await _book(
                    invoice.timestamp,
                    lambda ts: org.book_invoice(guid, ts),
                    lambda: org.get_invoice(guid),
                    lambda document: document.number,
                )
            await progress("booked", guid, timestamp, number)
        if command.booking == "booked_and_emailed" and posting.step != "emailed":
            invoice = await org.get_invoice(guid)
            if (invoice.mail_out_status or "").lower() not in {"sent", "mailed", "delivered"}:
                await org.email_invoice(guid, MailoutRequest())
            await progress("emailed", guid, None)
        return Outcome("done", guid=guid, number=number, timestamp=timestamp)

    async def _booked_invoice(
        self, org: OrganisationClient, key: str
    ) -> tuple[str, str | None] | Outcome:
        guid = await self._guid_of(key)
        invoice = await org.get_invoice(guid)
        if invoice.status == "Draft":
            return Outcome(
                "waiting",
                detail=f"invoice {key} is a draft in Dinero; waiting for it to be booked",
                watch_invoice=guid,
            )
        return guid, invoice.timestamp

    async def _payment(
        self, posting: Posting, command: RegisterPayment, org: OrganisationClient
    ) -> Outcome:
        if posting.dinero_guid and not _stale(posting):
            return Outcome("done", guid=posting.dinero_guid)
        booked = await self._booked_invoice(org, command.invoice_key)
        if isinstance(booked, Outcome):
            return booked
        invoice_guid, timestamp = booked
        if posting.attempts > 1 or _stale(posting):  # it may be registered already
            existing = await org.list_payments(invoice_guid)
            for payment in existing.payments:
                if payment.external_reference == posting.posting_key:
                    return Outcome("done", guid=payment.guid)

        async def reread() -> str:
            return (await org.get_invoice(invoice_guid)).timestamp or ""

        created = await _with_fresh_timestamp(
            lambda ts: org.add_payment(
                invoice_guid,
                PaymentCreate(
                    timestamp=ts,
                    deposit_account_number=command.deposit_account,
                    amount_ore=command.amount,
                    external_reference=posting.posting_key,
                    payment_date=command.payment_date,
                    description=command.description[:250],
                ),
            ),
            timestamp or "",
            reread,
        )
        return Outcome("done", guid=created.guid)

    async def _credit_note(
        self,
        posting: Posting,
        command: CreateCreditNote,
        org: OrganisationClient,
        progress: Progress,
    ) -> Outcome:
        guid, timestamp, number = (
            posting.dinero_guid,
            posting.dinero_timestamp,
            posting.dinero_number,
        )
        stale = _stale(posting)
        if guid is not None and number is None and stale:
            old = guid
            guid, timestamp, number = await _drop_outdated_draft(
                old,
                lambda: org.get_credit_note(old),
                lambda document: document.number,
                lambda stamp: org.delete_credit_note(old, stamp),
            )
        if guid is None:
            booked = await self._booked_invoice(org, command.invoice_key)
            if isinstance(booked, Outcome):
                return booked
            invoice_guid, _ = booked
            if posting.attempts > 1 or stale:
                found = await org.find_credit_notes(posting.posting_key)
                if found and stale and found[0].status == "Draft":
                    # An older revision's draft, left by a crash before its deletion.
                    await org.delete_credit_note(found[0].guid, found[0].timestamp or "")
                elif found:
                    guid, timestamp = found[0].guid, found[0].timestamp
                    number = found[0].number if found[0].status != "Draft" else None
            if guid is None:
                created = await org.create_credit_note(
                    CreditNoteCreate(
                        credit_note_for=invoice_guid,
                        product_lines=_lines(command.lines),
                        contact_guid=await self._guid_of(command.contact_key),
                        date=command.date,
                        currency=command.currency,
                        external_reference=posting.posting_key,
                        description=command.description,
                        show_lines_incl_vat=command.show_lines_incl_vat,
                    )
                )
                guid, timestamp = created.guid, created.timestamp
                await progress("created", guid, timestamp)
        if number is None:
            note = await org.get_credit_note(guid)
            _check_totals(note, command.expected_total, command.expected_vat, "credit note")
            if command.booking == "draft":
                return Outcome("done", guid=guid, timestamp=note.timestamp)
            if note.status != "Draft" and note.number is not None:
                number, timestamp = note.number, note.timestamp
            else:
                number, timestamp = await _book(
                    note.timestamp,
                    lambda ts: org.book_credit_note(guid, ts),
                    lambda: org.get_credit_note(guid),
                    lambda document: document.number,
                )
            await progress("booked", guid, timestamp, number)
        return Outcome("done", guid=guid, number=number, timestamp=timestamp)

    async def _voucher(
        self, posting: Posting, command: CreateVoucher, org: OrganisationClient, progress: Progress
    ) -> Outcome:
        guid, timestamp, number = (
            posting.dinero_guid,
            posting.dinero_timestamp,
            posting.dinero_number,
        )
        stale = _stale(posting)
        if guid is not None and number is None and stale:
            old = guid
            guid, timestamp, number = await _drop_outdated_draft(
                old,
                lambda: org.get_manual_voucher(old),
                lambda document: document.voucher_number,
                lambda stamp: org.delete_manual_voucher(old, stamp),
            )
        if guid is None and (posting.attempts > 1 or stale):
            found = await org.find_manual_vouchers(posting.posting_key)
            if found and stale and found[0].status == "Draft":
                await org.delete_manual_voucher(found[0].guid, found[0].timestamp or "")
            elif found:
                guid, timestamp = found[0].guid, found[0].timestamp
                number = found[0].voucher_number if found[0].status != "Draft" else None
        if guid is None:
            created = await org.create_manual_voucher(
                ManualVoucherCreate(
                    voucher_date=command.date,
                    external_reference=posting.posting_key,
                    lines=[
                        ManualVoucherLine(
                            description=line.description,
                            account_number=line.account_number,
                            balancing_account_number=line.balancing_account_number,
                            amount_ore=line.amount,
                            account_vat_code=_vat_code(line.account_vat_code),
                            balancing_account_vat_code=_vat_code(line.balancing_account_vat_code),
                        )
                        for line in command.lines
                    ],
                )
            )
            guid, timestamp = created.guid, created.timestamp
            await progress("created", guid, timestamp)
        if number is None:
            if posting.attempts > 1 or timestamp is None:
                voucher = await org.get_manual_voucher(guid)
                draft = voucher.status == "Draft" or voucher.voucher_number is None
                number = None if draft else voucher.voucher_number
                timestamp = voucher.timestamp
            if number is None:
                number, timestamp = await _book(
                    timestamp,
                    lambda ts: org.book_manual_voucher(guid, ts),
                    lambda: org.get_manual_voucher(guid),
                    lambda document: document.voucher_number,
                )
            await progress("booked", guid, timestamp, number)
        return Outcome("done", guid=guid, number=number, timestamp=timestamp)


class _Document(Protocol):
    @property
    def timestamp(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...


D = TypeVar("D", bound=_Document)


async def _book(
    timestamp: str | None,
    book: Callable[[str], Awaitable[D]],
    get: Callable[[], Awaitable[D]],
    number_of: Callable[[D], int | None],
) -> tuple[int | None, str | None]:
    """Book a draft; on a stale Timestamp re-read it, and if someone booked it meanwhile (a
    person, or our own request whose answer was lost) take that booking instead."""

    async def reread() -> str:
        fresh = await get()
        if fresh.status != "Draft" and number_of(fresh) is not None:
            raise _AlreadyBooked(number_of(fresh), fresh.timestamp)
        return fresh.timestamp or ""

    try:
        booked = await _with_fresh_timestamp(book, timestamp or "", reread)
    except _AlreadyBooked as already:
        return already.number, already.timestamp
    return number_of(booked), booked.timestamp


class _AlreadyBooked(Exception):
    """A signal: the document was booked meanwhile (by a person or our lost request)."""

    def __init__(self, number: int | None, timestamp: str | None) -> None:
        super().__init__(number)
        self.number = number
        self.timestamp = timestamp


def _vat_code(code: str) -> str:
    return NO_VAT if code.lower() == "none" else code
