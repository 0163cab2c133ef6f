"""Collection/Pagination paging (0-based), fields, queryFilter, changesSince, invoice filters."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from sandbox_harness import Api, assert_dinero_error

pytestmark = pytest.mark.integration


def test_pages_are_zero_based_and_report_dinero_pagination(api: Api) -> None:
    guids = [api.contact(Name=f"Kunde {i}", ExternalReference=f"ref-{i}") for i in range(5)]
    pages = [api.get("/contacts", params={"page": p, "pageSize": 2}).json() for p in range(3)]
    assert [len(p["Collection"]) for p in pages] == [2, 2, 1]
    assert pages[2]["Pagination"] == {
        "MaxPageSizeAllowed": 1000,
        "PageSize": 2,
        "Result": 1,
        "ResultWithoutFilter": 5,
        "Page": 2,
    }
    assert [row["ContactGuid"] for p in pages for row in p["Collection"]] == guids
    assert set(pages[0]["Collection"][0]) == {"ContactGuid", "Name"}


def test_query_filter_eq_contains_and_joined(api: Api) -> None:
    api.contact(Name="O'Brien ApS", Email="ob@x.dk", VatNumber="DK11111111")
    api.contact(Name="Brien Holding", Email="bh@x.dk", VatNumber="DK22222222")
    api.contact(Name="Other", Email="ob@x.dk")

    def names(query: str) -> list[str]:
        response = api.get("/contacts", params={"queryFilter": query, "fields": "Name"})
        assert response.status_code == 200, response.text
        return [row["Name"] for row in response.json()["Collection"]]

    assert names("Name eq 'O''Brien ApS'") == ["O'Brien ApS"]
    assert names("Name contains 'Brien'") == ["O'Brien ApS", "Brien Holding"]
    assert names("Email eq 'ob@x.dk';Name contains 'O'") == ["O'Brien ApS", "Other"]
    assert names("Email eq 'ob@x.dk';Name eq 'Other'") == ["Other"]
    assert names("VatNumber eq 'dk11111111'") == []  # exact, case-sensitive
    assert names("vatnumber eq 'DK22222222'") == ["Brien Holding"]  # field names are not
    assert names("Name eq 'a;b'") == []
    assert_dinero_error(api.get("/contacts", params={"queryFilter": "City eq 'x'"}), 400, 42)
    assert_dinero_error(api.get("/contacts", params={"queryFilter": "Name eq 'x"}), 400, 42)


def test_fields_are_case_insensitive_and_echo_the_callers_casing(api: Api) -> None:
    api.contact(ExternalReference="shop:1")
    row = api.get("/contacts", params={"fields": "name,EXTERNALREFERENCE"}).json()["Collection"][0]
    assert row == {"name": "Anna Kunde", "EXTERNALREFERENCE": "shop:1"}


def test_changes_since_filters_on_update_time(api: Api) -> None:
    api.contact(Name="Before")
    time.sleep(1.1)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)
    api.contact(Name="After")
    rows = api.get("/contacts", params={"changesSince": since}).json()["Collection"]
    assert [r["Name"] for r in rows] == ["After"]
    assert_dinero_error(api.get("/contacts", params={"changesSince": "yesterday"}), 400, 42)


def test_invoice_list_filters_by_reference_dates_and_status(api: Api) -> None:
    contact = api.contact()
    booked = api.booked_invoice(contact, ExternalReference="shop:order:1", Date="2025-03-01")
    draft = api.invoice(contact, ExternalReference="shop:order:2", Date="2025-04-01")
    fields = "Guid,Number,ExternalReference,Status,TotalInclVat,TimeStamp"

    def rows(**params: str) -> list[dict[str, object]]:
        response = api.get("/invoices", params={"fields": fields, **params})
        assert response.status_code == 200, response.text
        result: list[dict[str, object]] = response.json()["Collection"]
        return result

    by_ref = rows(queryFilter="ExternalReference eq 'shop:order:1'")
    assert by_ref == [
        {
            "Guid": booked["Guid"],
            "Number": 1,
            "ExternalReference": "shop:order:1",
            "Status": "Booked",
            "TotalInclVat": 300.0,
            "TimeStamp": booked["TimeStamp"],
        }
    ]
    assert [r["Guid"] for r in rows(startDate="2025-03-15", endDate="2025-04-30")] == [
        draft["Guid"]
    ]
    assert [r["Guid"] for r in rows(statusFilter="Draft")] == [draft["Guid"]]
    assert [r["Guid"] for r in rows(statusFilter="Booked,Paid")] == [booked["Guid"]]
    assert rows(statusFilter="Draft")[0]["Number"] == 9223372036854775807
    assert_dinero_error(api.get("/invoices", params={"startDate": "2025-01-01"}), 400, 42)
    default = api.get("/invoices").json()["Collection"][0]
    assert set(default) == {"Guid", "ContactName", "Date", "Description"}


def test_timestamps_are_16_hex_digits_and_change_on_every_mutation(api: Api) -> None:
    contact = api.contact()
    created = api.invoice(contact)
    stamps = [created["TimeStamp"]]
    updated = api.put(
        f"/invoices/{created['Guid']}",
        {
            "Timestamp": created["TimeStamp"],
            "ContactGuid": contact,
            "ProductLines": [
                {"Description": "x", "Quantity": 1, "AccountNumber": 1000, "BaseAmountValue": 100}
            ],
        },
        version="v1.2",
    ).json()
    stamps.append(updated["TimeStamp"])
    booked = api.post(f"/invoices/{created['Guid']}/book", {"Timestamp": updated["TimeStamp"]})
    stamps.append(booked.json()["TimeStamp"])
    paid = api.post(
        f"/invoices/{created['Guid']}/payments",
        {"Timestamp": stamps[-1], "DepositAccountNumber": 55000, "Amount": 125},
    ).json()
    stamps.append(paid["TimeStamp"])
    assert api.get(f"/invoices/{created['Guid']}").json()["TimeStamp"] == stamps[-1]
    assert all(re.fullmatch(r"[0-9A-F]{16}", s) for s in stamps)
    assert len(set(stamps)) == len(stamps)
