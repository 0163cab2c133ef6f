"""The sandbox's whole state as pydantic models, with optional JSON-file persistence."""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

DocumentKind = Literal["invoice", "creditnote"]
BookingStatus = Literal["Draft", "Booked"]


class Account(BaseModel):
    number: int
    name: str
    vat_code: str | None = None
    category: str
    is_hidden: bool = False
    is_default_sales: bool = False
    is_deposit: bool = False
    registration_number: str | None = None
    bank_account_number: str | None = None
    iban: str | None = None
    swift: str | None = None


class VatType(BaseModel):
    code: str
    name: str
    rate: Decimal
    # The ledger account the VAT amount is posted to; None for zero-rated codes.
    vat_account: int | None = None


class Contact(BaseModel):
    guid: str
    seq: int
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class Line(BaseModel):
    line_type: str = "Product"
    description: str = ""
    comments: str | None = None
    quantity: Decimal = Decimal(0)
    unit: str | None = None
    account_number: int | None = None
    base_amount: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    product_guid: str | None = None


class Payment(BaseModel):
    guid: str
    deposit_account: int
    external_reference: str | None = None
    payment_date: date
    description: str | None = None
    amount_ore: int
    fee_ore: int = 0
    amount_foreign: Decimal | None = None
    created_at: datetime


class Document(BaseModel):
    """An invoice or a sales credit note: same fields, opposite ledger direction."""

    kind: DocumentKind
    guid: str
    seq: int
    status: BookingStatus = "Draft"
    number: int | None = None
    timestamp: str
    contact_guid: str | None = None
    date: date
    currency: str = "DKK"
    language: str = "da-DK"
    external_reference: str | None = None
    description: str | None = None
    comment: str | None = None
    address: str | None = None
    payment_condition_type: str | None = None
    payment_condition_days: int | None = None
    show_lines_incl_vat: bool = False
    invoice_template_id: str | None = None
    lines: list[Line] = Field(default_factory=list)
    credit_note_for: str | None = None
    payments: list[Payment] = Field(default_factory=list)
    mail_out_status: str | None = None
    booked_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class VoucherLine(BaseModel):
    description: str | None = None
    account_number: int
    balancing_account_number: int | None = None
    amount_ore: int
    account_vat_code: str | None = None
    balancing_account_vat_code: str | None = None


class Voucher(BaseModel):
    guid: str
    seq: int
    status: BookingStatus = "Draft"
    number: int | None = None
    timestamp: str
    voucher_date: date
    external_reference: str | None = None
    file_guid: str | None = None
    lines: list[VoucherLine] = Field(default_factory=list)
    booked_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class SentEmail(BaseModel):
    invoice_guid: str
    sender: str
    receivers: list[str]
    subject: str | None = None
    message: str | None = None
    sent_at: datetime


class Organization(BaseModel):
    id: int
    name: str
    is_pro: bool
    is_vat_free: bool = False
    vat_number: str | None = None
    email: str | None = None
    api_key: str
    accounts: dict[int, Account]
    vat_types: list[VatType]
    template_id: str
    contacts: dict[str, Contact] = Field(default_factory=dict)
    documents: dict[str, Document] = Field(default_factory=dict)
    vouchers: dict[str, Voucher] = Field(default_factory=dict)
    # Invoices and credit notes share one number series [unverified]; vouchers have their own.
    next_number: int = 1
    next_voucher_number: int = 1
    emails: list[SentEmail] = Field(default_factory=list)

    def vat_type(self, code: str | None) -> VatType | None:
        if code is None or code.lower() == "none":
            return None
        for vat in self.vat_types:
            if vat.code.upper() == code.upper():
                return vat
        return None


class AuthCode(BaseModel):
    code: str
    client_id: str
    user: str
    redirect_uri: str
    scope: str
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    expires_at: float
    used: bool = False


class AccessToken(BaseModel):
    token: str
    client_id: str
    user: str | None  # None for the legacy password grant
    orgs: list[int]
    scope: str
    expires_at: float
    grant_id: str


class RefreshToken(BaseModel):
    token: str
    client_id: str
    user: str
    orgs: list[int]
    scope: str
    grant_id: str
    consumed_at: float | None = None


class AuthState(BaseModel):
    codes: dict[str, AuthCode] = Field(default_factory=dict)
    access: dict[str, AccessToken] = Field(default_factory=dict)
    refresh: dict[str, RefreshToken] = Field(default_factory=dict)
    revoked_grants: list[str] = Field(default_factory=list)


class ConnectUser(BaseModel):
    """A Visma Connect user made through the admin API (`connect_user` of a created
    organisation), beside the seeded ones: a test's own shop owner, who reaches only the
    organisations made for them."""

    subject: str
    email: str
    orgs: list[int] = Field(default_factory=list)


class State(BaseModel):
    orgs: dict[int, Organization]
    auth: AuthState = Field(default_factory=AuthState)
    users: dict[str, ConnectUser] = Field(default_factory=dict)  # by e-mail
    # The row-version counter behind every 16-hex-digit TimeStamp; one per sandbox, like SQL
    # Server's rowversion is one per database.
    rowversion: int = 0x80C81AC0
    seq: int = 0

    def next_timestamp(self) -> str:
        self.rowversion += 1
        return f"{self.rowversion:016X}"

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


def save(state: State, path: Path) -> None:
    """Write atomically, so a crash mid-write leaves the previous file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(state.model_dump_json())
    Path(tmp).replace(path)


def load(path: Path) -> State | None:
    if not path.exists():
        return None
    return State.model_validate_json(path.read_text(encoding="utf-8"))
