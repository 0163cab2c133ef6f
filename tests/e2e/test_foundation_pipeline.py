"""An event posted to ingest travels through Kafka, the mapper and the poster into the
sandbox and the ledger: the four services as separate processes on real infrastructure."""

from __future__ import annotations

from typing import Any

from bogfoer_devstack.sales import goods, order, shipping


def test_an_order_posted_to_ingest_is_booked_in_dinero_and_recorded_in_the_ledger(
    new_tenant: Any, operator: Any
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    placed = order("1001", lines=[goods("1", 12500, 2), shipping(5000)])
    response = tenant.shop.send(
        "order.placed", "order-1001-created", "2026-11-20T10:00:00+01:00", placed
    )
    assert response.status_code == 202, response.text

    rows = operator.wait_settled(tenant.tenant_id, expected=2)
    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["contact"]["state"] == "done"
    assert by_kind["invoice"]["state"] == "done"
    assert by_kind["invoice"]["dinero_number"] is not None
    assert by_kind["invoice"]["amount_minor"] == 30000
    # Goods 2 x 125,00 and shipping 50,00 incl. 25 % VAT: 240,00 + 60,00 VAT.
    assert tenant.trial_balance() == {53000: 30000, 1000: -20000, 1350: -4000, 64000: -6000}
