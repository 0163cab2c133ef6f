"""Invoices, their payments, and sales credit notes (one document model, two kinds)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dinero_sandbox.context import Sandbox, guard, json_body, path_guid
from dinero_sandbox.documents import (
    due_date,
    paid_ore,
    payment_status,
    remaining_ore,
    totals,
    unit_price_incl_vat,
)
from dinero_sandbox.errors import (
    OUT_OF_RANGE,
    VALIDATION_DOCUMENT,
    DineroError,
    deleted,
    not_found,
    stale_timestamp,
    validation,
)
from dinero_sandbox.jsonio import DecimalJSONResponse
from dinero_sandbox.listing import make_filter, paginate, parse_changes_since, project
from dinero_sandbox.money import ore_to_kroner
from dinero_sandbox.parsing import (
    MAX_REFERENCE_LENGTH,
    boolean,
    day,
    decimal,
    integer,
    required_amount_ore,
    required_decimal,
    required_integer,
    required_text,
    text,
    timestamp,
)
from dinero_sandbox.seed import SYSTEM_ACCOUNTS
from dinero_sandbox.state import Document, DocumentKind, Line, Organization, Payment, SentEmail

PAYMENT_CONDITIONS = ("Netto", "NettoCash", "CurrentMonthOut", "Paid")
LANGUAGES = ("da-DK", "en-GB")
# Drafts in list results carry this sentinel instead of a number [client: captured fixture].
DRAFT_NUMBER_SENTINEL = 9223372036854775807
INVOICE_FILTERABLE = ("ExternalReference", "Description")
CREDIT_NOTE_FILTERABLE = ("ExternalReference", "ContactGuid", "Description")
INVOICE_DEFAULT_FIELDS = "Guid,ContactName,Date,Description"
CREDIT_NOTE_DEFAULT_FIELDS = "Guid,ContactName,Date,Description,Type"
STATUS_FILTERS = ("Draft", "Booked", "Paid", "OverPaid", "Overdue")
_NAMES: dict[DocumentKind, tuple[str, str]] = {
    "invoice": ("invoice", "Invoice"),
    "creditnote": ("credit note", "CreditNote"),
}


# --- reading request bodies ------------------------------------------------------------------


def _read_lines(body: dict[str, Any], org: Organization) -> list[Line]:
    raw = body.get("productlines")
    if not isinstance(raw, list) or not raw:
        raise validation(
            "ProductLines", "A document must have at least one line.", code=VALIDATION_DOCUMENT
        )
    lines: list[Line] = []
    for index, item in enumerate(raw):
        where = f"ProductLines[{index}]"
        if not isinstance(item, dict):
            raise validation(where, "Each line must be an object.")
        line_type = text(item, "LineType") or "Product"
        if line_type not in ("Product", "Text"):
            raise validation(f"{where}.LineType", "LineType must be Product or Text.")
        description = required_text(item, "Description")
        if line_type == "Text":
            lines.append(Line(line_type="Text", description=description))
            continue
        quantity = required_decimal(item, "Quantity")
        account_number = required_integer(item, "AccountNumber")
        account = org.accounts.get(account_number)
        if account is None:
            raise validation(f"{where}.AccountNumber", f"Account {account_number} does not exist.")
        if account.number in SYSTEM_ACCOUNTS or account.is_deposit:
            raise validation(
                f"{where}.AccountNumber", f"Account {account_number} cannot be used on a line."
            )
        discount = decimal(item, "Discount") or Decimal(0)
        if not Decimal(0) <= discount <= Decimal(100):
            raise DineroError(
                400, OUT_OF_RANGE, "Value out of range", {f"{where}.Discount": "0 to 100."}
            )
        lines.append(
            Line(
                line_type="Product",
                description=description,
                comments=text(item, "Comments"),
                quantity=quantity,
                unit=text(item, "Unit"),
                account_number=account_number,
                # A missing or misspelt amount silently yields a zero line, as in Dinero [client].
                base_amount=decimal(item, "BaseAmountValue") or Decimal(0),
                discount=discount,
                product_guid=text(item, "ProductGuid"),
            )
        )
    return lines


def _read_fields(
    body: dict[str, Any], org: Organization, kind: DocumentKind, today: date
) -> dict[str, Any]:
    """Everything a create / update / preview body sets on a document."""
    contact_guid = text(body, "ContactGuid")
    contact = None
    if contact_guid is not None:
        contact = org.contacts.get(contact_guid.lower())
        if contact is None or contact.deleted_at is not None:
            raise validation("ContactGuid", "The contact does not exist.")
    currency = (text(body, "Currency") or "DKK").upper()
    if currency != "DKK":
        raise validation("Currency", "The sandbox supports DKK only.")
    language = text(body, "Language") or "da-DK"
    if language not in LANGUAGES:
        raise validation("Language", "Language must be da-DK or en-GB.")
    condition = text(body, "PaymentConditionType")
    days = integer(body, "PaymentConditionNumberOfDays")
    if condition is not None and condition not in PAYMENT_CONDITIONS:
        raise validation("PaymentConditionType", f"Must be one of {', '.join(PAYMENT_CONDITIONS)}.")
    if condition in ("NettoCash", "Paid") and days is not None:
        raise validation("PaymentConditionNumberOfDays", f"Must be null with {condition}.")
    if condition is None and days is None and contact is not None:
        condition = contact.data.get("PaymentConditionType")
        days = contact.data.get("PaymentConditionNumberOfDays")
    template = text(body, "InvoiceTemplateId")
    if template is not None and template.lower() != org.template_id:
        raise validation("InvoiceTemplateId", "Unknown invoice template.")
    default_description = {
        ("invoice", "da-DK"): "Faktura",
        ("invoice", "en-GB"): "Invoice",
        ("creditnote", "da-DK"): "Kreditnota",
        ("creditnote", "en-GB"): "Credit note",
    }[(kind, language)]
    fields: dict[str, Any] = {
        "contact_guid": contact.guid if contact else None,
        "date": day(body, "Date") or today,
        "currency": currency,
        "language": language,
        "external_reference": text(body, "ExternalReference", max_length=MAX_REFERENCE_LENGTH),
        "description": text(body, "Description") or default_description,
        "comment": text(body, "Comment"),
        "address": text(body, "Address"),
        "payment_condition_type": condition,
        "payment_condition_days": days,
        "show_lines_incl_vat": boolean(body, "ShowLinesInclVat") or False,
        "invoice_template_id": org.template_id,
        "lines": _read_lines(body, org),
    }
    if kind == "creditnote":
        fields["credit_note_for"] = _credited_invoice(body, org)
    return fields


def _credited_invoice(body: dict[str, Any], org: Organization) -> str | None:
    guid = text(body, "CreditNoteFor")
    if guid is None:
        return None
    invoice = org.documents.get(guid.lower())
    if invoice is None or invoice.kind != "invoice" or invoice.deleted_at is not None:
        raise validation("CreditNoteFor", "The credited invoice does not exist.")
    if invoice.status != "Booked":
        raise validation("CreditNoteFor", "Only booked invoices can be credited.")
    return invoice.guid


# --- rendering -------------------------------------------------------------------------------


def document_row(doc: Document, org: Organization, today: date) -> dict[str, Any]:
    total = totals(doc, org)
    contact = org.contacts.get(doc.contact_guid) if doc.contact_guid else None
    lines = []
    for position, (line, amounts) in enumerate(zip(doc.lines, total.lines, strict=True)):
        account = org.accounts.get(line.account_number) if line.account_number else None
        lines.append(
            {
                "ProductGuid": line.product_guid,
                "Description": line.description,
                "Comments": line.comments,
                "Quantity": line.quantity,
                "AccountNumber": line.account_number,
                "AccountName": account.name if account else None,
                "Unit": line.unit,
                "Discount": line.discount,
                "LineType": line.line_type,
                "Position": position,
                "BaseAmountValue": line.base_amount,
                "BaseAmountValueInclVat": unit_price_incl_vat(
                    line, amounts, doc.show_lines_incl_vat
                ),
                "TotalAmount": ore_to_kroner(amounts.net_ore),
                "TotalAmountInclVat": ore_to_kroner(amounts.gross_ore),
            }
        )
    currency = doc.currency
    row: dict[str, Any] = {
        "Guid": doc.guid,
        "TimeStamp": doc.timestamp,
        "Type": _NAMES[doc.kind][1],
        "Status": doc.status,
        "PaymentStatus": payment_status(doc, org, today),
        "Number": doc.number,
        "ContactGuid": doc.contact_guid,
        "ContactName": contact.data.get("Name") if contact else None,
        "Date": doc.date,
        "PaymentDate": due_date(doc),
        "PaymentConditionType": doc.payment_condition_type or "Netto",
        "PaymentConditionNumberOfDays": doc.payment_condition_days,
        "DepositAccountNumber": doc.payments[-1].deposit_account if doc.payments else None,
        "ShowLinesInclVat": doc.show_lines_incl_vat,
        "TotalExclVat": ore_to_kroner(total.net_ore),
        "TotalVat": ore_to_kroner(total.vat_ore),
        "TotalInclVat": ore_to_kroner(total.gross_ore),
        "TotalVatableAmount": ore_to_kroner(total.vatable_ore),
        "TotalNonVatableAmount": ore_to_kroner(total.non_vatable_ore),
        "TotalLines": [
            {
                "Type": "Subtotal",
                "TotalAmount": ore_to_kroner(total.net_ore),
                "Position": 0,
                "Label": "Subtotal",
            },
            {
                "Type": "Vat",
                "TotalAmount": ore_to_kroner(total.vat_ore),
                "Position": 1,
                "Label": "Moms",
            },
            {
                "Type": "Total",
                "TotalAmount": ore_to_kroner(total.gross_ore),
                "Position": 2,
                "Label": f"Total {currency}",
            },
        ],
        "Currency": currency,
        "Language": doc.language,
        "ExternalReference": doc.external_reference,
        "Description": doc.description,
        "Comment": doc.comment,
        "Address": doc.address,
        "InvoiceTemplateId": doc.invoice_template_id,
        "MailOutStatus": doc.mail_out_status,
        "CreatedAt": doc.created_at,
        "UpdatedAt": doc.updated_at,
        "DeletedAt": doc.deleted_at,
        "ProductLines": lines,
    }
    if doc.kind == "creditnote":
        row["CreditNoteFor"] = doc.credit_note_for
    return row


def _created(guid: str, stamp: str) -> DecimalJSONResponse:
    return DecimalJSONResponse({"Guid": guid, "TimeStamp": stamp}, status_code=201)


# --- shared document operations --------------------------------------------------------------


def _find(org: Organization, guid: str, kind: DocumentKind) -> Document:
    doc = org.documents.get(guid)
    if doc is None or doc.kind != kind:
        raise not_found(_NAMES[kind][0])
    return doc


def _mutable(doc: Document, given: str | None) -> None:
    """Deleted → 65; stale timestamp → 58 (both before any other rule)."""
    if doc.deleted_at is not None:
        raise deleted(_NAMES[doc.kind][1])
    if given is not None and given.upper() != doc.timestamp:
        raise stale_timestamp(_NAMES[doc.kind][0])


def _touch(sandbox: Sandbox, doc: Document) -> None:
    doc.timestamp = sandbox.state.next_timestamp()
    doc.updated_at = sandbox.utcnow()


def _create(
    sandbox: Sandbox, org: Organization, kind: DocumentKind, fields: dict[str, Any]
) -> Document:
    now = sandbox.utcnow()
    doc = Document(
        kind=kind,
        guid=str(uuid.uuid4()),
        seq=sandbox.state.next_seq(),
        timestamp=sandbox.state.next_timestamp(),
        created_at=now,
        updated_at=now,
        **fields,
    )
    org.documents[doc.guid] = doc
    sandbox.persist()
    return doc


async def _update(request: Request, kind: DocumentKind) -> Response:
    sandbox, org = guard(request)
    doc = _find(org, path_guid(request, "guid", _NAMES[kind][0]), kind)
    body = await json_body(request)
    given = timestamp(body)
    _mutable(doc, given)
    if doc.status != "Draft":
        raise validation("Status", f"Only a draft {_NAMES[kind][0]} can be updated.")
    for name, value in _read_fields(body, org, kind, sandbox.today()).items():
        setattr(doc, name, value)
    _touch(sandbox, doc)
    sandbox.persist()
    return DecimalJSONResponse({"Guid": doc.guid, "TimeStamp": doc.timestamp})


async def _delete(request: Request, kind: DocumentKind) -> Response:
    sandbox, org = guard(request)
    doc = _find(org, path_guid(request, "guid", _NAMES[kind][0]), kind)
    body = await json_body(request)
    _mutable(doc, timestamp(body))
    if doc.status != "Draft":
        raise validation("Status", f"Only a draft {_NAMES[kind][0]} can be deleted.")
    doc.deleted_at = sandbox.utcnow()
    _touch(sandbox, doc)
    sandbox.persist()
    return Response(status_code=200)


async def _book(request: Request, kind: DocumentKind) -> Response:
    """Assigns the next number in the organisation's series (or the given unused one)."""
    sandbox, org = guard(request)
    doc = _find(org, path_guid(request, "guid", _NAMES[kind][0]), kind)
    body = await json_body(request)
    _mutable(doc, timestamp(body))
    if doc.status != "Draft":
        raise validation("Status", f"The {_NAMES[kind][0]} is already booked.")
    if doc.contact_guid is None:
        raise validation("ContactGuid", "A contact is required to book.")
    if doc.credit_note_for is not None:
        credited = org.documents[doc.credit_note_for]
        if credited.deleted_at is not None or credited.status != "Booked":
            raise validation("CreditNoteFor", "Only booked invoices can be credited.")
    requested = integer(body, "Number")
    used = {d.number for d in org.documents.values() if d.number is not None}
    if requested is not None:
        if requested <= 0 or requested in used:
            raise validation("Number", f"Number {requested} is already used or invalid.")
        number = requested
    else:
        number = org.next_number
        while number in used:
            number += 1
    org.next_number = max(org.next_number, number + 1)
    doc.number = number
    doc.status = "Booked"
    doc.booked_at = sandbox.utcnow()
    _touch(sandbox, doc)
    sandbox.persist()
    return DecimalJSONResponse(document_row(doc, org, sandbox.today()))


async def _get(request: Request, kind: DocumentKind) -> Response:
    sandbox, org = guard(request)
    doc = _find(org, path_guid(request, "guid", _NAMES[kind][0]), kind)
    if doc.deleted_at is not None:
        raise deleted(_NAMES[kind][1], status=404)
    if "application/octet-stream" in request.headers.get("accept", ""):
        if doc.status != "Booked":
            raise validation("Status", "Only booked documents have a PDF.")
        pdf = f"%PDF-1.4\n% Dinero sandbox {_NAMES[kind][1]} {doc.number}\n%%EOF\n"
        return Response(pdf.encode(), media_type="application/octet-stream")
    return DecimalJSONResponse(document_row(doc, org, sandbox.today()))


def _status_matches(doc: Document, org: Organization, wanted: set[str], today: date) -> bool:
    if doc.status == "Draft":
        return "Draft" in wanted
    status = payment_status(doc, org, today)
    # Overdue and booked-unpaid both count as Booked for the filter [unverified].
    return status in wanted or ("Booked" in wanted and status == "Overdue")


async def _list(request: Request, kind: DocumentKind) -> Response:
    sandbox, org = guard(request)
    params = request.query_params
    today = sandbox.today()
    filterable = INVOICE_FILTERABLE if kind == "invoice" else CREDIT_NOTE_FILTERABLE
    defaults = INVOICE_DEFAULT_FIELDS if kind == "invoice" else CREDIT_NOTE_DEFAULT_FIELDS
    matches = make_filter(params.get("queryFilter"), filterable)
    since = parse_changes_since(params.get("changesSince"))
    start, end = params.get("startDate"), params.get("endDate")
    if (start is None) != (end is None):
        raise validation("startDate", "startDate and endDate must be given together.")
    period = (
        (day({"startdate": start}, "startDate"), day({"enddate": end}, "endDate"))
        if start and end
        else None
    )
    statuses: set[str] | None = None
    if params.get("statusFilter"):
        statuses = {s.strip() for s in params["statusFilter"].split(",") if s.strip()}
        unknown = statuses - set(STATUS_FILTERS)
        if unknown:
            raise validation("statusFilter", f"Unknown status {sorted(unknown)[0]}.")
    free_text = (params.get("freeTextSearch") or "").lower()
    deleted_only = params.get("deletedOnly", "false").lower() == "true"
    everything = sorted((d for d in org.documents.values() if d.kind == kind), key=lambda d: d.seq)
    rows = []
    for doc in everything:
        row = document_row(doc, org, today)
        if (doc.deleted_at is not None) != deleted_only or not matches(row):
            continue
        if since is not None and doc.updated_at < since:
            continue
        if period is not None and not (
            period[0] and period[1] and period[0] <= doc.date <= period[1]
        ):
            continue
        if statuses is not None and not _status_matches(doc, org, statuses, today):
            continue
        if free_text and not any(
            free_text in str(row.get(k) or "").lower()
            for k in ("Description", "ContactName", "ExternalReference", "Number", "Comment")
        ):
            continue
        if doc.number is None:
            row["Number"] = DRAFT_NUMBER_SENTINEL
        rows.append(project(row, params.get("fields"), defaults))
    return DecimalJSONResponse(paginate(rows, len(everything), params))


# --- invoices --------------------------------------------------------------------------------


async def create_invoice(request: Request) -> Response:
    sandbox, org = guard(request)
    fields = _read_fields(await json_body(request), org, "invoice", sandbox.today())
    doc = _create(sandbox, org, "invoice", fields)
    return _created(doc.guid, doc.timestamp)


async def get_invoice(request: Request) -> Response:
    return await _get(request, "invoice")


async def list_invoices(request: Request) -> Response:
    return await _list(request, "invoice")


async def update_invoice(request: Request) -> Response:
    """PUT /v1.2/{org}/invoices/{guid} — replaces a draft; Timestamp required."""
    return await _update(request, "invoice")


async def delete_invoice(request: Request) -> Response:
    return await _delete(request, "invoice")


async def book_invoice(request: Request) -> Response:
    return await _book(request, "invoice")


async def fetch_invoice(request: Request) -> Response:
    """POST /v1/{org}/invoices/fetch — computes totals; saves nothing."""
    sandbox, org = guard(request)
    fields = _read_fields(await json_body(request), org, "invoice", sandbox.today())
    now = sandbox.utcnow()
    preview = Document(
        kind="invoice", guid="", seq=0, timestamp="", created_at=now, updated_at=now, **fields
    )
    row = document_row(preview, org, sandbox.today())
    row.update({"Guid": None, "TimeStamp": None, "CreatedAt": None, "UpdatedAt": None})
    return DecimalJSONResponse(row)


async def email_invoice(request: Request) -> Response:
    sandbox, org = guard(request)
    doc = _find(org, path_guid(request, "guid", "invoice"), "invoice")
    body = await json_body(request, required=False)
    _mutable(doc, timestamp(body, required=False))
    if doc.status != "Booked":
        raise validation("Status", "Only booked invoices can be e-mailed (drafts have no PDF).")
    if boolean(body, "ShouldAddTrustPilotEmailAsBcc") is None:
        # Required by the current swagger [client]; the conservative reading enforces it.
        raise validation(
            "ShouldAddTrustPilotEmailAsBcc", "ShouldAddTrustPilotEmailAsBcc is required."
        )
    message = text(body, "Message")
    if message is not None and "[link-to-pdf]" not in message:
        raise validation("Message", "Message must contain [link-to-pdf].")
    contact = org.contacts.get(doc.contact_guid) if doc.contact_guid else None
    receiver = text(body, "Receiver") or (contact.data.get("Email") if contact else None)
    if not receiver:
        raise validation("Receiver", "No receiver given and the contact has no e-mail.")
    receivers = [r.strip() for r in receiver.split(",") if r.strip()]
    org.emails.append(
        SentEmail(
            invoice_guid=doc.guid,
            sender=text(body, "Sender") or org.email or "",
            receivers=receivers,
            subject=text(body, "Subject"),
            message=message,
            sent_at=sandbox.utcnow(),
        )
    )
    doc.mail_out_status = "Sent"
    _touch(sandbox, doc)
    sandbox.persist()
    return DecimalJSONResponse({"Recipients": [{"Email": r} for r in receivers]})


async def generate_credit_note(request: Request) -> Response:
    """POST …/invoices/{guid}/generate-creditnote — a draft mirroring the booked invoice."""
    sandbox, org = guard(request)
    invoice = _find(org, path_guid(request, "guid", "invoice"), "invoice")
    body = await json_body(request)
    _mutable(invoice, timestamp(body))
    if invoice.status != "Booked":
        raise validation("Status", "Only booked invoices can be credited.")
    fields = {
        name: getattr(invoice, name)
        for name in (
            "contact_guid",
            "currency",
            "language",
            "address",
            "show_lines_incl_vat",
            "invoice_template_id",
            "payment_condition_type",
            "payment_condition_days",
        )
    }
    fields.update(
        date=sandbox.today(),
        description=f"Kreditnota for faktura {invoice.number}",
        lines=[line.model_copy() for line in invoice.lines],
        credit_note_for=invoice.guid,
    )
    note = _create(sandbox, org, "creditnote", fields)
    return _created(note.guid, note.timestamp)


# --- payments --------------------------------------------------------------------------------


def _payment_row(payment: Payment) -> dict[str, Any]:
    return {
        "Guid": payment.guid,
        "DepositAccountNumber": payment.deposit_account,
        "ExternalReference": payment.external_reference,
        "PaymentDate": payment.payment_date,
        "Description": payment.description,
        "Amount": ore_to_kroner(payment.amount_ore),
        "AmountInForeignCurrency": payment.amount_foreign,
    }


async def add_payment(request: Request) -> Response:
    """Only on booked invoices; the response TimeStamp is the invoice's new version."""
    sandbox, org = guard(request)
    invoice = _find(org, path_guid(request, "guid", "invoice"), "invoice")
    body = await json_body(request)
    _mutable(invoice, timestamp(body))
    if invoice.status != "Booked":
        raise validation("Status", "Payments can only be added to booked invoices.")
    deposit = integer(body, "DepositAccountNumber", required=True)
    account = org.accounts.get(deposit) if deposit is not None else None
    if account is None or not account.is_deposit:
        raise validation("DepositAccountNumber", f"{deposit} is not a deposit account.")
    amount = required_amount_ore(body, "Amount")
    if amount == 0:
        raise validation("Amount", "Amount must be non-zero.")
    fee = 0
    if boolean(body, "RemainderIsFee"):
        fee = max(0, remaining_ore(invoice, org) - amount) if amount > 0 else 0
    payment = Payment(
        guid=str(uuid.uuid4()),
        deposit_account=account.number,
        external_reference=text(body, "ExternalReference", max_length=MAX_REFERENCE_LENGTH),
        payment_date=day(body, "PaymentDate") or sandbox.today(),
        description=text(body, "Description"),
        amount_ore=amount,
        fee_ore=fee,
        amount_foreign=decimal(body, "AmountInForeignCurrency"),
        created_at=sandbox.utcnow(),
    )
    invoice.payments.append(payment)
    _touch(sandbox, invoice)
    sandbox.persist()
    return _created(payment.guid, invoice.timestamp)


async def list_payments(request: Request) -> Response:
    """GET /v2/{org}/invoices/{guid}/payments."""
    _, org = guard(request)
    invoice = _find(org, path_guid(request, "guid", "invoice"), "invoice")
    total = totals(invoice, org).gross_ore
    return DecimalJSONResponse(
        {
            "Payments": [_payment_row(p) for p in invoice.payments],
            "RemainingAmount": ore_to_kroner(remaining_ore(invoice, org)),
            "PaidAmount": ore_to_kroner(paid_ore(invoice)),
            "InvoiceTotalIncludingReminderExpenses": ore_to_kroner(total),
        }
    )


async def list_payments_v1(request: Request) -> Response:
    """The deprecated v1 list is in its last days: it always answers 480 here."""
    guard(request)
    return brownout_response()


def brownout_response() -> Response:
    return DecimalJSONResponse(
        {
            "code": 480,
            "message": "This version of the endpoint is deprecated and is being browned out; "
            "use the newer version.",
        },
        status_code=480,
    )


async def delete_payment(request: Request) -> Response:
    sandbox, org = guard(request)
    invoice = _find(org, path_guid(request, "guid", "invoice"), "invoice")
    payment_guid = path_guid(request, "payment", "payment")
    body = await json_body(request)
    _mutable(invoice, timestamp(body))
    payment = next((p for p in invoice.payments if p.guid == payment_guid), None)
    if payment is None:
        raise not_found("payment")
    invoice.payments.remove(payment)
    _touch(sandbox, invoice)
    sandbox.persist()
    return DecimalJSONResponse({"Guid": invoice.guid, "TimeStamp": invoice.timestamp})


# --- credit notes ----------------------------------------------------------------------------


async def create_credit_note(request: Request) -> Response:
    sandbox, org = guard(request)
    fields = _read_fields(await json_body(request), org, "creditnote", sandbox.today())
    doc = _create(sandbox, org, "creditnote", fields)
    return _created(doc.guid, doc.timestamp)


async def get_credit_note(request: Request) -> Response:
    return await _get(request, "creditnote")


async def list_credit_notes(request: Request) -> Response:
    return await _list(request, "creditnote")


async def update_credit_note(request: Request) -> Response:
    return await _update(request, "creditnote")


async def delete_credit_note(request: Request) -> Response:
    return await _delete(request, "creditnote")


async def book_credit_note(request: Request) -> Response:
    return await _book(request, "creditnote")
