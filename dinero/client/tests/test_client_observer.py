"""What the client reports for metrics: each call's operation and outcome, and rate-limit waits."""

from __future__ import annotations

import httpx
import pytest
from test_client_errors import GUID, INVOICE, org_client

from bogfoer_dinero import UnknownOutcome, operation_of


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.waits: list[tuple[str, float]] = []

    def call(self, tenant: str, operation: str, status: str, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append((tenant, operation, status))

    def rate_limit_wait(self, tenant: str, seconds: float) -> None:
        self.waits.append((tenant, seconds))


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("GET", "/v1/organizations", "GET organizations"),
        ("GET", "/v1/4242/invoices", "GET invoices"),
        ("POST", f"/v1/4242/invoices/{GUID}/book", "POST invoices/{id}/book"),
        ("GET", f"/v1.2/4242/invoices/{GUID}", "GET invoices/{id}"),
        ("post", "/v2/4242/vouchers/manuel", "POST vouchers/manuel"),
        ("GET", "/v1/4242/accounts/entry", "GET accounts/entry"),
        ("DELETE", f"/v1/4242/sales/creditnotes/{GUID}", "DELETE sales/creditnotes/{id}"),
        ("GET", "/", "GET /"),
    ],
)
def test_an_operation_is_the_path_without_version_organisation_or_ids(
    method: str, path: str, operation: str
) -> None:
    assert operation_of(method, path) == operation


async def test_every_attempt_is_reported_with_its_status_429_included() -> None:
    created = httpx.Response(200, json={"Guid": GUID, "TimeStamp": "00000000000000A1"})
    h, org = await org_client(httpx.Response(429, headers={"Retry-After": "1"}), created)
    recorder = Recorder()
    h.client._transport.observer = recorder
    await org.create_invoice(INVOICE)
    assert recorder.calls == [("t1", "POST invoices", "429"), ("t1", "POST invoices", "200")]
    assert [tenant for tenant, _ in recorder.waits] == ["t1", "t1"]


async def test_a_write_whose_answer_is_lost_is_reported_as_unknown_outcome() -> None:
    h, org = await org_client(httpx.ReadTimeout("lost"))
    recorder = Recorder()
    h.client._transport.observer = recorder
    with pytest.raises(UnknownOutcome):
        await org.create_invoice(INVOICE)
    assert recorder.calls == [("t1", "POST invoices", "unknown_outcome")]


async def test_a_server_error_after_a_write_is_reported_as_unknown_outcome() -> None:
    h, org = await org_client(httpx.Response(502, text="bad gateway"))
    recorder = Recorder()
    h.client._transport.observer = recorder
    with pytest.raises(UnknownOutcome):
        await org.create_invoice(INVOICE)
    assert recorder.calls == [("t1", "POST invoices", "unknown_outcome")]
