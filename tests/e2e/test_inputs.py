"""Nothing misattributed, nothing lost, no 5xx (issue 12, findings 1, 2 and 10), through the
four services as processes and the Dinero sandbox."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from bogfoer_devstack.sales import goods, order
from bogfoer_devstack.stack import Stack

AT = "2026-11-20T10:00:00+01:00"


def test_two_customers_whose_addresses_differ_only_in_plus_and_underscore_get_their_own_invoices(
    new_tenant: Any, operator: Any
) -> None:
    """Finding 1: the second customer's invoice was booked to the first customer's contact
    and e-mailed to the first customer."""
    tenant = new_tenant(booking_mode="booked_and_emailed", trigger="order_placed")
    customers = {"P1": "jens+shop@example.dk", "U1": "jens_shop@example.dk"}
    for order_id, email in customers.items():
        placed = order(order_id, lines=[goods("1", 10000)], email=email)
        response = tenant.shop.send("order.placed", f"{order_id}-placed", AT, placed)
        assert response.status_code == 202, response.text

    rows = operator.wait_settled(tenant.tenant_id, expected=4)
    assert sorted(r["kind"] for r in rows if r["state"] == "done") == [
        "contact",
        "contact",
        "invoice",
        "invoice",
    ]
    contacts = {r["dinero_guid"] for r in rows if r["kind"] == "contact"}
    assert len(contacts) == 2
    mailed = {
        mail["invoice_guid"]: mail["receivers"] for mail in tenant.sandbox.emails(tenant.org_id)
    }
    by_order = {
        r["posting_key"].rsplit(":", 1)[1]: mailed[r["dinero_guid"]]
        for r in rows
        if r["kind"] == "invoice"
    }
    assert by_order == {"P1": ["jens+shop@example.dk"], "U1": ["jens_shop@example.dk"]}


def test_orders_c_slash_1_and_c_underscore_1_are_both_booked(
    new_tenant: Any, operator: Any
) -> None:
    """Finding 2: the second order was answered 202 and then silently never booked."""
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    for order_id, price in (("C/1", 10000), ("C_1", 20000)):
        placed = order(order_id, lines=[goods("1", price)])
        response = tenant.shop.send("order.placed", f"{order_id}-placed", AT, placed)
        assert response.status_code == 202, response.text

    rows = operator.wait_settled(tenant.tenant_id, expected=3)
    invoices = sorted(r["amount_minor"] for r in rows if r["kind"] == "invoice")
    assert invoices == [10000, 20000]
    assert {r["state"] for r in rows} == {"done"}
    # Both are in the books: 100,00 + 200,00 incl. 25 % VAT.
    assert tenant.trial_balance() == {53000: 30000, 1000: -24000, 64000: -6000}


def test_an_amount_no_store_can_hold_is_refused_at_the_door(new_tenant: Any) -> None:
    """Found by the fuzz suite: an amount of 2**63 øre was answered 202, mapped, and then
    overflowed the ledger's bigint, so the posting never reached the books."""
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    placed = order("BIG-1", lines=[goods("1", 2**63)])
    response = tenant.shop.send("order.placed", "BIG-1-placed", AT, placed)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["reason"] == "invalid_event"
    assert "less than or equal to" in str(response.json()["error"]["detail"])


def test_settings_with_a_nul_are_refused_for_a_connected_tenant(
    new_tenant: Any, stack: Stack, http: httpx.Client
) -> None:
    """Finding 10: Dinero knew the organisation, so the settings went on to PostgreSQL,
    which refused the NUL: 500."""
    tenant = new_tenant()
    body = {"dinero_organization_id": tenant.org_id, "cutover": "2026-01-01"}
    url = f"{stack.url('poster')}/v1/tenants/{tenant.tenant_id}/settings"
    refused = http.put(
        url, json={**body, "collective_contact_name": "Web\x00shop"}, headers=_admin(stack)
    )
    assert refused.status_code == 422, refused.text
    assert http.put(url, json=body, headers=_admin(stack)).status_code == 200


def _admin(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token}"}


@pytest.mark.parametrize(
    ("case", "path"),
    [
        ("NUL in a tenant", "/v1/tenants/t%00x/postings"),
        ("NUL in a posting key", "/v1/tenants/{t}/postings/bogfoer%00x"),
        ("NUL in a state", "/v1/tenants/{t}/postings?state=done%00"),
        ("NUL in a kind", "/v1/tenants/{t}/postings?kind=%00"),
        ("NUL in a dead-letter tenant", "/v1/dead-letters?tenant=%00"),
        ("an unknown state", "/v1/tenants/{t}/postings?state=teleported"),
        ("a surrogate in a posting key", "/v1/tenants/{t}/postings/%ED%A0%80"),
        ("a number for a day", "/v1/tenants/{t}/postings?updated_to=0"),
        ("a day before the contracts' years", "/v1/tenants/{t}/postings?updated_from=1970-01-01"),
    ],
)
def test_the_ledger_answers_absurd_parameters_with_4xx(
    stack: Stack, http: httpx.Client, case: str, path: str
) -> None:
    response = http.get(stack.url("ledger") + path.format(t="shop-a"), headers=_admin(stack))
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    assert set(response.json()["error"]) == {"reason", "detail"}


@pytest.mark.parametrize("dead_letter_id", ["99999999999999999999", "0", "-1", "%00"])
def test_a_dead_letter_id_out_of_range_is_4xx(
    stack: Stack, http: httpx.Client, dead_letter_id: str
) -> None:
    response = http.post(
        f"{stack.url('ledger')}/v1/dead-letters/{dead_letter_id}/redrive", headers=_admin(stack)
    )
    assert 400 <= response.status_code < 500, (dead_letter_id, response.text)


@pytest.mark.parametrize(
    ("case", "method", "path", "body"),
    [
        ("a surrogate in an API key", "PUT", "/v1/tenants/shop-a/dinero/api-key",
         b'{"api_key": "abcdefgh\\ud800"}'),
        ("NUL in an authorization code", "POST", "/v1/tenants/shop-a/dinero/authorization-code",
         b'{"code": "c\\u0000", "redirect_uri": "https://example.dk/cb"}'),
        ("a re-drive key %00", "POST", "/v1/tenants/shop-a/postings/%00/redrive", b""),
        ("a re-drive key of junk", "POST", "/v1/tenants/shop-a/postings/a%20b/redrive", b""),
    ],
)  # fmt: skip
def test_the_poster_admin_api_answers_unstorable_input_with_4xx(
    stack: Stack, http: httpx.Client, case: str, method: str, path: str, body: bytes
) -> None:
    response = http.request(
        method,
        stack.url("poster") + path,
        content=body,
        headers={**_admin(stack), "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)


async def test_settings_answer_503_rather_than_hang_when_dinero_budget_is_spent(
    new_tenant: Any, stack: Stack
) -> None:
    """Found by the fuzz suite: each settings check makes four Dinero calls; once the
    organisation's rate budget (100 a minute) was spent, a PUT waited up to a whole minute."""
    tenant = new_tenant()
    url = f"{stack.url('poster')}/v1/tenants/{tenant.tenant_id}/settings"
    body = {"dinero_organization_id": tenant.org_id, "cutover": "2026-01-01"}
    async with httpx.AsyncClient(timeout=25) as client:

        async def put() -> tuple[int, float, str | None]:
            started = time.monotonic()
            r = await client.put(url, json=body, headers=_admin(stack))
            return r.status_code, time.monotonic() - started, r.headers.get("Retry-After")

        answers = await asyncio.gather(*(put() for _ in range(40)))
    statuses = sorted({status for status, _, _ in answers})
    assert statuses == [200, 503], answers
    assert max(took for _, took, _ in answers) < 20, answers
    assert all(after for status, _, after in answers if status == 503)


def test_a_read_token_label_with_a_nul_is_422(stack: Stack, http: httpx.Client) -> None:
    """Found by the fuzz suite: the label went to PostgreSQL, which refused the NUL: 500."""
    response = http.post(
        f"{stack.url('ledger')}/v1/tenants/shop-a/read-tokens",
        content=b'{"label": "platform\\u0000"}',
        headers={**_admin(stack), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
