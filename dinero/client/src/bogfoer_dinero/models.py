"""Typed request and response bodies of the Dinero API, and their exact JSON encoding.

Python names are snake_case; on the wire they are PascalCase. Money fields end in `_ore`: they
hold integer øre in Python and Dinero's decimal kroner on the wire, converted by `money.py`.
Request models refuse unknown fields (Dinero silently ignores a misspelt one, so we must not
send one); response models ignore fields they do not know. Responses are parsed with
`parse_response`, which reads JSON numbers as `Decimal`, never as float.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Final, Generic, Literal, Self, TypeVar
from uuid import UUID

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_pascal

from bogfoer_dinero.money import dinero_to_ore, ore_to_dinero

__all__ = [
    "NO_VAT",
    "NUMBER_NOT_ASSIGNED",
    "BookRequest",
    "Contact",
    "ContactCreate",
    "ContactCreated",
    "Created",
    "CreditNote",
    "CreditNoteCreate",
    "DepositAccount",
    "DepositAccountCreate",
    "EntryAccount",
    "Invoice",
    "InvoiceCreate",
    "InvoiceLine",
    "InvoicePayments",
    "InvoicePreview",
    "InvoiceTemplate",
    "MailoutRequest",
    "MailoutResult",
    "ManualVoucher",
    "ManualVoucherCreate",
    "ManualVoucherLine",
    "Organisation",
    "Page",
    "Pagination",
    "Payment",
    "PaymentCreate",
    "ProductLine",
    "SalesSettings",
    "TimestampBody",
    "VatType",
    "dump_json",
    "parse_response",
    "query_filter",
]

#: Send as a voucher line's VAT code to post without VAT; `None` means "the account's default".
NO_VAT: Final = "none"
#: Dinero's `Number` on drafts in list results: not a real number.
NUMBER_NOT_ASSIGNED: Final = 9223372036854775807


def _amount_from_dinero(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, Decimal | int | str):
        return dinero_to_ore(value)
    raise TypeError(f"a Dinero amount must be a JSON number, got {type(value).__name__}")


#: Integer øre in Python; a decimal kroner number on the wire (requests).
Ore = Annotated[StrictInt, PlainSerializer(ore_to_dinero, return_type=Decimal)]
#: A Dinero decimal kroner amount read into integer øre (responses).
OreFromDinero = Annotated[int, BeforeValidator(_amount_from_dinero)]
#: Accept both spellings of the concurrency token on read.
_TIMESTAMP = AliasChoices("TimeStamp", "Timestamp", "timestamp")
ExternalReference = Annotated[str, Field(max_length=128)]


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_pascal,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
    )


class _Request(_Wire):
    model_config = ConfigDict(extra="forbid")


class _Response(_Wire):
    model_config = ConfigDict(extra="ignore")


# --- reading and writing JSON -------------------------------------------------------------

_ResponseT = TypeVar("_ResponseT")


def parse_response(model: type[_ResponseT], content: bytes) -> _ResponseT:
    """Parse a Dinero JSON body into `model` (a model class, or `list[Model]`)."""
    from pydantic import TypeAdapter

    data = json.loads(content, parse_float=Decimal)
    return TypeAdapter(model).validate_python(data)


def _encode(value: Any) -> str:
    # A small JSON writer so that Decimal goes out as a JSON number with its exact digits;
    # the standard encoder would need a float (inexact) or a string (not a number).
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("refusing to send a non-finite decimal")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise TypeError("floats are never sent to Dinero; use Decimal")
    if isinstance(value, dt.datetime):
        return json.dumps(value.isoformat())
    if isinstance(value, dt.date):
        return json.dumps(value.isoformat())
    if isinstance(value, UUID):
        return json.dumps(str(value))
    if isinstance(value, Enum):
        return _encode(value.value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dump_json(model: BaseModel) -> bytes:
    """The request body for `model`: PascalCase keys, unset optionals left out, exact numbers."""
    return _encode(model.model_dump(mode="python", by_alias=True, exclude_none=True)).encode()


def query_filter(**clauses: str | bool) -> str:
    """Dinero's `queryFilter`: `Prop eq 'value'` clauses joined by `;`, quotes doubled.

    >>> query_filter(ExternalReference="o'k")
    "ExternalReference eq 'o''k'"
    """
    parts = []
    for prop, value in clauses.items():
        text = ("true" if value else "false") if isinstance(value, bool) else value
        parts.append(f"{prop} eq '{text.replace(chr(39), chr(39) * 2)}'")
    return ";".join(parts)


# --- organisations, accounts, settings ----------------------------------------------------


class Organisation(_Response):
    id: int
    name: str | None = None
    is_pro: bool | None = None
    is_vat_free: bool | None = None
    vat_number: str | None = None
    email: str | None = None


class EntryAccount(_Response):
    account_number: int
    name: str | None = None
    vat_code: str | None = None
    category: str | None = None
    is_hidden: bool | None = None
    is_default_sales_account: bool | None = None


class DepositAccount(_Response):
    account_number: int
    name: str | None = None


class DepositAccountCreate(_Request):
    number: int
    name: str
    registration_number: str | None = None
    account_number: str | None = None
    iban_number: str | None = None
    swift_number: str | None = None


class VatType(_Response):
    vat_code: str
    name: str | None = None
    vat_rate: Decimal | None = None


class InvoiceTemplate(_Response):
    id: str
    name: str | None = None
    is_default: bool | None = None


class SalesSettings(_Response):
    lines_incl_vat: bool | None = None
    default_account_number: int | None = None
    invoice_template_id: str | None = None
    fik_code: str | None = None
    use_fik_code: bool | None = None


# --- contacts -----------------------------------------------------------------------------


def normalise_vat_number(value: str) -> str:
    """Dinero filters are exact matches, so VAT numbers are stored and searched as `DK12345678`."""
    return "".join(value.split()).upper()


class ContactCreate(_Request):
    name: str
    country_key: str = Field(default="DK", min_length=2, max_length=2)
    is_person: bool
    is_member: bool = False
    use_cvr: bool = False
    external_reference: ExternalReference | None = None
    email: str | None = None
    street: str | None = None
    zip_code: str | None = None
    city: str | None = None
    vat_number: str | None = None
    ean_number: str | None = None
    phone: str | None = None
    att_person: str | None = None
    payment_condition_type: str | None = None
    payment_condition_number_of_days: int | None = None
    preferred_invoice_language_key: str | None = None
    preferred_invoice_currency_key: str | None = None

    @field_validator("email")
    @classmethod
    def _trim_email(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @field_validator("vat_number")
    @classmethod
    def _normalise_vat(cls, value: str | None) -> str | None:
        return normalise_vat_number(value) if value is not None else None


class ContactCreated(_Response):
    contact_guid: str = Field(validation_alias=AliasChoices("ContactGuid", "Guid", "contact_guid"))


class Contact(_Response):
    contact_guid: str = Field(validation_alias=AliasChoices("ContactGuid", "Guid", "contact_guid"))
    name: str | None = None
    external_reference: str | None = None
    email: str | None = None
    vat_number: str | None = None
    ean_number: str | None = None
    country_key: str | None = None
    is_person: bool | None = None
    is_member: bool | None = None
    use_cvr: bool | None = None
    street: str | None = None
    zip_code: str | None = None
    city: str | None = None
    phone: str | None = None
    att_person: str | None = None
    payment_condition_type: str | None = None
    payment_condition_number_of_days: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    deleted_at: str | None = None


# --- invoices and credit notes ------------------------------------------------------------

PaymentConditionType = Literal["Netto", "NettoCash", "CurrentMonthOut", "Paid"]


class ProductLine(_Request):
    """One invoice line. `base_amount_ore` is the unit price, excl. VAT unless the document
    says `show_lines_incl_vat`; the line's VAT follows its account's VAT type."""

    description: str
    quantity: Decimal = Decimal(1)
    base_amount_ore: Ore = Field(alias="BaseAmountValue")
    account_number: int
    discount: Decimal = Field(default=Decimal(0), ge=0, le=100)
    unit: str | None = None
    comments: str | None = None
    product_guid: str | None = None
    line_type: Literal["Product", "Text"] | None = None


class InvoiceCreate(_Request):
    product_lines: list[ProductLine] = Field(min_length=1)
    contact_guid: str | None = None
    date: dt.date | None = None
    currency: str | None = None
    language: Literal["da-DK", "en-GB"] | None = None
    external_reference: ExternalReference | None = None
    description: str | None = None
    comment: str | None = None
    address: str | None = None
    show_lines_incl_vat: bool = False
    payment_condition_type: PaymentConditionType | None = None
    payment_condition_number_of_days: int | None = None
    invoice_template_id: str | None = None

    @model_validator(mode="after")
    def _days_only_where_they_mean_something(self) -> Self:
        if (
            self.payment_condition_type in ("NettoCash", "Paid")
            and self.payment_condition_number_of_days is not None
        ):
            raise ValueError("payment_condition_number_of_days must be None for NettoCash/Paid")
        return self


class InvoiceUpdate(InvoiceCreate):
    """A draft's new content (`PUT /v1.2/{org}/invoices/{guid}`): the create body plus the
    draft's current Timestamp."""

    timestamp: str


class CreditNoteCreate(InvoiceCreate):
    """A credit note draft; line amounts are positive, the document type makes it a credit."""

    credit_note_for: str | None = None


class Created(_Response):
    """What a create answers: the new entity's Guid and its first Timestamp."""

    guid: str
    timestamp: str | None = Field(default=None, validation_alias=_TIMESTAMP)


class TimestampBody(_Request):
    timestamp: str


class BookRequest(_Request):
    timestamp: str
    number: int | None = None


class InvoiceLine(_Response):
    description: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    account_number: int | None = None
    account_name: str | None = None
    discount: Decimal | None = None
    line_type: str | None = None
    product_guid: str | None = None
    comments: str | None = None
    base_amount_ore: OreFromDinero | None = Field(default=None, alias="BaseAmountValue")
    base_amount_incl_vat_ore: OreFromDinero | None = Field(
        default=None, alias="BaseAmountValueInclVat"
    )
    total_amount_ore: OreFromDinero | None = Field(default=None, alias="TotalAmount")
    total_amount_incl_vat_ore: OreFromDinero | None = Field(
        default=None, alias="TotalAmountInclVat"
    )


class TotalLine(_Response):
    type: str | None = None
    total_amount_ore: OreFromDinero | None = Field(default=None, alias="TotalAmount")
    position: int | None = None
    label: str | None = None


class _InvoiceFields(_Response):
    timestamp: str | None = Field(default=None, validation_alias=_TIMESTAMP)
    status: str | None = None
    payment_status: str | None = None
    number: int | None = None
    contact_guid: str | None = None
    contact_name: str | None = None
    date: dt.date | None = None
    payment_date: dt.date | None = None
    payment_condition_type: str | None = None
    payment_condition_number_of_days: int | None = None
    deposit_account_number: int | None = None
    show_lines_incl_vat: bool | None = None
    total_excl_vat_ore: OreFromDinero | None = Field(default=None, alias="TotalExclVat")
    total_vat_ore: OreFromDinero | None = Field(default=None, alias="TotalVat")
    total_incl_vat_ore: OreFromDinero | None = Field(default=None, alias="TotalInclVat")
    total_vatable_amount_ore: OreFromDinero | None = Field(default=None, alias="TotalVatableAmount")
    total_non_vatable_amount_ore: OreFromDinero | None = Field(
        default=None, alias="TotalNonVatableAmount"
    )
    total_lines: list[TotalLine] | None = None
    currency: str | None = None
    language: str | None = None
    external_reference: str | None = None
    description: str | None = None
    comment: str | None = None
    invoice_template_id: str | None = None
    mail_out_status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    deleted_at: str | None = None
    product_lines: list[InvoiceLine] | None = None


class Invoice(_InvoiceFields):
    """An invoice as read; list results carry only the fields asked for, so all are optional."""

    guid: str

    @property
    def booked_number(self) -> int | None:
        """The number Dinero assigned at booking; None for a draft (and for the sentinel)."""
        if self.number is None or self.number == NUMBER_NOT_ASSIGNED:
            return None
        return self.number

    @property
    def is_booked(self) -> bool:
        return self.booked_number is not None or self.status == "Booked"


class CreditNote(Invoice):
    credit_note_for: str | None = None


class InvoicePreview(_InvoiceFields):
    """What `invoices/fetch` computes for an unsaved invoice (no Guid yet)."""

    guid: str | None = None


class Pagination(_Response):
    max_page_size_allowed: int | None = None
    page_size: int
    result: int
    result_without_filter: int | None = None
    page: int


_ItemT = TypeVar("_ItemT")


class Page(_Response, Generic[_ItemT]):
    collection: list[_ItemT]
    pagination: Pagination

    @property
    def is_last(self) -> bool:
        """Dinero's rule: the last page is the one with fewer results than the page size."""
        return self.pagination.result < self.pagination.page_size


class MailoutRequest(_Request):
    timestamp: str | None = None
    sender: str | None = None
    cc_to_sender: bool | None = None
    receiver: str | None = None
    subject: str | None = None
    message: str | None = None
    add_voucher_as_pdf_attachment: bool | None = None
    should_add_trust_pilot_email_as_bcc: bool = False

    @field_validator("message")
    @classmethod
    def _message_links_the_pdf(cls, value: str | None) -> str | None:
        if value is not None and "[link-to-pdf]" not in value:
            raise ValueError("a mail message must contain [link-to-pdf]")
        return value


class Recipient(_Response):
    email: str


class MailoutResult(_Response):
    recipients: list[Recipient] = []


# --- payments ----------------------------------------------------------------------------


class PaymentCreate(_Request):
    """A payment on a booked invoice. `timestamp` is the invoice's current one."""

    timestamp: str
    deposit_account_number: int
    amount_ore: Ore = Field(alias="Amount")
    external_reference: ExternalReference | None = None
    payment_date: dt.date | None = None
    description: str | None = None
    amount_in_foreign_currency_ore: Ore | None = Field(
        default=None, alias="AmountInForeignCurrency"
    )
    remainder_is_fee: bool = False

    @field_validator("amount_ore")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a payment amount must be non-zero")
        return value


class Payment(_Response):
    guid: str
    deposit_account_number: int | None = None
    external_reference: str | None = None
    payment_date: dt.date | None = None
    description: str | None = None
    amount_ore: OreFromDinero = Field(alias="Amount")
    amount_in_foreign_currency_ore: OreFromDinero | None = Field(
        default=None, alias="AmountInForeignCurrency"
    )


class InvoicePayments(_Response):
    payments: list[Payment]
    remaining_amount_ore: OreFromDinero | None = Field(default=None, alias="RemainingAmount")
    paid_amount_ore: OreFromDinero | None = Field(default=None, alias="PaidAmount")
    invoice_total_including_reminder_expenses_ore: OreFromDinero | None = Field(
        default=None, alias="InvoiceTotalIncludingReminderExpenses"
    )


# --- manual vouchers ----------------------------------------------------------------------


class ManualVoucherLine(_Request):
    """A positive amount debits `account_number` and credits `balancing_account_number`.

    VAT codes: None means "the account's default VAT code" (a VAT-bearing account then adds
    VAT silently); `NO_VAT` posts without VAT. An empty string is refused.
    """

    description: str
    account_number: int
    balancing_account_number: int | None = None
    amount_ore: Ore = Field(alias="Amount")
    account_vat_code: str | None = None
    balancing_account_vat_code: str | None = None

    @field_validator("account_vat_code", "balancing_account_vat_code")
    @classmethod
    def _no_empty_vat_code(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("use None (account default) or NO_VAT, never an empty VAT code")
        return value


class ManualVoucherCreate(_Request):
    voucher_date: dt.date
    lines: list[ManualVoucherLine] = Field(min_length=1)
    external_reference: ExternalReference | None = None
    file_guid: str | None = None


class ManualVoucherLineRead(_Response):
    description: str | None = None
    account_number: int | None = None
    balancing_account_number: int | None = None
    amount_ore: OreFromDinero | None = Field(default=None, alias="Amount")
    account_vat_code: str | None = None
    balancing_account_vat_code: str | None = None
    amount_excl_vat_ore: OreFromDinero | None = Field(default=None, alias="AmountExclVatValue")
    amount_incl_vat_ore: OreFromDinero | None = Field(default=None, alias="AmountInclVatValue")
    vat_amount_ore: OreFromDinero | None = Field(default=None, alias="VatAmountValue")


class ManualVoucher(_Response):
    guid: str = Field(validation_alias=AliasChoices("Guid", "VoucherGuid", "guid"))
    timestamp: str | None = Field(default=None, validation_alias=_TIMESTAMP)
    voucher_number: int | None = None
    status: str | None = None
    voucher_date: dt.date | None = None
    external_reference: str | None = None
    file_guid: str | None = None
    lines: list[ManualVoucherLineRead] | None = None
    deleted_at: str | None = None
