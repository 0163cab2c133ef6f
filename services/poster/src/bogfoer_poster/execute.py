"""One posting, carried out in Dinero exactly once, in as few calls as that allows.

The recipe (docs/design.md, "Poster"): the posting key is claimed in our table before a
call; every write carries the key as ExternalReference; what Dinero returned is stored
before the next call (so a crash resumes instead of repeating). Only when a crash or a lost
answer left the outcome of an earlier attempt unknown (`Posting.outcome_unknown`, set by
the claim and cleared when an attempt ends with every answer recorded; an attempt refused
before it could look up what an earlier one left unknown leaves it set) does an attempt
look the reference up before writing: the document is searched, a created document re-read
before booking (a set Number means booked), the invoice's payments listed before paying,
the invoice re-read before e-mailing (Dinero may have mailed it). Otherwise nothing is read:
a create's answer gives the Guid and TimeStamp to book with, a book's answer the Number and
the next TimeStamp, a payment's answer its invoice's new TimeStamp (kept on the invoice's
posting for the next payment on it), and the totals are known before the document exists
(`charts.py`). A TimeStamp that went stale meanwhile (a person edited the document) costs
one read: Dinero refuses it (code 58), never applies it.

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
    VoucherLineSpec,
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
from bogfoer_poster.charts import ChartRefusal, Charts, Verdict, mismatch, verdict
from bogfoer_poster.metrics import TOTALS_MISMATCH
from bogfoer_poster.store import Posting

log = logging.getLogger(__name__)
T = TypeVar("T")
STALE_RETRIES = 3


class Progress(Protocol):
    async def __call__(
        self, step: str, guid: str | None, timestamp: str | None, number: int | None = None
    ) -> None: ...


Dependency = Callable[[str], Awaitable[Posting | None]]
NoteTimestamp = Callable[[str, str | None], Awaitable[None]]


def remembered(dependency: Dependency) -> Dependency:
    """`dependency`, each posting read once: for one attempt, whose blocker check and steps
    ask for the same postings (none of which changes under the tenant's one worker but by
    the attempt itself, which asks before it writes)."""
    seen: dict[str, Posting | None] = {}

    async def look_up(key: str) -> Posting | None:
        if key not in seen:
            seen[key] = await dependency(key)
        return seen[key]

    return look_up


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
    problems = mismatch(found.total_incl_vat_ore, found.total_vat_ore, expected_total, expected_vat)
    if problems:
        raise PostingRejected(
            f"Dinero computes the {document} with {problems}; left as a draft, not booked",
            code=None,
        )


async def blocker(posting: Posting, dependency: Dependency) -> Outcome | None:
    """What keeps a posting from being tried now, from our own records alone (no call):
    a posting it depends on that is not done, or an invoice it needs booked that is a draft
    as far as we know. Such a posting waits without an attempt; a draft's waiters are woken
    when the per-organisation changesSince poll sees the invoice booked (`drafts.py`)."""
    command = posting.command
    for key in command.depends_on:
        dep = await dependency(key)
        if dep is None or dep.state != "done":
            state = "not received yet" if dep is None else dep.state
            return Outcome("waiting", detail=f"waiting for {key} ({state})")
    needs_booked = isinstance(command, RegisterPayment) or (
        isinstance(command, CreateCreditNote) and posting.dinero_guid is None
    )
    if needs_booked and not (posting.dinero_guid and not _stale(posting)):
        assert isinstance(command, RegisterPayment | CreateCreditNote)
        invoice = await dependency(command.invoice_key)
        if invoice is None or invoice.state != "done":
            state = "not received yet" if invoice is None else invoice.state
            return Outcome("waiting", detail=f"waiting for {command.invoice_key} ({state})")
        if invoice.dinero_number is None:
            return Outcome(
                "waiting",
                detail=f"invoice {command.invoice_key} is a draft in Dinero; waiting for it"
                " to be booked",
                watch_invoice=invoice.dinero_guid,
            )
    return None


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
    def __init__(
        self, dependency: Dependency, note_timestamp: NoteTimestamp, charts: Charts
    ) -> None:
        self.dependency = dependency
        self.note_timestamp = note_timestamp
        self.charts = charts

    async def run(self, posting: Posting, org: OrganisationClient, progress: Progress) -> Outcome:
        command = posting.command
        blocked = await blocker(posting, self.dependency)
        if blocked is not None:
            return blocked
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

    async def _verdict(
        self,
        org: OrganisationClient,
        command: CreateInvoice | CreateCreditNote,
        document: str,
    ) -> Verdict:
        """Whether Dinero will total the document as the shop did (checked against the
        organisation's chart before anything is written); refused when it would not."""
        try:
            return verdict(
                command.lines,
                incl_vat=command.show_lines_incl_vat,
                expected_total=command.expected_total,
                expected_vat=command.expected_vat,
                chart=await self.charts.of(org),
                document=document,
            )
        except ChartRefusal as refusal:
            raise PostingRejected(str(refusal), code=None) from refusal

    def _booked_as_expected(
        self,
        org: OrganisationClient,
        booked: Invoice,
        command: CreateInvoice | CreateCreditNote,
        document: str,
    ) -> str | None:
        """The booked document's totals against the shop's: a chart that changed since it
        was read shows here (too late for this document, so loudly: logged, counted, and
        the chart read anew for the next one)."""
        problems = mismatch(
            booked.total_incl_vat_ore,
            booked.total_vat_ore,
            command.expected_total,
            command.expected_vat,
        )
        if problems is None:
            return None
        TOTALS_MISMATCH.labels(document).inc()
        self.charts.forget(org)
        log.error(
            "%s was booked with Dinero's %s: the chart changed since it was read",
            command.posting_key,
            problems,
        )
        return f"booked, but Dinero's {document} has {problems}; correct it with a credit note"

    async def _contact(
        self, posting: Posting, command: EnsureContact, org: OrganisationClient
    ) -> Outcome:
        if posting.dinero_guid and not _stale(posting):
            return Outcome("done", guid=posting.dinero_guid)
        found = []
        if posting.outcome_unknown or _stale(posting):  # our own create may have happened
            found = await org.find_contacts(external_reference=posting.posting_key)
        # The shop owner may have the customer in Dinero already: one look-up by what
        # identifies a customer best (the VAT number of a business, else the e-mail).
        if not found and command.contact.vat_number:
            found = await org.find_contacts(vat_number=command.contact.vat_number)
        elif not found and command.contact.email:
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
        # Dinero may hold more than we recorded: re-read what we know of, search the rest.
        reread = posting.outcome_unknown and guid is not None and number is None
        if guid is not None and number is None and stale:
            draft_guid = guid
            timestamp, number, exists = await _current_draft(
                lambda: org.get_invoice(draft_guid), lambda document: document.number
            )
            guid = guid if exists else None
            reread = False
        if guid is None and (posting.outcome_unknown or stale):
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
        # Before anything is written, and again when resuming (the chart is cached: free).
        check = await self._verdict(org, command, "invoice") if number is None else "known"
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
        document_guid = guid
        outcome = await self._booked(
            org,
            command,
            "invoice",
            _Created(guid, timestamp, number, read_first=check == "read" or reread),
            lambda: org.get_invoice(document_guid),
            lambda ts: org.book_invoice(document_guid, ts),
            progress,
        )
        if command.booking == "booked_and_emailed" and posting.step != "emailed":
            mailed = False
            if posting.outcome_unknown:  # our e-mail may have gone out already
                invoice = await org.get_invoice(guid)
                mailed = (invoice.mail_out_status or "").lower() in {"sent", "mailed", "delivered"}
            if not mailed:
                await org.email_invoice(guid, MailoutRequest())
            await progress("emailed", guid, None)
        return outcome

    async def _booked(
        self,
        org: OrganisationClient,
        command: CreateInvoice | CreateCreditNote,
        document: str,
        created: _Created,
        get: Callable[[], Awaitable[Invoice]],
        book: Callable[[str], Awaitable[Invoice]],
        progress: Progress,
    ) -> Outcome:
        """An invoice or credit note that exists in Dinero, booked (or left a draft, as the
        tenant chose), its totals checked by a read only when the chart could not tell or an
        earlier attempt's outcome is unknown, else against the booking's own answer."""
        guid, timestamp, number = created.guid, created.timestamp, created.number
        if number is not None:
            return Outcome("done", guid=guid, number=number, timestamp=timestamp)
        detail = None
        if created.read_first:
            current = await get()
            if current.status != "Draft" and current.number is not None:
                number, timestamp = current.number, current.timestamp  # booked before a crash
            else:
                _check_totals(current, command.expected_total, command.expected_vat, document)
                timestamp = current.timestamp
        if number is None:
            if command.booking == "draft":
                return Outcome("done", guid=guid, timestamp=timestamp)
            booked = await _book_document(timestamp, book, get)
            number, timestamp = booked.number, booked.timestamp
            if booked.answer is not None:
                detail = self._booked_as_expected(org, booked.answer, command, document)
        await progress("booked", guid, timestamp, number)
        return Outcome("done", guid=guid, number=number, timestamp=timestamp, detail=detail)

    async def _booked_invoice(self, key: str) -> Posting | Outcome:
        """The invoice a payment or credit note needs, booked (`blocker` let it through)."""
        invoice = await self.dependency(key)
        if invoice is None or invoice.dinero_guid is None or invoice.dinero_number is None:
            return Outcome("waiting", detail=f"invoice {key} is not booked in Dinero yet")
        return invoice

    async def _payment(
        self, posting: Posting, command: RegisterPayment, org: OrganisationClient
    ) -> Outcome:
        if posting.dinero_guid and not _stale(posting):
            return Outcome("done", guid=posting.dinero_guid)
        invoice = await self._booked_invoice(command.invoice_key)
        if isinstance(invoice, Outcome):
            return invoice
        invoice_guid = invoice.dinero_guid
        assert invoice_guid is not None
        if posting.outcome_unknown or _stale(posting):  # it may be registered already
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
            invoice.dinero_timestamp or "",
            reread,
        )
        # The answer's TimeStamp is the invoice's new one: the next payment on it needs no read.
        await self.note_timestamp(command.invoice_key, created.timestamp)
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
        reread = posting.outcome_unknown and guid is not None and number is None
        if guid is not None and number is None and stale:
            old = guid
            guid, timestamp, number = await _drop_outdated_draft(
                old,
                lambda: org.get_credit_note(old),
                lambda document: document.number,
                lambda stamp: org.delete_credit_note(old, stamp),
            )
            reread = False
        check = await self._verdict(org, command, "credit note") if number is None else "known"
        if guid is None:
            invoice = await self._booked_invoice(command.invoice_key)
            if isinstance(invoice, Outcome):
                return invoice
            if posting.outcome_unknown or stale:
                found = await org.find_credit_notes(posting.posting_key)
                if found and stale and found[0].status == "Draft":
                    # An older revision's draft, left by a crash before its deletion.
                    await org.delete_credit_note(found[0].guid, found[0].timestamp or "")
                elif found:
                    guid, timestamp = found[0].guid, found[0].timestamp
                    number = found[0].number if found[0].status != "Draft" else None
                    reread = number is None
            if guid is None:
                created = await org.create_credit_note(
                    CreditNoteCreate(
                        credit_note_for=invoice.dinero_guid,
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
        document_guid = guid
        return await self._booked(
            org,
            command,
            "credit note",
            _Created(guid, timestamp, number, read_first=check == "read" or reread),
            lambda: org.get_credit_note(document_guid),
            lambda ts: org.book_credit_note(document_guid, ts),
            progress,
        )

    async def _voucher(
        self, posting: Posting, command: CreateVoucher, org: OrganisationClient, progress: Progress
    ) -> Outcome:
        guid, timestamp, number = (
            posting.dinero_guid,
            posting.dinero_timestamp,
            posting.dinero_number,
        )
        stale = _stale(posting)
        reread = posting.outcome_unknown and guid is not None and number is None
        if guid is not None and number is None and stale:
            old = guid
            guid, timestamp, number = await _drop_outdated_draft(
                old,
                lambda: org.get_manual_voucher(old),
                lambda document: document.voucher_number,
                lambda stamp: org.delete_manual_voucher(old, stamp),
            )
            reread = False
        if guid is None and (posting.outcome_unknown or stale):
            found = await org.find_manual_vouchers(posting.posting_key)
            if found and stale and found[0].status == "Draft":
                await org.delete_manual_voucher(found[0].guid, found[0].timestamp or "")
            elif found:
                guid, timestamp = found[0].guid, found[0].timestamp
                number = found[0].voucher_number if found[0].status != "Draft" else None
        if guid is None:
            lines = await self._unbooked_lines(command)
            if not lines:
                return Outcome("done", detail="every line was booked on its own before")
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
                        for line in lines
                    ],
                )
            )
            guid, timestamp = created.guid, created.timestamp
            await progress("created", guid, timestamp)
        if number is None:
            if reread or timestamp is None:
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

    async def _unbooked_lines(self, command: CreateVoucher) -> list[VoucherLineSpec]:
        """The voucher's lines less those booked on their own before (a Stripe fee booked
        per balance transaction before fees were grouped per payout: `supersedes`)."""
        lines = []
        for line in command.lines:
            if line.supersedes is not None and await self.dependency(line.supersedes):
                log.info("%s: %s is booked already", command.posting_key, line.supersedes)
                continue
            lines.append(line)
        return lines


class _Document(Protocol):
    @property
    def timestamp(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...


D = TypeVar("D", bound=_Document)


@dataclass(frozen=True)
class _Created:
    """An invoice or credit note as Dinero holds it after this attempt's create or look-up."""

    guid: str
    timestamp: str | None
    number: int | None  # set: booked already
    read_first: bool  # read it before booking (totals unknown, or an earlier outcome unknown)


@dataclass(frozen=True)
class _Booked:
    number: int | None
    timestamp: str | None
    answer: Invoice | None  # Dinero's booked document (None: it was booked before us)


async def _book_document(
    timestamp: str | None,
    book: Callable[[str], Awaitable[Invoice]],
    get: Callable[[], Awaitable[Invoice]],
) -> _Booked:
    """Book an invoice or credit note; keep Dinero's answer to check its totals."""
    answers: list[Invoice] = []

    async def booking(ts: str) -> Invoice:
        answers.append(await book(ts))
        return answers[-1]

    number, stamp = await _book(timestamp, booking, get, lambda document: document.number)
    return _Booked(number, stamp, answers[-1] if answers else None)


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
