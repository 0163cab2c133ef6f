"""`bogfoer reconcile` end to end: the services as processes on real Kafka and PostgreSQL, the
sandbox as Dinero, the command line as an operator runs it.

A clean month gives no findings. Then each class of difference is made the way it happens in
real life — through Dinero's own API (a bookkeeper deletes a draft, edits one, creates a
second document with our reference), the sandbox's fault injection (Dinero failing for hours:
a stuck posting), a payout that does not add up, and settings fixed after a failure — and is
found with its class. `--repair` re-drives through the pipeline; afterwards the books are
what the sales say and no document exists twice, and what only a person may fix is listed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from bogfoer_devstack.sales import AT, captured, charge_txn, fee, goods, order, payout
from bogfoer_devstack.stack import Stack

MONTH = ("--from", "2026-11-01", "--to", "2026-11-30")


def bogfoer(stack: Stack, tmp: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the command line as a process, with the settings an operator would export."""
    poster = stack.services["poster"].env
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOGFOER_")}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "DATABASE_URL": stack.database_url,
        "BOGFOER_RECONCILE_CREDENTIALS_KEY": poster["BOGFOER_POSTER_CREDENTIALS_KEY"],
        "BOGFOER_RECONCILE_DINERO_API_URL": stack.dinero_url,
        "BOGFOER_RECONCILE_DINERO_LEGACY_TOKEN_URL": f"{stack.dinero_url}/dineroapi/oauth/token",
        "BOGFOER_RECONCILE_DINERO_LEGACY_CLIENT_ID": stack.dinero_legacy_client_id,
        "BOGFOER_RECONCILE_DINERO_LEGACY_CLIENT_SECRET": stack.dinero_legacy_client_secret,
        "COLUMNS": "200",
    }
    run = len(list(tmp.glob("report-*.json")))
    out, picture = tmp / f"report-{run}.json", tmp / f"report-{run}.svg"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bogfoer_cli",
            "reconcile",
            *args,
            "--json",
            str(out),
            "--svg",
            str(picture),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), done.stderr[-3000:]
    assert picture.read_text().startswith("<svg")
    return done.returncode, json.loads(out.read_text()), done.stdout


def tenant_report(report: dict[str, Any], tenant: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [t for t in report["tenants"] if t["tenant"] == tenant]
    assert len(found) == 1, report
    return found[0]


def classes(report: dict[str, Any], tenant: str) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for f in tenant_report(report, tenant)["findings"]:
        key = f["posting_key"] or f"account {f['account']}"
        found.setdefault(key.rsplit(":", 1)[-1], set()).add((f["klass"], f["repair"]))
    return found


class Dinero:
    """The organisation's Dinero as a bookkeeper's own integration uses it."""

    def __init__(self, tenant: Any, http: httpx.Client) -> None:
        token = tenant.sandbox.password_token(tenant.org_id, tenant.api_key)
        self.base = f"{tenant.sandbox.base_url}/v1/{tenant.org_id}"
        self.base_v12 = f"{tenant.sandbox.base_url}/v1.2/{tenant.org_id}"
        self.auth = {"Authorization": f"Bearer {token}"}
        self.http = http

    def invoices(self) -> list[dict[str, Any]]:
        r = self.http.get(
            f"{self.base}/invoices",
            params={"fields": "Guid,ExternalReference,Status,TotalInclVat", "pageSize": 1000},
            headers=self.auth,
        )
        r.raise_for_status()
        rows: list[dict[str, Any]] = r.json()["Collection"]
        return rows

    def invoice(self, guid: str) -> dict[str, Any]:
        r = self.http.get(f"{self.base}/invoices/{guid}", headers=self.auth)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def delete(self, guid: str) -> None:
        stamp = self.invoice(guid)["TimeStamp"]
        r = self.http.request(
            "DELETE", f"{self.base}/invoices/{guid}", json={"Timestamp": stamp}, headers=self.auth
        )
        assert r.status_code == 200, r.text

    def create(self, reference: str, like: dict[str, Any], kroner: int = 100) -> str:
        body = {
            "ContactGuid": like["ContactGuid"],
            "ExternalReference": reference,
            "Date": like["Date"],
            "Currency": "DKK",
            "ShowLinesInclVat": True,
            "ProductLines": [
                {
                    "Description": "Vare",
                    "Quantity": 1,
                    "AccountNumber": 1000,
                    "BaseAmountValue": kroner,
                    "Unit": "parts",
                }
            ],
        }
        r = self.http.post(f"{self.base}/invoices", json=body, headers=self.auth)
        assert r.status_code in (200, 201), r.text
        guid: str = r.json()["Guid"]
        return guid

    def edit_lines(self, guid: str, kroner: int) -> None:
        current = self.invoice(guid)
        body = {
            "Timestamp": current["TimeStamp"],
            "ContactGuid": current["ContactGuid"],
            "ExternalReference": current["ExternalReference"],
            "Date": current["Date"],
            "Currency": "DKK",
            "ShowLinesInclVat": current["ShowLinesInclVat"],
            "Description": current["Description"],
            "ProductLines": [
                {
                    "Description": line["Description"],
                    "Quantity": line["Quantity"],
                    "AccountNumber": line["AccountNumber"],
                    "BaseAmountValue": kroner,
                    "Unit": line["Unit"],
                }
                for line in current["ProductLines"]
            ],
        }
        r = self.http.put(f"{self.base_v12}/invoices/{guid}", json=body, headers=self.auth)
        assert r.status_code == 200, r.text

    def references_twice(self) -> list[str]:
        counts = Counter(row["ExternalReference"] for row in self.invoices())
        return sorted(ref for ref, n in counts.items() if ref and n > 1)


def test_a_clean_month_gives_no_findings(
    new_tenant: Any, operator: Any, stack: Stack, tmp_path: Path
) -> None:
    tenant = new_tenant(booking_mode="booked", trigger="order_paid")
    placed = order(
        "C1",
        lines=[goods("1", 12500, 2)],
        payments=[{"provider": "stripe", "reference": "pi_C1", "method": "card"}],
    )
    paid = {
        "order_id": "C1",
        "amount": 25000,
        "currency": "DKK",
        "payment": {"provider": "stripe", "reference": "pi_C1", "method": "card"},
        "paid_at": AT,
    }
    for type_, sid, data in (
        ("order.placed", "C1-placed", placed),
        ("payment.captured", "pi_C1", captured("pi_C1", "C1", 25000, "txn_C1")),
        ("payment.fee", "pi_C1-fee", fee("pi_C1", 400, "txn_C1")),
        ("order.paid", "C1-paid", paid),
        ("payout.paid", "po_C", payout("po_C", [charge_txn("txn_C1", 25000, 400, "ch_C1")])),
    ):
        assert tenant.shop.send(type_, sid, AT, data).status_code == 202
    rows = operator.wait_settled(tenant.tenant_id, expected=5)
    assert {r["state"] for r in rows} == {"done"}

    code, report, stdout = bogfoer(stack, tmp_path, "--tenant", tenant.tenant_id, *MONTH)

    mine = tenant_report(report, tenant.tenant_id)
    assert mine["findings"] == [], mine["findings"]
    assert code == 0, (stdout, report)
    assert "No differences" in stdout
    assert mine["postings_expected"] == 4  # invoice, payment, fee, payout (the contact aside)
    assert mine["dinero_documents"] == 3  # invoice and two vouchers (payments are not listed)
    # Three list calls and nothing per document: the invoice's PaymentStatus agrees.
    assert mine["dinero_calls"] == 3
    balance = {row["account"]: row["actual"] for row in mine["trial_balance"]}
    assert balance == {1000: -20000, 64000: -5000, 7220: 400, 55000: 24600}  # 55010 nets 0


@pytest.mark.timeout(300)
def test_each_class_is_found_and_repair_leaves_what_the_sales_say(
    new_tenant: Any, operator: Any, stack: Stack, http: httpx.Client, tmp_path: Path
) -> None:
    # A tenant whose bookkeeper reviews drafts: three orders, three drafts.
    drafts = new_tenant(booking_mode="draft", trigger="order_placed")
    for oid in ("D1", "D2", "D3"):
        sent = drafts.shop.send(
            "order.placed", f"{oid}-placed", AT, order(oid, lines=[goods("1", 10000)])
        )
        assert sent.status_code == 202
    # A tenant that books and e-mails its invoices, to one collective contact without an
    # e-mail address: Dinero books the invoice but refuses to e-mail it; the posting fails.
    books = new_tenant(
        booking_mode="booked_and_emailed", trigger="order_placed", customer_handling="collective"
    )
    sale = order(
        "B1",
        lines=[goods("1", 10000)],
        payments=[{"provider": "stripe", "reference": "pi_B1", "method": "card"}],
    )
    # Dinero fails every voucher for hours: the fee and the payout are stuck retrying.
    books.sandbox.add_fault(
        kind="error",
        status=503,
        method="POST",
        path="/v1/*/vouchers/manuel",
        org=books.org_id,
        count=100000,
    )
    try:
        for type_, sid, data in (
            ("order.placed", "B1-placed", sale),
            ("payment.captured", "pi_B1", captured("pi_B1", "B1", 10000, "txn_B1")),
            ("payment.fee", "pi_B1-fee", fee("pi_B1", 465, "txn_B1")),
            # Stripe paid out 90,00, but the charge nets 95,35: 5,35 stays behind.
            (
                "payout.paid",
                "po_B",
                payout("po_B", [charge_txn("txn_B1", 10000, 465, "ch_B1")]) | {"amount": 9000},
            ),
        ):
            assert books.shop.send(type_, sid, AT, data).status_code == 202
        rows = operator.wait_settled(drafts.tenant_id, expected=6)
        assert {r["state"] for r in rows} == {"done"}
        b_rows = operator.wait_settled(
            books.tenant_id, expected=5, settled=("done", "failed", "waiting")
        )
        states = {r["posting_key"].rsplit(":", 1)[-1]: r["state"] for r in b_rows}
        assert states["B1"] == "failed"  # the invoice; its payment waits for it

        # The bookkeeper at work in Dinero: deletes D1's draft, changes D2's lines, makes a
        # second invoice with D3's reference, and one with a reference of ours nobody made.
        dinero = Dinero(drafts, http)
        ours = {r["posting_key"].rsplit(":", 1)[-1]: r for r in rows if r["kind"] == "invoice"}
        dinero.delete(ours["D1"]["dinero_guid"])
        dinero.edit_lines(ours["D2"]["dinero_guid"], 90)
        d3 = dinero.invoice(ours["D3"]["dinero_guid"])
        duplicate = dinero.create(ours["D3"]["posting_key"], d3)
        ghost = dinero.create(f"bogfoer:{drafts.tenant_id}:invoice:shopify:GHOST", d3)
        # The tenant fixes its settings after the failure: book, do not e-mail.
        fixed = stack.services["poster"].url + f"/v1/tenants/{books.tenant_id}/settings"
        body = {
            k: v for k, v in books.config.items() if k not in ("tenant_id", "version", "updated_at")
        }
        body["booking_mode"] = "booked"
        r = http.put(fixed, json=body, headers={"Authorization": f"Bearer {stack.admin_token}"})
        assert r.status_code == 200, r.text

        code, report, stdout = bogfoer(
            stack, tmp_path, "--tenant", drafts.tenant_id, "--tenant", books.tenant_id, *MONTH
        )
        assert code == 1
        found = classes(report, drafts.tenant_id)
        assert found["D1"] == {("missing", "remap")}
        assert found["D2"] == {("amount", "remap")}
        assert found["D3"] == {("duplicate", "person")}
        assert found["GHOST"] == {("orphan", "person")}
        found = classes(report, books.tenant_id)
        assert found["B1"] == {("settings_fixed", "remap")}
        assert found["pi_B1"] == {("stuck", "retry")}  # the payment waits for the invoice
        # The payout and its fee voucher (one per payout, keyed by it) are stuck retrying.
        assert found["po_B"] == {("stuck", "retry"), ("deposit_not_zero", "person")}
        fees = [
            (f["klass"], f["repair"])
            for f in tenant_report(report, books.tenant_id)["findings"]
            if ":payout_fees:" in (f["posting_key"] or "")
        ]
        assert fees == [("stuck", "retry")]
        assert "Only a person can fix" in stdout
    finally:
        books.sandbox.clear_faults()  # Dinero is back

    code, report, _ = bogfoer(
        stack,
        tmp_path,
        "--tenant",
        drafts.tenant_id,
        "--tenant",
        books.tenant_id,
        *MONTH,
        "--repair",
    )
    assert code == 1  # it found differences, and asked for their repair
    asked = {
        r["posting_key"].rsplit(":", 1)[-1]: r["action"]
        for t in report["tenants"]
        for r in t["repairs"]
    }
    assert {k: asked[k] for k in ("D1", "D2", "B1")} == dict.fromkeys(
        ("D1", "D2", "B1"), "remap_posting"
    )
    # The payment still waits for its invoice; the vouchers retry every few seconds here, so
    # with Dinero back they may be done before the repair asks for them.
    assert asked["pi_B1"] == "retry_posting"
    assert {asked.get("po_B")} <= {None, "retry_posting"}
    operator.wait_settled(books.tenant_id, expected=5, settled=("done",), timeout=90)
    # Re-mapped with the current settings: the booked invoice is done without an e-mail, then
    # its payment, the fee and the payout followed.
    assert books.trial_balance() == {1000: -8000, 64000: -2000, 7220: 465, 55000: 9000, 55010: 535}
    assert books.sandbox.emails(books.org_id) == []
    assert Dinero(books, http).references_twice() == []
    # D1's draft is there again (once), D2's lines are the sale's again.
    deadline_rows = operator.wait_settled(drafts.tenant_id, expected=6, settled=("done",))
    assert len(deadline_rows) == 6
    by_ref: dict[str, list[dict[str, Any]]] = {}
    for row in dinero.invoices():
        by_ref.setdefault(row["ExternalReference"], []).append(row)
    assert [row["TotalInclVat"] for row in by_ref[ours["D1"]["posting_key"]]] == [100.0]
    assert [row["TotalInclVat"] for row in by_ref[ours["D2"]["posting_key"]]] == [100.0]
    assert dinero.references_twice() == [ours["D3"]["posting_key"]]  # a person's to delete

    code, report, _ = bogfoer(
        stack, tmp_path, "--tenant", drafts.tenant_id, "--tenant", books.tenant_id, *MONTH
    )
    assert classes(report, books.tenant_id) == {"po_B": {("deposit_not_zero", "person")}}
    assert classes(report, drafts.tenant_id) == {
        "D3": {("duplicate", "person")},
        "GHOST": {("orphan", "person")},
    }
    rows = tenant_report(report, books.tenant_id)["trial_balance"]
    assert all(row["expected"] == row["actual"] for row in rows), rows

    # The person deletes the duplicate and the stray draft; then everything agrees.
    dinero.delete(duplicate)
    dinero.delete(ghost)
    code, report, _ = bogfoer(stack, tmp_path, "--tenant", drafts.tenant_id, *MONTH)
    assert tenant_report(report, drafts.tenant_id)["findings"] == []
    assert code == 0


@pytest.mark.timeout(240)  # the first test of a run also starts the stack
def test_a_summary_document_edited_in_dinero_is_found_against_its_sales(
    new_tenant: Any, operator: Any, stack: Stack, http: httpx.Client, tmp_path: Path
) -> None:
    # A daily-summary tenant whose bookkeeper reviews drafts: the day's two sales are one
    # draft summary invoice on Dinero's collective contact.
    tenant = new_tenant(booking_mode="draft", trigger="order_placed", posting_mode="daily_summary")
    for oid in ("S1", "S2"):
        sent = tenant.shop.send(
            "order.placed", f"{oid}-placed", AT, order(oid, lines=[goods("1", 10000)])
        )
        assert sent.status_code == 202
    # The contact, the two sales and, once the day closed, their summary invoice.
    rows = operator.wait_settled(tenant.tenant_id, expected=4, settled=("done",), timeout=60)
    summary = [r for r in rows if ":summary_invoice:" in r["posting_key"]]
    assert len(summary) == 1, [r["posting_key"] for r in rows]

    code, report, _ = bogfoer(stack, tmp_path, "--tenant", tenant.tenant_id, *MONTH)
    assert tenant_report(report, tenant.tenant_id)["findings"] == []
    assert code == 0

    # The bookkeeper changes the summary's lines in Dinero: it no longer carries the sales.
    Dinero(tenant, http).edit_lines(summary[0]["dinero_guid"], 90)
    code, report, _ = bogfoer(stack, tmp_path, "--tenant", tenant.tenant_id, *MONTH)
    assert code == 1
    found = [
        (f["klass"], f["repair"], f["posting_key"])
        for f in tenant_report(report, tenant.tenant_id)["findings"]
        if f["klass"] != "trial_balance"
    ]
    assert found == [("amount", "person", summary[0]["posting_key"])], found
