"""Every error class, from a scripted Dinero (httpx.MockTransport): what is retried, what not."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import httpx
import pytest
from dinero_client_harness import make_harness

from bogfoer_dinero.client import classify
from bogfoer_dinero.errors import (
    DineroRejected,
    DineroValidationError,
    NotFound,
    RetryLater,
    StaleTimestamp,
    TenantParked,
    UnknownOutcome,
)
from bogfoer_dinero.models import (
    InvoiceCreate,
    ManualVoucherCreate,
    ManualVoucherLine,
    PaymentCreate,
    ProductLine,
)

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]

ORG = 4242
GUID = "5856516f-3c2b-4bb1-9d0b-3a7a1cbf2f10"
INVOICE = InvoiceCreate(
    external_reference="bogfoer:t1:order:1",
    product_lines=[ProductLine(description="T-shirt", base_amount_ore=12500, account_number=1000)],
)


def scripted(*replies: Reply):  # type: ignore[no-untyped-def]
    queue = list(replies)

    async def api(request: httpx.Request) -> httpx.Response:
        reply = queue.pop(0)
        if isinstance(reply, Exception):
            if isinstance(reply, httpx.RequestError):
                reply._request = request
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    return api


async def org_client(*replies: Reply):  # type: ignore[no-untyped-def]
    h = make_harness(scripted(*replies))
    await h.auth().exchange_code("t1", "c", "https://app.test/cb")
    return h, h.client.organisation("t1", ORG)


def dinero_error(status: int, code: int, message: str, **extra: object) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, **extra})


def booked(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={"Guid": GUID, "TimeStamp": "0000000080C81B07", "Status": "Booked", "Number": 7},
    )


# --- RetryLater ---------------------------------------------------------------------------


async def test_429_on_a_read_honours_retry_after_and_holds_the_bucket() -> None:
    h, org = await org_client(
        httpx.Response(429, text="API calls quota exceeded! (...)", headers={"Retry-After": "7"}),
        booked,
    )
    invoice = await org.get_invoice(GUID)
    assert invoice.number == 7
    assert h.sleeps == [7.0]
    assert len(h.api_calls) == 2


async def test_repeated_429_becomes_retry_later_with_the_servers_wait() -> None:
    limited = httpx.Response(429, text="API calls quota exceeded!", headers={"Retry-After": "3"})
    h, org = await org_client(*[limited] * 4)
    with pytest.raises(RetryLater) as caught:
        await org.get_invoice(GUID)
    assert caught.value.retry_after == 3.0
    assert caught.value.status_code == 429
    assert len(h.api_calls) == h.client.config.max_attempts


async def test_429_without_retry_after_backs_off_with_full_jitter() -> None:
    limited = httpx.Response(429, text="API calls quota exceeded!")
    h, org = await org_client(limited, limited, booked)
    await org.get_invoice(GUID)
    base = h.client.config.backoff_base_seconds
    assert h.sleeps == [0.5 * base * 2, 0.5 * base * 4]  # rng fixed at 0.5


async def test_a_write_refused_with_429_is_resent_because_nothing_happened() -> None:
    created = httpx.Response(200, json={"Guid": GUID, "TimeStamp": "00000000000000A1"})
    h, org = await org_client(httpx.Response(429, headers={"Retry-After": "1"}), created)
    ref = await org.create_invoice(INVOICE)
    assert ref.guid == GUID
    assert len(h.api_calls) == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(503, text="unavailable"),
        httpx.Response(480, json={"code": 480, "message": "deprecated"}),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
    ],
    ids=["500", "503", "480-brownout", "read-timeout", "connection-reset"],
)
async def test_reads_are_retried_after_transient_failures(failure: Reply) -> None:
    h, org = await org_client(failure, booked)
    assert (await org.get_invoice(GUID)).number == 7
    assert len(h.api_calls) == 2


async def test_reads_give_up_with_retry_later() -> None:
    _h, org = await org_client(*[httpx.Response(502, text="bad gateway")] * 4)
    with pytest.raises(RetryLater) as caught:
        await org.list_invoices()
    assert caught.value.status_code == 502


async def test_a_brownout_on_a_write_is_retry_later_and_not_resent() -> None:
    h, org = await org_client(httpx.Response(480, text="deprecated endpoint"))
    with pytest.raises(RetryLater):
        await org.create_invoice(INVOICE)
    assert len(h.api_calls) == 1


async def test_a_write_that_never_connected_is_resent() -> None:
    created = httpx.Response(200, json={"Guid": GUID, "TimeStamp": "00000000000000A1"})
    _h, org = await org_client(httpx.ConnectError("refused"), created)
    assert (await org.create_invoice(INVOICE)).guid == GUID


# --- UnknownOutcome -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response"),
        httpx.ReadError("connection reset"),
        httpx.Response(500, text="oops"),
        httpx.Response(504, text="gateway timeout"),
    ],
    ids=["read-timeout", "disconnect", "reset", "500", "504"],
)
async def test_a_write_whose_answer_was_lost_is_an_unknown_outcome_never_resent(
    failure: Reply,
) -> None:
    h, org = await org_client(failure)
    with pytest.raises(UnknownOutcome) as caught:
        await org.create_invoice(INVOICE)
    assert len(h.api_calls) == 1
    assert caught.value.method == "POST"
    assert caught.value.path == f"/v1/{ORG}/invoices"


@pytest.mark.parametrize("method", ["book", "delete", "pay"])
async def test_every_write_verb_has_unknown_outcomes(method: str) -> None:
    h, org = await org_client(httpx.ReadTimeout("slow"))
    payment = PaymentCreate(
        timestamp="0000000080C81AC0", deposit_account_number=55000, amount_ore=30000
    )
    calls = {
        "book": lambda: org.book_invoice(GUID, "0000000080C81AC0"),
        "delete": lambda: org.delete_invoice(GUID, "0000000080C81AC0"),
        "pay": lambda: org.add_payment(GUID, payment),
    }
    with pytest.raises(UnknownOutcome):
        await calls[method]()
    assert len(h.api_calls) == 1


# --- StaleTimestamp, TenantParked, DineroValidationError, NotFound -------------------------


async def test_code_58_is_stale_timestamp() -> None:
    h, org = await org_client(dinero_error(400, 58, "Timestamp outdated"))
    with pytest.raises(StaleTimestamp) as caught:
        await org.book_invoice(GUID, "0000000080C81AC0")
    assert caught.value.code == 58
    assert len(h.api_calls) == 1


@pytest.mark.parametrize("code", [90, 48, 41])
async def test_403_parks_the_tenant(code: int) -> None:
    h, org = await org_client(dinero_error(403, code, "No active subscription"))
    with pytest.raises(TenantParked) as caught:
        await org.vat_types()
    assert caught.value.code == code
    assert len(h.api_calls) == 1


async def test_validation_error_carries_dineros_message_code_and_raw_body() -> None:
    body = {
        "code": 42,
        "message": "Validation error",
        "validationErrors": {"ProductLines": "An invoice must have at least one line"},
        "languageSpecificMessages": [],
        "errorMessageList": [],
    }
    _h, org = await org_client(httpx.Response(400, json=body))
    with pytest.raises(DineroValidationError) as caught:
        await org.create_invoice(INVOICE)
    error = caught.value
    assert isinstance(error, DineroRejected)
    assert error.code == 42
    assert "An invoice must have at least one line" in error.message
    assert error.raw_body is not None
    assert json.loads(error.raw_body) == body
    assert error.status_code == 400


async def test_413_is_a_validation_error() -> None:
    _h, org = await org_client(httpx.Response(413, text="Request Entity Too Large"))
    with pytest.raises(DineroValidationError, match="Too Large"):
        await org.create_invoice(INVOICE)


async def test_html_404_is_not_found() -> None:
    _h, org = await org_client(httpx.Response(404, text="<html><body>Not found</body></html>"))
    with pytest.raises(NotFound) as caught:
        await org.get_invoice(GUID)
    assert caught.value.raw_body is not None
    assert "<html>" in caught.value.raw_body


async def test_a_deleted_item_is_not_found() -> None:
    _h, org = await org_client(
        dinero_error(
            400,
            65,
            "Item is deleted",
            validationErrors={"message": "Invalid InvoiceGuid, the invoice is deleted."},
        )
    )
    with pytest.raises(NotFound, match="deleted"):
        await org.book_invoice(GUID, "0000000080C81AC0")


async def test_unexpected_response_shape_is_rejected_with_the_raw_body() -> None:
    _h, org = await org_client(httpx.Response(200, json={"Nope": 1}))
    with pytest.raises(DineroValidationError) as caught:
        await org.get_invoice(GUID)
    assert caught.value.raw_body == '{"Nope":1}'


def test_classify_success_is_none() -> None:
    request = httpx.Request("GET", "https://dinero.test/v1/1/invoices")
    assert classify(httpx.Response(201, request=request), write=True) is None


def test_retry_after_as_http_date() -> None:
    request = httpx.Request("GET", "https://dinero.test/v1/1/invoices")
    error = classify(
        httpx.Response(
            429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, request=request
        ),
        write=False,
    )
    assert isinstance(error, RetryLater)
    assert error.retry_after == 0.0


# --- the wire ------------------------------------------------------------------------------


async def test_amounts_go_out_as_exact_json_numbers() -> None:
    created = httpx.Response(200, json={"Guid": GUID, "Timestamp": "00000000020A6F10"})
    h, org = await org_client(created)
    voucher = ManualVoucherCreate(
        voucher_date=date(2025, 3, 18),
        external_reference="bogfoer:t1:payout:1",
        lines=[
            ManualVoucherLine(
                description="Stripe udbetaling",
                account_number=55000,
                balancing_account_number=55010,
                amount_ore=29535,
                account_vat_code="none",
                balancing_account_vat_code="none",
            ),
            ManualVoucherLine(description="Refusion", account_number=55000, amount_ore=-1),
        ],
    )
    ref = await org.create_manual_voucher(voucher)
    assert ref.timestamp == "00000000020A6F10"  # "Timestamp" spelling read too
    request = h.api_calls[-1]
    assert request.url.path == f"/v1/{ORG}/vouchers/manuel"
    raw = request.content.decode()
    assert '"Amount":295.35' in raw
    assert '"Amount":-0.01' in raw
    body = json.loads(raw, parse_float=Decimal)
    assert body["Lines"][0]["Amount"] == Decimal("295.35")
    assert body["VoucherDate"] == "2025-03-18"
    assert "BalancingAccountNumber" not in body["Lines"][1]  # None is left out, not null


async def test_created_with_an_empty_201_is_found_by_external_reference() -> None:
    def lookup(request: httpx.Request) -> httpx.Response:
        assert request.url.params["queryFilter"] == "ExternalReference eq 'bogfoer:t1:order:1'"
        return httpx.Response(
            200,
            json={
                "Collection": [{"Guid": GUID, "TimeStamp": "00000000000000A1"}],
                "Pagination": {"PageSize": 100, "Result": 1, "Page": 0},
            },
        )

    _h, org = await org_client(httpx.Response(201), lookup)
    ref = await org.create_invoice(INVOICE)
    assert (ref.guid, ref.timestamp) == (GUID, "00000000000000A1")


async def test_iter_invoices_pages_from_zero_until_a_short_page() -> None:
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        size = int(request.url.params["pageSize"])
        count = size if number < 2 else 1
        return httpx.Response(
            200,
            json={
                "Collection": [{"Guid": f"g{number}-{i}"} for i in range(count)],
                "Pagination": {"PageSize": size, "Result": count, "Page": number},
            },
        )

    h, org = await org_client(page, page, page)
    guids = [i.guid async for i in org.iter_invoices(page_size=2, status_filter=["Booked"])]
    assert guids == ["g0-0", "g0-1", "g1-0", "g1-1", "g2-0"]
    assert [r.url.params["page"] for r in h.api_calls] == ["0", "1", "2"]
    assert h.api_calls[0].url.params["statusFilter"] == "Booked"


async def test_payments_are_listed_on_v2() -> None:
    payments = {
        "Payments": [
            {
                "Guid": "p1",
                "DepositAccountNumber": 55010,
                "Amount": 300.00,
                "ExternalReference": "x",
                "PaymentDate": "2025-03-14",
            }
        ],
        "RemainingAmount": 0.0,
        "PaidAmount": 300.0,
        "InvoiceTotalIncludingReminderExpenses": 300.0,
    }
    h, org = await org_client(httpx.Response(200, json=payments))
    result = await org.list_payments(GUID)
    assert h.api_calls[-1].url.path == f"/v2/{ORG}/invoices/{GUID}/payments"
    assert result.payments[0].amount_ore == 30000
    assert result.paid_amount_ore == 30000


async def test_contact_search_normalises_and_skips_deleted() -> None:
    def contacts(request: httpx.Request) -> httpx.Response:
        assert request.url.params["queryFilter"] == "VatNumber eq 'DK12345678'"
        return httpx.Response(
            200,
            json={
                "Collection": [
                    {"ContactGuid": "c1", "VatNumber": "DK12345678"},
                    {"ContactGuid": "c0", "VatNumber": "DK12345678", "DeletedAt": "2024-01-01"},
                ],
                "Pagination": {"PageSize": 1000, "Result": 2, "Page": 0},
            },
        )

    _h, org = await org_client(contacts)
    found = await org.find_contacts(vat_number=" dk 1234 5678 ")
    assert [c.contact_guid for c in found] == ["c1"]
