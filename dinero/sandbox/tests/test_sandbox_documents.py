"""Invoice arithmetic, booking numbers, payments, credit notes, e-mail, preview, vouchers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sandbox_harness import Api, assert_dinero_error

from dinero_sandbox.process import SandboxHandle

pytestmark = pytest.mark.integration


def test_vat_per_line_from_each_account_incl_vat(api: Api) -> None:
    created = api.invoice(api.contact())
    invoice = api.get(f"/invoices/{created['Guid']}").json()
    assert (invoice["TotalExclVat"], invoice["TotalVat"], invoice["TotalInclVat"]) == (
        240.0,
        60.0,
        300.0,
    )
    first = invoice["ProductLines"][0]
    assert (first["TotalAmount"], first["TotalAmountInclVat"], first["AccountName"]) == (
        200.0,
        250.0,
        "Salg af varer/ydelser m/moms",
    )
    assert invoice["Status"] == "Draft"
    assert invoice["Number"] is None


def test_vat_excl_lines_discount_and_zero_rated_account(api: Api) -> None:
    body = {
        "ShowLinesInclVat": False,
        "ProductLines": [
            {
                "Description": "a",
                "Quantity": 3,
                "AccountNumber": 1000,
                "BaseAmountValue": 33.33,
                "Discount": 10,
            },
            {"Description": "EU B2B", "Quantity": 1, "AccountNumber": 1100, "BaseAmountValue": 100},
            {"Description": "text only", "LineType": "Text"},
        ],
    }
    preview = api.post("/invoices/fetch", body)
    assert preview.status_code == 200, preview.text
    totals = preview.json()
    # 3 x 33.33 x 0.9 = 89.991 → 89.99; VAT 22.4975 → 22.50; the EU line has none.
    assert totals["TotalExclVat"] == 189.99
    assert totals["TotalVat"] == 22.5
    assert totals["TotalInclVat"] == 212.49
    assert totals["TotalVatableAmount"] == 89.99
    assert totals["TotalNonVatableAmount"] == 100.0
    assert api.get("/invoices").json()["Pagination"]["ResultWithoutFilter"] == 0  # nothing saved


def test_amounts_are_exact_decimals_in_the_json(api: Api) -> None:
    created = api.invoice(api.contact())
    raw = api.get(f"/invoices/{created['Guid']}").text
    assert '"TotalInclVat":300.00' in raw
    parsed = api.get(f"/invoices/{created['Guid']}").json(parse_float=Decimal)
    assert parsed["TotalVat"] == Decimal("60.00")


def test_numbers_are_assigned_on_booking_sequentially_per_org(
    dinero_sandbox: SandboxHandle, api: Api
) -> None:
    contact = api.contact()
    drafts = [api.invoice(contact) for _ in range(3)]
    numbers = []
    for draft in reversed(drafts):
        booked = api.post(f"/invoices/{draft['Guid']}/book", {"Timestamp": draft["TimeStamp"]})
        numbers.append(booked.json()["Number"])
    assert numbers == [1, 2, 3]
    explicit = api.invoice(contact)
    booked = api.post(
        f"/invoices/{explicit['Guid']}/book", {"Timestamp": explicit["TimeStamp"], "Number": 10}
    ).json()
    assert booked["Number"] == 10
    assert api.booked_invoice(contact)["Number"] == 11
    # Another organisation has its own series.
    other = dinero_sandbox.password_token(dinero_sandbox.vat_free_org)
    from sandbox_harness import Api as Client

    vat_free = Client(dinero_sandbox, other, dinero_sandbox.vat_free_org)
    try:
        assert vat_free.booked_invoice(vat_free.contact())["Number"] == 1
    finally:
        vat_free.http.close()


def test_payments_v2_list_and_payment_status(api: Api) -> None:
    booked = api.booked_invoice(api.contact())
    path = f"/invoices/{booked['Guid']}/payments"
    first = api.post(
        path,
        {
            "Timestamp": booked["TimeStamp"],
            "DepositAccountNumber": 55000,
            "Amount": 100,
            "ExternalReference": "pay:1",
        },
    ).json()
    api.post(
        path,
        {
            "Timestamp": first["TimeStamp"],
            "DepositAccountNumber": 55000,
            "Amount": 200,
            "PaymentDate": "2025-03-20",
        },
    )
    listing = api.get(path, version="v2").json()
    assert [p["ExternalReference"] for p in listing["Payments"]] == ["pay:1", None]
    assert (listing["PaidAmount"], listing["RemainingAmount"]) == (300.0, 0.0)
    assert listing["InvoiceTotalIncludingReminderExpenses"] == 300.0
    assert api.get(f"/invoices/{booked['Guid']}").json()["PaymentStatus"] == "Paid"
    # The deprecated v1 list is browned out.
    assert api.get(path).status_code == 480


def test_delete_payment(api: Api) -> None:
    booked = api.booked_invoice(api.contact())
    path = f"/invoices/{booked['Guid']}/payments"
    paid = api.post(
        path, {"Timestamp": booked["TimeStamp"], "DepositAccountNumber": 55000, "Amount": 300}
    ).json()
    removed = api.delete(f"{path}/{paid['Guid']}", {"Timestamp": paid["TimeStamp"]})
    assert removed.status_code == 200, removed.text
    assert api.get(path, version="v2").json()["RemainingAmount"] == 300.0


def test_generated_credit_note_is_a_draft_that_books_and_settles(api: Api) -> None:
    booked = api.booked_invoice(api.contact())
    note = api.post(
        f"/invoices/{booked['Guid']}/generate-creditnote", {"Timestamp": booked["TimeStamp"]}
    )
    assert note.status_code == 201, note.text
    read = api.get(f"/sales/creditnotes/{note.json()['Guid']}").json()
    assert (read["Status"], read["CreditNoteFor"], read["TotalInclVat"]) == (
        "Draft",
        booked["Guid"],
        300.0,
    )
    booked_note = api.post(
        f"/sales/creditnotes/{read['Guid']}/book", {"Timestamp": read["TimeStamp"]}
    ).json()
    assert booked_note["Number"] == 2
    assert api.get(f"/invoices/{booked['Guid']}").json()["PaymentStatus"] == "Paid"
    listed = api.get("/sales/creditnotes").json()["Collection"]
    assert [row["Type"] for row in listed] == ["CreditNote"]
    filtered = api.get(
        "/sales/creditnotes", params={"queryFilter": f"ContactGuid eq '{booked['ContactGuid']}'"}
    ).json()["Collection"]
    assert len(filtered) == 1


def test_email_needs_a_booked_invoice_and_records_the_mail(
    dinero_sandbox: SandboxHandle, api: Api
) -> None:
    contact = api.contact()
    draft = api.invoice(contact)
    mail = {"ShouldAddTrustPilotEmailAsBcc": False}
    assert_dinero_error(api.post(f"/invoices/{draft['Guid']}/email", mail), 400, 42)
    booked = api.booked_invoice(contact)
    bad = api.post(f"/invoices/{booked['Guid']}/email", {**mail, "Message": "no link"})
    assert_dinero_error(bad, 400, 42)
    sent = api.post(f"/invoices/{booked['Guid']}/email", mail)
    assert sent.json() == {"Recipients": [{"Email": "anna@kunde.test"}]}
    assert api.get(f"/invoices/{booked['Guid']}").json()["MailOutStatus"] == "Sent"
    assert [m["receivers"] for m in dinero_sandbox.emails(api.org)] == [["anna@kunde.test"]]


def test_update_draft_v1_2_replaces_lines(api: Api) -> None:
    contact = api.contact()
    created = api.invoice(contact)
    response = api.put(
        f"/invoices/{created['Guid']}",
        {
            "Timestamp": created["TimeStamp"],
            "ContactGuid": contact,
            "ProductLines": [
                {"Description": "ny", "Quantity": 1, "AccountNumber": 1000, "BaseAmountValue": 80}
            ],
        },
        version="v1.2",
    )
    assert response.status_code == 200
    assert api.get(f"/invoices/{created['Guid']}").json()["TotalInclVat"] == 100.0


def test_accounts_vat_types_templates_and_settings(api: Api) -> None:
    entry = {a["AccountNumber"]: a for a in api.get("/accounts/entry").json()}
    assert entry[1000]["VatCode"] == "U25"
    assert entry[1350]["VatCode"] == "U25"
    assert entry[7220]["VatCode"] == "none"
    assert api.post("/accounts/deposit", {"Number": 55010, "Name": "Stripe"}).status_code == 201
    deposits = api.get("/accounts/deposit").json()
    assert {"AccountNumber": 55010, "Name": "Stripe"} in deposits
    assert_dinero_error(api.post("/accounts/deposit", {"Number": 55010, "Name": "x"}), 400, 42)
    codes = {v["VatCode"] for v in api.get("/vatTypes").json()}
    assert {"U25", "UEUV", "UVV"} <= codes
    template = api.get("/invoices/templates").json()[0]
    assert api.get("/sales/settings").json()["InvoiceTemplateId"] == template["Id"]


def test_voucher_lifecycle_and_list(api: Api) -> None:
    body = {
        "VoucherDate": "2025-03-18",
        "ExternalReference": "payout:1",
        "Lines": [
            {
                "Description": "x",
                "AccountNumber": 55000,
                "BalancingAccountNumber": 55040,
                "Amount": 10.00,
                "AccountVatCode": "none",
                "BalancingAccountVatCode": "NONE",
            }
        ],
    }
    created = api.post("/vouchers/manuel", body).json()
    assert set(created) == {"Guid", "Timestamp"}
    booked = api.post(
        f"/vouchers/manuel/{created['Guid']}/book", {"Timestamp": created["Timestamp"]}
    )
    assert booked.json()["VoucherNumber"] == 1
    assert booked.json()["Status"] == "Booked"
    other = api.post("/vouchers/manuel", body).json()
    assert (
        api.delete(
            f"/vouchers/manuel/{other['Guid']}", {"Timestamp": other["Timestamp"]}
        ).status_code
        == 200
    )
    listed = api.get(
        "/vouchers/manuel", params={"queryFilter": "ExternalReference eq 'payout:1'"}
    ).json()["Collection"]
    assert [v["Guid"] for v in listed] == [created["Guid"]]
