"""The replay does what the mapper did: events wait for (active) settings, new settings
re-evaluate holds, and a re-mapped posting is also derived with the current settings."""

from __future__ import annotations

import datetime as dt

from cli_factories import NOW, TENANT, capture, expect, placed, settings

from bogfoer_contracts.postings import CreateInvoice, RegisterPayment
from bogfoer_rules.policy import OrderState, decide, state_key


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


def test_an_order_the_mapper_began_under_key_scheme_1_is_replayed_under_it() -> None:
    # Stored before posting keys were made injective, the order went on with scheme 1's
    # keys (`C/1` written `C_1`); a replay starts it afresh under scheme 2 (`C~2F1`).
    config = settings()
    sale, paid = placed("C/1"), capture("C/1")
    state = OrderState(key=state_key(sale), key_scheme=1)
    legacy: set[str] = set()
    for e in (sale, paid):
        decision = decide(e, config, state, NOW - dt.timedelta(days=1))
        state = decision.state
        legacy |= {c.posting_key for c in decision.commands}
    assert all(key.startswith(f"bogfoer:{TENANT}:") for key in legacy)
    assert any("C_1" in key for key in legacy)
    today = set(expect([(sale, 0), (paid, 0)], [config]))
    assert today.isdisjoint(legacy)  # which is why it must be told apart
    ledger = frozenset(legacy)
    assert set(expect([(sale, 0), (paid, 0)], [config], ledger_keys=ledger)) == legacy
    # An order the ledger holds under scheme 2 (or not at all) stays under scheme 2.
    assert set(expect([(sale, 0), (paid, 0)], [config], ledger_keys=frozenset(today))) == today
    # A new order of a returning customer: the ledger holds the customer's contact under
    # scheme 1 (an older order's), and nothing of this order yet: it is a scheme-2 order.
    contact = frozenset(key for key in legacy if ":contact:" in key)
    assert contact
    assert set(expect([(sale, 0), (paid, 0)], [config], ledger_keys=contact)) == today
