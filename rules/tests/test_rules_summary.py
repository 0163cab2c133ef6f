"""Daily summaries (`bogfoer_rules.summary`): a day's members as a handful of documents,
VAT-exact to the sales, and the same documents under the same keys when a day is closed
again."""

from __future__ import annotations

import datetime as dt

from rules_factories import ORG, TENANT, captured, config, line, order, placed, run

from bogfoer_contracts.postings import CreateInvoice, RegisterPayment
from bogfoer_rules.summary import summarise
from bogfoer_rules.totals import vat_of

DAY = dt.date(2026, 3, 2)
SALES = 30
PRICE = 4999  # 49,99 kr incl. VAT: 10,00 kr VAT each, but 9,998 kr on 30 of them together


def _members() -> list[CreateInvoice | RegisterPayment]:
    cfg = config(trigger="order_placed", posting_mode="daily_summary")
    events = []
    for n in range(SALES):
        oid = str(2000 + n)
        sale = order(oid, lines=[line("l1", "goods", PRICE, 1)], total=PRICE, vat_total=1000)
        events += [placed(sale), captured(f"pi_{oid}", PRICE, order_id=oid)]
    members = [c for c in run(events, cfg).commands if c.summary]
    assert all(isinstance(c, CreateInvoice | RegisterPayment) for c in members)
    return members  # type: ignore[return-value]


def test_a_day_is_one_invoice_and_one_payment_with_the_sales_vat_to_the_ore() -> None:
    members = _members()
    day = summarise(TENANT, ORG, DAY, members, earlier={}, not_ready=[])
    kinds = sorted(d.command.kind for d in day.documents)
    assert kinds == ["invoice", "payment"]
    # Every member is booked by exactly one document.
    booked = [key for d in day.documents for key in d.members]
    assert sorted(booked) == sorted(m.posting_key for m in members)
    (invoice,) = [d.command for d in day.documents if isinstance(d.command, CreateInvoice)]
    assert invoice.expected_total == SALES * PRICE
    assert invoice.expected_vat == SALES * 1000  # the sales' VAT, not the total's 29,994
    # Dinero rounds VAT per line: the lines, correction lines included, give exactly that.
    dinero_vat = sum(
        vat_of(ln.unit_price * ln.quantity, ln.vat_rate or 0, incl_vat=True) for ln in invoice.lines
    )
    assert dinero_vat == SALES * 1000
    assert sum(ln.unit_price * ln.quantity for ln in invoice.lines) == SALES * PRICE
    assert all(d.residual_vat == 0 for d in day.documents)
    (payment,) = [d.command for d in day.documents if isinstance(d.command, RegisterPayment)]
    assert payment.amount == SALES * PRICE
    assert payment.invoice_key == invoice.posting_key


def test_a_day_closed_again_makes_the_same_documents_under_the_same_keys() -> None:
    members = _members()
    first = summarise(TENANT, ORG, DAY, members, earlier={}, not_ready=[])
    again = summarise(TENANT, ORG, DAY, list(reversed(members)), earlier={}, not_ready=[])
    assert [d.command.posting_key for d in first.documents] == [
        d.command.posting_key for d in again.documents
    ]
    assert {d.command.posting_key: sorted(d.members) for d in first.documents} == {
        d.command.posting_key: sorted(d.members) for d in again.documents
    }
