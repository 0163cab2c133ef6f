"""Request and response models: PascalCase wire names, both Timestamp spellings, guards."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from bogfoer_dinero.models import (
    NO_VAT,
    ContactCreate,
    CreditNote,
    Invoice,
    InvoiceCreate,
    MailoutRequest,
    ManualVoucher,
    ManualVoucherLine,
    PaymentCreate,
    ProductLine,
    dump_json,
    parse_response,
    query_filter,
)

LINE = ProductLine(description="Fragt", base_amount_ore=5000, account_number=1350, unit="shipment")


@pytest.mark.parametrize("spelling", ["TimeStamp", "Timestamp"])
def test_both_timestamp_spellings_are_read(spelling: str) -> None:
    body = f'{{"Guid": "g", "{spelling}": "0000000080C81AC0"}}'.encode()
    assert parse_response(Invoice, body).timestamp == "0000000080C81AC0"
    assert parse_response(ManualVoucher, body).timestamp == "0000000080C81AC0"


def test_requests_send_timestamp_spelled_for_requests() -> None:
    body = dump_json(
        PaymentCreate(timestamp="00A1", deposit_account_number=55010, amount_ore=30000)
    )
    assert body == (
        b'{"Timestamp":"00A1","DepositAccountNumber":55010,"Amount":300.00,"RemainderIsFee":false}'
    )


def test_read_amounts_become_ore_and_drafts_have_no_number() -> None:
    body = (
        b'{"Guid":"g","TotalInclVat":300.00,"TotalVat":59.995,"Number":9223372036854775807,'
        b'"ProductLines":[{"BaseAmountValue":125.00,"TotalAmountInclVat":312.5,'
        b'"Quantity":2.5}],"CreditNoteFor":"inv"}'
    )
    note = parse_response(CreditNote, body)
    assert note.total_incl_vat_ore == 30000
    assert note.total_vat_ore == 6000
    assert note.booked_number is None
    assert not note.is_booked
    assert note.product_lines is not None
    assert note.product_lines[0].total_amount_incl_vat_ore == 31250
    assert note.product_lines[0].quantity == Decimal("2.5")
    assert note.credit_note_for == "inv"


def test_unknown_request_fields_are_refused_because_dinero_would_ignore_them() -> None:
    with pytest.raises(ValidationError):
        ProductLine(description="x", base_amount_ore=1, account_number=1000, amount=5)  # type: ignore[call-arg]


def test_float_amounts_are_refused() -> None:
    with pytest.raises(ValidationError):
        ProductLine(description="x", base_amount_ore=1.5, account_number=1000)  # type: ignore[arg-type]


def test_external_reference_is_at_most_128_characters() -> None:
    InvoiceCreate(product_lines=[LINE], external_reference="x" * 128)
    with pytest.raises(ValidationError):
        InvoiceCreate(product_lines=[LINE], external_reference="x" * 129)


def test_invoice_needs_a_line_and_sensible_payment_terms() -> None:
    with pytest.raises(ValidationError):
        InvoiceCreate(product_lines=[])
    with pytest.raises(ValidationError):
        InvoiceCreate(
            product_lines=[LINE], payment_condition_type="Paid", payment_condition_number_of_days=8
        )


def test_voucher_vat_code_is_none_or_a_code_never_empty() -> None:
    line = ManualVoucherLine(
        description="gebyr", account_number=7220, amount_ore=465, account_vat_code=NO_VAT
    )
    assert b'"AccountVatCode":"none"' in dump_json(line)
    assert b"BalancingAccountVatCode" not in dump_json(line)
    with pytest.raises(ValidationError):
        ManualVoucherLine(description="x", account_number=1, amount_ore=1, account_vat_code="")


def test_payment_amount_is_non_zero() -> None:
    with pytest.raises(ValidationError):
        PaymentCreate(timestamp="t", deposit_account_number=55010, amount_ore=0)


def test_mail_message_must_link_the_pdf() -> None:
    MailoutRequest(message="Se faktura: [link-to-pdf]")
    with pytest.raises(ValidationError):
        MailoutRequest(message="no link")


def test_contact_vat_number_and_email_are_normalised() -> None:
    contact = ContactCreate(
        name="A/S", is_person=False, vat_number=" dk 1234 5678", email=" a@b.dk "
    )
    assert (contact.vat_number, contact.email) == ("DK12345678", "a@b.dk")
    assert b'"CountryKey":"DK"' in dump_json(contact)


def test_query_filter_doubles_quotes_and_joins_clauses() -> None:
    assert query_filter(ExternalReference="o'k") == "ExternalReference eq 'o''k'"
    assert query_filter(Email="a@b.dk", IsPerson=True) == "Email eq 'a@b.dk';IsPerson eq 'true'"
