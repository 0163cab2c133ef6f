"""The replay does what the mapper did: events wait for (active) settings, new settings
re-evaluate holds, and a re-mapped posting is also derived with the current settings."""

from __future__ import annotations

from cli_factories import capture, expect, placed, settings

from bogfoer_contracts.postings import CreateInvoice, RegisterPayment


def test_events_before_any_settings_are_decided_when_settings_arrive() -> None:
    found = expect([(placed("A1"), -1)], [settings()])
    assert sorted(x.kind for x in found.values()) == ["contact", "invoice"]


def test_events_of_an_inactive_tenant_wait_for_its_activation() -> None:
    configs = [settings(1, active=False), settings(2, active=True)]
    assert expect([(placed("A1"), 0)], configs[:1]) == {}
    assert len(expect([(placed("A1"), 0)], configs)) == 2


def test_a_hold_the_new_settings_resolve_is_derived_as_the_mapper_re_evaluates_it() -> None:
    configs = [settings(1, deposit_accounts={}), settings(2, deposit_accounts={"stripe": 55010})]
    found = expect([(placed("P1"), 0), (capture("P1"), 0)], configs)
    payment = next(x for x in found.values() if x.kind == "payment")
    assert isinstance(payment.command, RegisterPayment)
    assert payment.command.deposit_account == 55010
    assert [h.reason for h in payment.holds] == ["unmapped_deposit_account"]


def test_a_revisited_posting_is_also_derived_with_the_current_settings() -> None:
    configs = [settings(1, booking_mode="booked_and_emailed"), settings(2, booking_mode="booked")]
    first = expect([(placed("R1"), 0)], configs[:1])
    key = next(k for k, x in first.items() if x.kind == "invoice")
    found = expect([(placed("R1"), 0)], configs, revisit={key: 1})
    entry = found[key]
    assert isinstance(entry.command, CreateInvoice)
    assert isinstance(entry.current, CreateInvoice)
    assert (entry.command.booking, entry.current.booking) == ("booked_and_emailed", "booked")
    assert entry.current.revision == 1
