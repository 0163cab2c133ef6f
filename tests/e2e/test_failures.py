"""What goes wrong in Dinero is visible, isolated to its tenant, and recoverable:
validation failures go to the dead-letter topic with Dinero's message and can be re-driven;
a tenant whose consent is revoked is parked, not failed posting by posting."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bogfoer_devstack.sales import AT, goods, order


def _admin(stack: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token}"}


def test_a_dinero_validation_failure_is_dead_lettered_and_re_driven_after_the_fix(
    new_tenant: Any, operator: Any, stack: Any, http: httpx.Client
) -> None:
    tenant = new_tenant(
        booking_mode="booked_and_emailed", trigger="order_placed", customer_handling="collective"
    )
    # One collective contact without an e-mail address: Dinero cannot e-mail the invoice.
    placed = order("V1", lines=[goods("1", 10000)])
    assert tenant.shop.send("order.placed", "V1-placed", AT, placed).status_code == 202
    rows = operator.wait_settled(tenant.tenant_id, expected=2)
    invoice = next(r for r in rows if r["kind"] == "invoice")
    assert invoice["state"] == "failed"
    assert "no e-mail" in invoice["last_error"]["message"]
    assert invoice["last_error"]["dinero_code"] == 42
    dead = operator.dead_letters(tenant.tenant_id)
    assert [d["reason"] for d in dead] == ["validation"]
    assert dead[0]["headers"]["x-posting-key"] == invoice["posting_key"]

    # The bookkeeper adds the e-mail address in Dinero; ops re-drive the posting.
    token = tenant.sandbox.password_token(tenant.org_id, tenant.api_key)
    auth = {"Authorization": f"Bearer {token}"}
    contact_guid = next(r for r in rows if r["kind"] == "contact")["dinero_guid"]
    contact_url = f"{tenant.sandbox.base_url}/v1/{tenant.org_id}/contacts/{contact_guid}"
    contact = http.get(contact_url, headers=auth).json()
    fixed = http.put(
        contact_url,
        headers=auth,
        json={
            "Name": contact["Name"],
            "CountryKey": contact["CountryKey"],
            "IsPerson": True,
            "IsMember": False,
            "UseCvr": False,
            "Email": "bogholderi@example.dk",
        },
    )
    assert fixed.status_code in (200, 204), fixed.text
    redrive = http.post(
        f"{stack.url('poster')}/v1/tenants/{tenant.tenant_id}/postings/"
        f"{invoice['posting_key']}/redrive",
        headers=_admin(stack),
    )
    assert redrive.status_code == 202, redrive.text

    operator.wait_settled(tenant.tenant_id, expected=2, settled=("done",))
    posting = operator.posting(tenant.tenant_id, invoice["posting_key"])
    assert posting["state"] == "done"
    # The re-drive re-mapped the sale (revision 1), which took the failed posting's place.
    assert [h["to_state"] for h in posting["history"]] == ["pending", "failed", "failed", "done"]
    assert posting["history"][2]["detail"] == "re-mapped (revision 1)"
    assert len(tenant.sandbox.emails(tenant.org_id)) == 1
    # Booked once (before the failure), e-mailed once (after the fix).
    assert tenant.trial_balance() == {53000: 10000, 1000: -8000, 64000: -2000}


def test_a_re_drive_after_a_settings_fix_re_maps_the_sale_with_the_current_settings(
    new_tenant: Any, operator: Any, stack: Any, http: httpx.Client
) -> None:
    # Invoices booked and e-mailed, to one collective contact without an e-mail address:
    # Dinero books the invoice, refuses the e-mail, and the posting fails.
    tenant = new_tenant(
        booking_mode="booked_and_emailed", trigger="order_placed", customer_handling="collective"
    )
    placed = order("S1", lines=[goods("1", 10000)])
    assert tenant.shop.send("order.placed", "S1-placed", AT, placed).status_code == 202
    rows = operator.wait_settled(tenant.tenant_id, expected=2)
    invoice = next(r for r in rows if r["kind"] == "invoice")
    assert invoice["state"] == "failed"

    # The tenant stops e-mailing invoices (its settings), then ops re-drive the posting: it
    # is derived again with the settings of now, not re-sent as it was.
    body = {
        k: v for k, v in tenant.config.items() if k not in ("tenant_id", "version", "updated_at")
    }
    body["booking_mode"] = "booked"
    fixed = http.put(
        f"{stack.url('poster')}/v1/tenants/{tenant.tenant_id}/settings",
        json=body,
        headers=_admin(stack),
    )
    assert fixed.status_code == 200, fixed.text
    redrive = http.post(
        f"{stack.url('poster')}/v1/tenants/{tenant.tenant_id}/postings/"
        f"{invoice['posting_key']}/redrive",
        headers=_admin(stack),
    )
    assert redrive.status_code == 202, redrive.text
    assert redrive.json()["action"] == "remap_posting"

    done = operator.wait_settled(tenant.tenant_id, expected=2, settled=("done",))
    booked = next(r for r in done if r["kind"] == "invoice")
    posting = operator.posting(tenant.tenant_id, invoice["posting_key"])
    assert posting["command"]["booking"] == "booked"
    assert posting["command"]["revision"] == 1
    assert tenant.sandbox.emails(tenant.org_id) == []
    assert tenant.trial_balance() == {53000: 10000, 1000: -8000, 64000: -2000}  # booked once
    # One invoice carries the reference: the booked one, adopted by its look-up.
    token = tenant.sandbox.password_token(tenant.org_id, tenant.api_key)
    listed = http.get(
        f"{tenant.sandbox.base_url}/v1/{tenant.org_id}/invoices",
        params={"fields": "Guid,Status,ExternalReference", "pageSize": 1000},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["Collection"]
    assert [(i["Guid"], i["Status"]) for i in listed] == [(booked["dinero_guid"], "Booked")]


def test_a_revoked_tenant_is_parked_without_stalling_others_and_resumes_after_reconnect(
    new_tenant: Any, operator: Any, stack: Any, http: httpx.Client
) -> None:
    parked = new_tenant(booking_mode="booked", trigger="order_placed")
    other = new_tenant(booking_mode="booked", trigger="order_placed")
    sandbox = parked.sandbox
    sandbox.revoke(parked.org_id)  # the shop owner withdrew Bogfør's access in Dinero

    for tenant, oid in ((parked, "P1"), (other, "O1"), (parked, "P2")):
        sent = tenant.shop.send(
            "order.placed", f"{oid}-placed", AT, order(oid, lines=[goods("1", 10000)])
        )
        assert sent.status_code == 202
    done = operator.wait_settled(other.tenant_id, expected=2)
    assert {r["state"] for r in done} == {"done"}
    rows = operator.wait_settled(parked.tenant_id, expected=1, settled=("parked", "pending"))
    assert "parked" in {r["state"] for r in rows}
    assert parked.trial_balance() == {}

    # Dinero issues a new key; the operator reconnects and un-parks the tenant.
    new_key = http.post(f"{sandbox.base_url}/_sandbox/orgs/{parked.org_id}/api-key").json()
    reconnect = http.put(
        f"{stack.url('poster')}/v1/tenants/{parked.tenant_id}/dinero/api-key",
        json={"api_key": new_key["api_key"]},
        headers=_admin(stack),
    )
    assert reconnect.status_code == 204
    unpark = http.post(
        f"{stack.url('poster')}/v1/tenants/{parked.tenant_id}/unpark", headers=_admin(stack)
    )
    assert unpark.status_code == 202, unpark.text  # a resume_tenant action, carried out async
    rows = operator.wait_settled(parked.tenant_id, expected=4)
    assert {r["state"] for r in rows} == {"done"}
    assert parked.trial_balance() == {53000: 20000, 1000: -16000, 64000: -4000}


def test_an_order_whose_lines_do_not_reproduce_its_total_is_held_not_posted(
    new_tenant: Any, operator: Any
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    wrong = order("H1", lines=[goods("1", 10000)])
    wrong["total"] = 10100  # the shop says 101,00; its lines say 100,00
    assert tenant.shop.send("order.placed", "H1-placed", AT, wrong).status_code == 202
    (held,) = operator.wait_settled(tenant.tenant_id, expected=1)
    assert held["state"] == "held"
    assert held["last_error"]["category"] == "held"
    assert "total_mismatch" in held["last_error"]["message"]
    assert "101.00" in held["detail"]
    assert tenant.trial_balance() == {}  # never booked wrong


def test_an_invoice_whose_vat_in_dinero_differs_from_the_shops_is_left_unbooked(
    new_tenant: Any, operator: Any, http: httpx.Client
) -> None:
    """A bookkeeper removes the VAT code of the goods account after onboarding: Dinero's
    total stays the same (lines incl. VAT), only the VAT changes. Never booked wrong."""
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    edited = http.patch(
        f"{tenant.sandbox.base_url}/_sandbox/orgs/{tenant.org_id}/accounts/1000",
        json={"vat_code": "none"},
    )
    assert edited.status_code == 200, edited.text
    placed = order("VAT1", lines=[goods("1", 10000)])
    assert tenant.shop.send("order.placed", "VAT1-placed", AT, placed).status_code == 202
    rows = operator.wait_settled(tenant.tenant_id, expected=2)
    invoice = next(r for r in rows if r["kind"] == "invoice")
    assert invoice["state"] == "failed"
    assert "VAT 0 øre, expected 2000 øre" in invoice["last_error"]["message"]
    assert tenant.trial_balance() == {}  # left as a draft: nothing booked


def test_a_slow_dinero_organisation_does_not_stall_another_tenant(
    new_tenant: Any, operator: Any
) -> None:
    slow = new_tenant(booking_mode="booked", trigger="order_placed")
    fast = new_tenant(booking_mode="booked", trigger="order_placed")
    # Every call for the slow tenant's organisation takes 1.5 s (Dinero struggling).
    slow.sandbox.set_faults([{"kind": "latency", "org": slow.org_id, "delay_ms": 1500}])
    try:
        for oid in ("S1", "S2", "S3"):
            sent = slow.shop.send(
                "order.placed", f"{oid}-placed", AT, order(oid, lines=[goods("1", 10000)])
            )
            assert sent.status_code == 202
        assert (
            fast.shop.send(
                "order.placed", "F1-placed", AT, order("F1", lines=[goods("1", 10000)])
            ).status_code
            == 202
        )
        started = time.monotonic()
        operator.wait_settled(fast.tenant_id, expected=2, timeout=20)
        fast_took = time.monotonic() - started
        slow_rows = operator.postings(slow.tenant_id)
        # The fast tenant is done while the slow one is still on its first posting (a
        # contact takes three calls, 4.5 s at this pace).
        assert not [r for r in slow_rows if r["state"] == "done"], slow_rows
        assert fast_took < 4
    finally:
        slow.sandbox.clear_faults()
    rows = operator.wait_settled(slow.tenant_id, expected=6, timeout=90)
    assert {r["state"] for r in rows} == {"done"}
