"""What Dinero rejects, the sandbox rejects, with Dinero's error shape and codes."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sandbox_harness import Api, assert_dinero_error

pytestmark = pytest.mark.integration


def test_contact_without_required_fields_is_42(api: Api) -> None:
    response = api.post("/contacts", {"Name": "Only a name"})
    body = assert_dinero_error(response, 400, 42)
    assert "CountryKey" in body["validationErrors"]


def test_invoice_without_lines_is_45(api: Api) -> None:
    response = api.post("/invoices", {"ContactGuid": api.contact(), "ProductLines": []})
    assert assert_dinero_error(response, 400, 45)["validationErrors"] == {
        "ProductLines": "A document must have at least one line."
    }


def test_unknown_account_on_a_line_is_42(api: Api) -> None:
    response = api.post(
        "/invoices",
        {
            "ProductLines": [
                {"Description": "x", "Quantity": 1, "AccountNumber": 1999, "BaseAmountValue": 10}
            ]
        },
    )
    body = assert_dinero_error(response, 400, 42)
    assert "ProductLines[0].AccountNumber" in body["validationErrors"]


def test_stale_timestamp_is_58_on_book_update_and_delete(api: Api) -> None:
    created = api.invoice(api.contact())
    stale = "0000000000000001"
    assert_dinero_error(
        api.post(f"/invoices/{created['Guid']}/book", {"Timestamp": stale}), 400, 58
    )
    update = api.put(
        f"/invoices/{created['Guid']}",
        {
            "Timestamp": stale,
            "ProductLines": [{"Description": "x", "Quantity": 1, "AccountNumber": 1000}],
        },
        version="v1.2",
    )
    assert_dinero_error(update, 400, 58)
    assert_dinero_error(api.delete(f"/invoices/{created['Guid']}", {"Timestamp": stale}), 400, 58)


def test_book_without_timestamp_is_42(api: Api) -> None:
    created = api.invoice(api.contact())
    body = assert_dinero_error(api.post(f"/invoices/{created['Guid']}/book", {}), 400, 42)
    assert "Timestamp" in body["validationErrors"]


def test_payment_on_a_draft_is_rejected(api: Api) -> None:
    created = api.invoice(api.contact())
    response = api.post(
        f"/invoices/{created['Guid']}/payments",
        {"Timestamp": created["TimeStamp"], "DepositAccountNumber": 55000, "Amount": 300},
    )
    assert assert_dinero_error(response, 400, 42)["validationErrors"] == {
        "Status": "Payments can only be added to booked invoices."
    }


def test_payment_needs_a_deposit_account_and_a_nonzero_amount(api: Api) -> None:
    booked = api.booked_invoice(api.contact())
    path = f"/invoices/{booked['Guid']}/payments"
    not_deposit = api.post(
        path, {"Timestamp": booked["TimeStamp"], "DepositAccountNumber": 1000, "Amount": 1}
    )
    assert "DepositAccountNumber" in assert_dinero_error(not_deposit, 400, 42)["validationErrors"]
    zero = api.post(
        path, {"Timestamp": booked["TimeStamp"], "DepositAccountNumber": 55000, "Amount": 0}
    )
    assert "Amount" in assert_dinero_error(zero, 400, 42)["validationErrors"]


def test_credit_note_only_against_a_booked_invoice(api: Api) -> None:
    draft = api.invoice(api.contact())
    generated = api.post(
        f"/invoices/{draft['Guid']}/generate-creditnote", {"Timestamp": draft["TimeStamp"]}
    )
    assert_dinero_error(generated, 400, 42)
    created = api.post(
        "/sales/creditnotes",
        {
            "CreditNoteFor": draft["Guid"],
            "ContactGuid": api.contact(),
            "ProductLines": [
                {"Description": "x", "Quantity": 1, "AccountNumber": 1000, "BaseAmountValue": 10}
            ],
        },
    )
    assert "CreditNoteFor" in assert_dinero_error(created, 400, 42)["validationErrors"]


def test_not_found_codes(api: Api) -> None:
    assert_dinero_error(api.get(f"/invoices/{uuid.uuid4()}"), 404, 63)
    assert_dinero_error(api.get("/invoices/not-a-guid"), 404, 40)
    assert_dinero_error(api.get(f"/vouchers/manuel/{uuid.uuid4()}"), 404, 63)


def test_deleted_draft_is_65(api: Api) -> None:
    created = api.invoice(api.contact())
    assert (
        api.delete(f"/invoices/{created['Guid']}", {"Timestamp": created["TimeStamp"]}).status_code
        == 200
    )
    assert_dinero_error(api.get(f"/invoices/{created['Guid']}"), 404, 65)
    body = assert_dinero_error(
        api.post(f"/invoices/{created['Guid']}/book", {"Timestamp": created["TimeStamp"]}), 400, 65
    )
    assert body["message"] == "Item is deleted"


def test_delete_needs_the_timestamp_in_the_body(api: Api) -> None:
    created = api.invoice(api.contact())
    response = api.http.request(
        "DELETE",
        api.url(f"/invoices/{created['Guid']}"),
        params={"timestamp": created["TimeStamp"]},
    )
    assert_dinero_error(response, 400, 42)


def test_unknown_route_is_an_html_404(api: Api) -> None:
    for path in ("/v1/123456/no-such-thing", "/v1/123456/vouchers/manual", "/nothing"):
        response = api.http.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "<html" in response.text


def test_booked_invoice_cannot_be_updated_or_booked_again(api: Api) -> None:
    booked = api.booked_invoice(api.contact())
    again = api.post(f"/invoices/{booked['Guid']}/book", {"Timestamp": booked["TimeStamp"]})
    assert_dinero_error(again, 400, 42)
    update = api.put(
        f"/invoices/{booked['Guid']}",
        {
            "Timestamp": booked["TimeStamp"],
            "ProductLines": [{"Description": "x", "Quantity": 1, "AccountNumber": 1000}],
        },
        version="v1.2",
    )
    assert_dinero_error(update, 400, 42)


def test_booking_with_a_used_number_fails(api: Api) -> None:
    contact = api.contact()
    first = api.booked_invoice(contact)
    second = api.invoice(contact)
    response = api.post(
        f"/invoices/{second['Guid']}/book",
        {"Timestamp": second["TimeStamp"], "Number": first["Number"]},
    )
    assert "Number" in assert_dinero_error(response, 400, 42)["validationErrors"]


def test_voucher_rejects_empty_vat_code_and_unknown_account(api: Api) -> None:
    base = {
        "Description": "x",
        "AccountNumber": 7220,
        "BalancingAccountNumber": 55000,
        "Amount": 1.00,
    }
    empty = api.post(
        "/vouchers/manuel",
        {"VoucherDate": "2025-03-18", "Lines": [{**base, "AccountVatCode": ""}]},
    )
    assert_dinero_error(empty, 400, 42)
    unknown = api.post(
        "/vouchers/manuel",
        {"VoucherDate": "2025-03-18", "Lines": [{**base, "AccountNumber": 9999}]},
    )
    assert_dinero_error(unknown, 400, 42)
    no_date = api.post("/vouchers/manuel", {"Lines": [base]})
    assert "VoucherDate" in assert_dinero_error(no_date, 400, 42)["validationErrors"]


def test_page_size_over_1000_is_out_of_range(api: Api) -> None:
    assert_dinero_error(api.get("/contacts", params={"pageSize": 1001}), 400, 43)


def test_money_is_never_read_as_float(api: Api) -> None:
    """Three decimals on a payment amount are refused, not rounded through a float."""
    booked = api.booked_invoice(api.contact())
    response = api.post(
        f"/invoices/{booked['Guid']}/payments",
        {"Timestamp": booked["TimeStamp"], "DepositAccountNumber": 55000, "Amount": 0.105},
    )
    assert_dinero_error(response, 400, 42)


def test_json_errors_are_json(api: Api) -> None:
    response = api.http.post(
        api.url("/invoices"), content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_dinero_error(response, 400, 42)
    assert isinstance(response, httpx.Response)
