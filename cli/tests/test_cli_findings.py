"""Each class of difference from the three sides, and who repairs it; the repair plan."""

from __future__ import annotations

import datetime as dt
from typing import get_args

from cli_factories import (
    NOW,
    TENANT,
    capture,
    done,
    evidence,
    expect,
    invoice_document,
    placed,
    poster_made,
    settings,
)

from bogfoer_cli.reconcile.books import Document
from bogfoer_cli.reconcile.expectation import Expected
from bogfoer_cli.reconcile.findings import (
    MEANING,
    Finding,
    FindingClass,
    classify,
    payments_to_read,
    trial_balance,
)
from bogfoer_cli.reconcile.ledger import LedgerPosting
from bogfoer_cli.reconcile.repair import plan
from bogfoer_contracts.ops import RemapPosting, RetryPosting
from bogfoer_contracts.postings import CreateInvoice


def _one_order() -> tuple[dict[str, Expected], str]:
    """A paid order: its contact, invoice and payment, and the invoice's posting key."""
    found = expect([(placed("A1"), 0), (capture("A1"), 0)], [settings()])
    invoice = next(x.command for x in found.values() if isinstance(x.command, CreateInvoice))
    assert invoice is not None
    return found, invoice.posting_key


def _ledger(found: dict[str, Expected], state: str = "done") -> dict[str, LedgerPosting]:
    ledger = {}
    for key, entry in found.items():
        assert entry.command is not None
        ledger[key] = done(entry.command, f"guid-{entry.kind}", state)
    return ledger


def _classes(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.klass, f.repair) for f in findings if f.klass != "trial_balance"}


def test_when_all_three_agree_there_is_nothing_to_report() -> None:
    found, key = _one_order()
    ev = evidence(found, _ledger(found), [invoice_document(key, "guid-invoice")])
    assert classify(ev) == []
    assert payments_to_read(ev) == []  # "Paid" agrees with the payment the rules expect
    assert all(expected == actual for _, expected, actual in trial_balance(ev))


def test_a_deleted_document_is_missing_and_re_mapped() -> None:
    found, _ = _one_order()
    ev = evidence(found, _ledger(found), [])
    assert ("missing", "remap") in _classes(classify(ev))


def test_two_documents_with_one_reference_are_a_duplicate_for_a_person() -> None:
    found, key = _one_order()
    docs = [invoice_document(key, "guid-invoice"), invoice_document(key, "other", booked=False)]
    assert _classes(classify(evidence(found, _ledger(found), docs))) == {("duplicate", "person")}


def test_an_edited_draft_is_rewritten_but_an_edited_booked_invoice_is_a_persons() -> None:
    found, key = _one_order()
    draft = invoice_document(key, "guid-invoice", total=9000, booked=False)
    assert ("amount", "remap") in _classes(classify(evidence(found, _ledger(found), [draft])))
    booked = invoice_document(key, "guid-invoice", total=9000)
    assert ("amount", "person") in _classes(classify(evidence(found, _ledger(found), [booked])))


def test_a_line_on_another_account_is_found() -> None:
    found, key = _one_order()
    moved = invoice_document(key, "guid-invoice", account=1100)
    assert ("account", "person") in _classes(classify(evidence(found, _ledger(found), [moved])))


def test_a_draft_where_the_tenant_books_is_booked_by_a_re_map() -> None:
    found, key = _one_order()
    draft = invoice_document(key, "guid-invoice", booked=False)
    assert ("booking", "remap") in _classes(classify(evidence(found, _ledger(found), [draft])))


def test_our_reference_unknown_to_the_ledger_is_an_orphan() -> None:
    found, key = _one_order()
    ghost = invoice_document(f"bogfoer:{TENANT}:invoice:shopify:GHOST", "ghost", booked=False)
    docs = [invoice_document(key, "guid-invoice"), ghost]
    assert _classes(classify(evidence(found, _ledger(found), docs))) == {("orphan", "person")}


def test_a_posting_not_final_after_the_threshold_is_stuck_with_its_age() -> None:
    found, key = _one_order()
    ledger = _ledger(found)
    command = found[key].command
    assert command is not None
    ledger[key] = done(command, "guid-invoice", "waiting")
    docs = [invoice_document(key, "guid-invoice")]
    (stuck,) = [f for f in classify(evidence(found, ledger, docs)) if f.klass == "stuck"]
    assert stuck.repair == "retry"
    assert stuck.age_hours == round((NOW - ledger[key].since).total_seconds() / 3600, 1)
    late = evidence(found, ledger, docs, stuck_after=dt.timedelta(days=30))
    assert not [f for f in classify(late) if f.klass == "stuck"]


def test_a_failure_the_current_settings_change_is_re_mapped_else_retried() -> None:
    configs = [settings(1, booking_mode="booked_and_emailed"), settings(2, booking_mode="booked")]
    first = expect([(placed("R1"), 0)], configs[:1])
    key = next(k for k, x in first.items() if x.kind == "invoice")
    ledger = _ledger(first)
    command = first[key].command
    assert command is not None
    ledger[key] = done(command, "guid-invoice", "failed")
    docs = [invoice_document(key, "guid-invoice")]
    fixed = expect([(placed("R1"), 0)], configs, revisit={key: 1})
    assert ("settings_fixed", "remap") in _classes(classify(evidence(fixed, ledger, docs)))
    same = expect([(placed("R1"), 0)], configs[:1], revisit={key: 1})
    assert ("failed", "retry") in _classes(classify(evidence(same, ledger, docs)))


def test_a_payment_is_read_only_where_the_invoice_status_disagrees() -> None:
    found, key = _one_order()
    unpaid = Document(
        **{**invoice_document(key, "guid-invoice").__dict__, "payment_status": "Booked"}
    )
    assert payments_to_read(evidence(found, _ledger(found), [unpaid])) == ["guid-invoice"]


def test_the_repair_plan_re_maps_over_retrying_and_leaves_a_person_alone() -> None:
    findings = [
        Finding("stuck", "waiting", "retry", "k1"),
        Finding("missing", "gone", "remap", "k1"),
        Finding("stuck", "waiting", "retry", "k2"),
        Finding("duplicate", "two", "person", "k3"),
        Finding("trial_balance", "off", "none", account=1000),
    ]
    actions = plan(TENANT, findings, NOW)
    assert [(type(a), a.posting_key) for a in actions] == [  # type: ignore[union-attr]
        (RemapPosting, "k1"),
        (RetryPosting, "k2"),
    ]
    assert {a.requested_by for a in actions} == {"reconcile"}


def test_every_class_has_a_meaning_for_the_report() -> None:
    assert set(MEANING) == set(get_args(FindingClass))


def test_a_document_naming_another_contact_is_found() -> None:
    found, key = _one_order()
    other = Document(**{**invoice_document(key, "guid-invoice").__dict__, "contact_guid": "x"})
    assert ("contact", "person") in _classes(classify(evidence(found, _ledger(found), [other])))


def _summary_day() -> tuple[dict[str, Expected], dict[str, LedgerPosting], str]:
    """A daily-summary tenant's day of two paid orders: the members as the rules derive them,
    the ledger with each member done by its summary document and the summaries themselves
    (results only: the poster makes them, the mapper never sends their commands)."""
    summary = settings(posting_mode="daily_summary", booking_mode="booked")
    found = expect(
        [(placed("S1"), 0), (capture("S1"), 0), (placed("S2"), 0), (capture("S2"), 0)], [summary]
    )
    guids = {"invoice": "guid-summary-invoice", "payment": "guid-summary-payment"}
    ledger = {}
    for key, entry in found.items():
        assert entry.command is not None
        ledger[key] = done(entry.command, guids.get(entry.kind, f"guid-{entry.kind}"))
    day = f"bogfoer:{TENANT}:summary_invoice:2026-11-20"
    ledger[day] = poster_made(day, "invoice", guids["invoice"], 20000)
    payment = f"bogfoer:{TENANT}:summary_payment:2026-11-20"
    ledger[payment] = poster_made(payment, "payment", guids["payment"], 20000)
    return found, ledger, day


def test_a_summary_day_is_checked_against_its_sales_not_each_sale_on_its_own() -> None:
    found, ledger, day = _summary_day()
    document = invoice_document(day, "guid-summary-invoice", total=20000)
    ev = evidence(found, ledger, [document])
    assert classify(ev) == []
    assert all(expected == actual for _, expected, actual in trial_balance(ev))


def test_a_summary_document_edited_in_dinero_is_found_for_a_person() -> None:
    found, ledger, day = _summary_day()
    edited = invoice_document(day, "guid-summary-invoice", total=18000)
    findings = classify(evidence(found, ledger, [edited]))
    assert {(f.klass, f.repair, f.posting_key) for f in findings if f.klass == "amount"} == {
        ("amount", "person", day)
    }
    assert {f.posting_key for f in findings if f.klass != "trial_balance"} == {day}
    missing = classify(evidence(found, ledger, []))
    assert {(f.klass, f.posting_key) for f in missing if f.klass != "trial_balance"} == {
        ("missing", day)
    }
