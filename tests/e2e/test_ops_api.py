"""The ops API answers amounts as integers in minor units (it answered the sums as strings)."""

from __future__ import annotations

from typing import Any

import httpx

from bogfoer_devstack.sales import AT, goods, order


def test_amounts_are_integers_in_json(
    new_tenant: Any, operator: Any, stack: Any, http: httpx.Client
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    sent = tenant.shop.send("order.placed", "I1-placed", AT, order("I1", lines=[goods("1", 12500)]))
    assert sent.status_code == 202
    rows = operator.wait_settled(tenant.tenant_id, expected=2)
    assert {r["amount_minor"] for r in rows if r["kind"] == "invoice"} == {12500}
    ledger = stack.url("ledger")
    for path in ("/v1/counts", f"/v1/tenants/{tenant.tenant_id}/counts"):
        counts = http.get(ledger + path, headers=operator.viewer).json()
        mine = [c for c in counts if c["tenant_id"] == tenant.tenant_id]
        assert {(c["kind"], c["amount_minor"]) for c in mine} == {
            ("contact", 0),
            ("invoice", 12500),
        }
        assert all(type(c["amount_minor"]) is int and type(c["count"]) is int for c in mine)
