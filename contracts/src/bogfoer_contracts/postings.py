"""What must happen in Dinero (commands) and what did happen (results).

Every command carries a deterministic `posting_key`: it is the document's
ExternalReference in Dinero, the poster's claim key and the ledger's primary key.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StrictBool, StrictInt, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, core_schema

from bogfoer_contracts.ids import TenantId
from bogfoer_contracts.model import (
    ContractModel,
    as_dicts,
    checked_first,
    checked_text_schema,
    checked_text_validator,
    model_json,
    storable_json,
)
from bogfoer_contracts.money import Currency, MinorUnits


# Commands are derived from events that passed the contracts' door (`events.py`); their
# dates are Danish days of those times, so they take plain dates without the events' window.
class _Model(ContractModel):
    pass


class ContactSpec(_Model):
    name: str
    email: str | None = None
    country: str
    is_person: StrictBool = True
    vat_number: str | None = None


class InvoiceLineSpec(_Model):
    description: str
    quantity: Annotated[StrictInt, Field(gt=0)]
    unit_price: MinorUnits = Field(description="Incl. VAT when the document shows lines incl. VAT")
    account_number: StrictInt
    unit: str = "parts"
    vat_rate: Annotated[StrictInt, Field(ge=0, le=10000)] | None = Field(
        default=None,
        description="The VAT rate (basis points, 2500 = 25 %) the rules expect Dinero to apply"
        " on the line's account; the poster checks it against the organisation's chart before"
        " the document is written",
    )


class VoucherLineSpec(_Model):
    description: str
    account_number: StrictInt
    balancing_account_number: StrictInt
    amount: MinorUnits = Field(description="Positive debits account, credits balancing account")
    account_vat_code: str = "none"
    balancing_account_vat_code: str = "none"
    supersedes: str | None = Field(
        default=None,
        max_length=128,
        description="The posting key under which this amount was booked on its own before"
        " (a fee voucher per balance transaction, before fees were grouped per payout): the"
        " poster leaves the line out when it knows that posting, so nothing is booked twice",
    )


class _Command(_Model):
    posting_key: str = Field(max_length=128)
    tenant_id: TenantId
    organization_id: StrictInt
    source_event_ids: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(
        default_factory=list, description="Posting keys that must be done first"
    )
    issued_at: AwareDatetime
    revision: Annotated[StrictInt, Field(ge=0)] = Field(
        default=0,
        description="0 when first mapped; +1 each time the sale is re-mapped (remap_posting), "
        "so the poster and the ledger tell a re-mapped command from a redelivered duplicate",
    )
    summary: StrictBool = Field(
        default=False,
        description="Booked as part of a daily summary document (the poster gathers the day's"
        " members and posts one document for them), not as a document of its own",
    )


class EnsureContact(_Command):
    kind: Literal["contact"] = "contact"
    contact: ContactSpec


class CreateInvoice(_Command):
    kind: Literal["invoice"] = "invoice"
    contact_key: str
    date: dt.date
    currency: Currency
    description: str
    comment: str | None = Field(default=None, description="Printed on the invoice")
    lines: Annotated[list[InvoiceLineSpec], Field(min_length=1)]
    show_lines_incl_vat: StrictBool = True
    expected_total: MinorUnits
    expected_vat: MinorUnits
    booking: Literal["draft", "booked", "booked_and_emailed"]
    invoice_template_id: str | None = None
    payment_condition_type: Literal["Netto", "NettoCash", "CurrentMonthOut", "Paid"] = "Paid"
    payment_condition_days: StrictInt | None = None


class RegisterPayment(_Command):
    kind: Literal["payment"] = "payment"
    invoice_key: str
    amount: MinorUnits
    currency: Currency
    deposit_account: StrictInt
    payment_date: dt.date
    description: str


class CreateCreditNote(_Command):
    kind: Literal["credit_note"] = "credit_note"
    invoice_key: str
    contact_key: str
    date: dt.date
    currency: Currency
    description: str
    lines: Annotated[list[InvoiceLineSpec], Field(min_length=1)]
    show_lines_incl_vat: StrictBool = True
    expected_total: MinorUnits
    expected_vat: MinorUnits | None = Field(
        default=None, description="Checked against Dinero's TotalVat before booking"
    )
    booking: Literal["draft", "booked", "booked_and_emailed"]


class CreateVoucher(_Command):
    """A manual voucher (finansbilag): fees and payouts."""

    kind: Literal["voucher"] = "voucher"
    purpose: Literal["fee", "payout"]
    date: dt.date
    lines: Annotated[list[VoucherLineSpec], Field(min_length=1)]


PostingCommand = Annotated[
    EnsureContact | CreateInvoice | RegisterPayment | CreateCreditNote | CreateVoucher,
    Field(discriminator="kind"),
]
POSTING_COMMAND: TypeAdapter[PostingCommand] = TypeAdapter(PostingCommand)
# The same validator without the models' walks for unstorable text, for JSON text that
# `storable_json` proved storable (`checked_text_validator`). A command has no `Timestamp`
# (its `issued_at` is a plain aware date-time), so nothing else is rewritten.
_POSTING_COMMAND_CHECKED_TEXT = checked_text_validator(POSTING_COMMAND)


def parse_command(raw: bytes | str) -> PostingCommand:
    """`POSTING_COMMAND.validate_json(raw)` (a Kafka record's value), for less: where the
    text proves itself storable, no walk over its parts (they cost half of the ledger's
    time per command). Accepts, refuses and builds exactly what the full validation does;
    bad UTF-8 or JSON is a ValidationError like any other refusal."""
    if storable_json(raw):
        checked: PostingCommand = checked_first(
            _POSTING_COMMAND_CHECKED_TEXT, POSTING_COMMAND, raw, True
        )
        return checked
    return POSTING_COMMAND.validate_json(raw)


# A command's date-times and days as its dump writes them (`canonical_command`): to the
# second, a fraction only when not zero and then in six digits, the offset `Z` for UTC and
# ±HH:MM otherwise; a day YYYY-MM-DD. The parse decides whether they are times at all.
# (The pattern engine has no look-ahead: "not all zero" and "not 00:00" are spelt out.)
_NONZERO_FRACTION = "|".join("0" * n + "[1-9]" + "[0-9]" * (5 - n) for n in range(6))
_CANONICAL_TIME = core_schema.str_schema(
    pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    rf"(\.({_NONZERO_FRACTION}))?"
    r"(Z|[+-](0[1-9]|1[0-9]|2[0-3]):[0-5][0-9]|[+-]00:(0[1-9]|[1-5][0-9]))$"
)
_CANONICAL_DAY = core_schema.str_schema(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# What a command's schema may hold for `_canonical`: each takes a JSON value only as the
# value it is (strict ints and booleans, strings, arrays, objects, null) or is rewritten.
_AS_WRITTEN = frozenset(
    {
        "tagged-union",
        "typed-dict",
        "str",
        "int",
        "bool",
        "literal",
        "nullable",
        "list",
        "definitions",
        "definition-ref",
    }
)


def _canonical(schema: Any) -> Any:
    """`schema` (a command's, `model.as_dicts`) taking only text as the dump writes it:
    every field required (none left to its default) and date-times and days in the dump's
    form (`_CANONICAL_TIME`). Raises at import for a part it cannot vouch for (a lax
    number, a float, a type added later): the models' way would still decide right, but
    what this accepts must be what the dump writes."""
    if isinstance(schema, list):
        return [_canonical(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind == "typed-dict-field":
        inner = schema["schema"]
        if inner.get("type") == "default":
            inner = inner["schema"]
        return {**schema, "schema": _canonical(inner), "required": True}
    if kind == "datetime":
        return core_schema.chain_schema([_CANONICAL_TIME, schema])
    if kind == "date":
        return core_schema.chain_schema([_CANONICAL_DAY, schema])
    lax = kind in ("int", "bool") and not schema.get("strict")
    if kind is not None and (kind not in _AS_WRITTEN or lax):
        raise TypeError(f"a command's {kind} schema is not known to take only its dump's text")
    return {key: _canonical(value) for key, value in schema.items()}


_POSTING_COMMAND_CANONICAL = SchemaValidator(
    _canonical(as_dicts(checked_text_schema(POSTING_COMMAND)))
)


def canonical_command(raw: bytes | str) -> dict[str, Any] | None:
    """The command JSON text `raw` holds, as plain dicts of its fields (`model.as_dicts`:
    the models' fields, checks and refusals), when `raw` is the command as its dump writes
    it: every field written (none left to its default), date-times and days in the dump's
    form, nothing the validation would convert (strict numbers and booleans). Then `raw`
    and `command_json(parse_command(raw))` are the same JSON value — the same fields with
    the same values, at most in another order, with other white space or escapes, none of
    which `jsonb` keeps — so `raw` can be stored where the dump would be, and the text
    is JSON PostgreSQL reads (nothing unstorable, `storable_json`). None when that is not
    shown, the command refused included: `parse_command` decides, with its reason."""
    if not storable_json(raw):
        return None
    try:
        document: dict[str, Any] = _POSTING_COMMAND_CANONICAL.validate_json(raw)
    except ValidationError:
        return None
    return document


def command_json(command: PostingCommand) -> bytes:
    """`POSTING_COMMAND.dump_json(command)`, byte for byte, by the command's own model's
    serializer: the union's looks for the member the command is first (5 µs of 8 a
    command, the mapper's every command). An invoice's is remembered (`model_json`): its
    order's state writes it again with every later event of the order (`OrderState`)."""
    if type(command) is CreateInvoice:
        return model_json(command)
    return command.__pydantic_serializer__.to_json(command)


PostingKind = Literal["contact", "invoice", "payment", "credit_note", "voucher"]


def document_date(command: PostingCommand) -> dt.date | None:
    """The date a command's document carries in Dinero (None for a contact)."""
    match command:
        case CreateInvoice() | CreateCreditNote() | CreateVoucher():
            return command.date
        case RegisterPayment():
            return command.payment_date
        case EnsureContact():
            return None


def amount_of(command: PostingCommand) -> int | None:
    """The money a command moves, in minor units (None for a contact)."""
    match command:
        case CreateInvoice() | CreateCreditNote():
            return command.expected_total
        case RegisterPayment():
            return command.amount
        case CreateVoucher():
            return sum(line.amount for line in command.lines)
        case EnsureContact():
            return None


class PostingError(_Model):
    category: Literal["validation", "not_found", "parked", "retry_exhausted", "held", "internal"]
    message: str
    dinero_code: StrictInt | None = None
    raw: str | None = Field(default=None, description="Dinero's body, for the dead letter")


class PostingResult(_Model):
    posting_key: str = Field(max_length=128)
    tenant_id: TenantId
    kind: PostingKind
    status: Literal["done", "waiting", "failed", "parked", "held"]
    dinero_guid: str | None = None
    dinero_number: StrictInt | None = None
    dinero_timestamp: str | None = None
    amount: MinorUnits | None = None
    attempts: StrictInt = 1
    error: PostingError | None = None
    detail: str | None = Field(default=None, description="Why waiting, in words for ops")
    at: AwareDatetime
