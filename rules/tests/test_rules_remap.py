"""remap(): a posting derived again from the sale's facts with the tenant's current settings."""

from __future__ import annotations

from rules_factories import NOW, TENANT, captured, config, line, order, paid, placed, run

from bogfoer_contracts.ids import posting_key
from bogfoer_contracts.postings import CreateInvoice, RegisterPayment
from bogfoer_contracts.tenants import SalesAccounts
from bogfoer_rules.remap import remap

INVOICE = posting_key(TENANT, "invoice", "shopify", "1042")
PAYMENT = posting_key(TENANT, "payment", "stripe", "pi_1042")
COLLECTIVE = posting_key(TENANT, "contact", "collective")


def test_a_remapped_invoice_carries_the_accounts_of_the_current_settings() -> None:
    wrong = config(trigger="order_placed", accounts=SalesAccounts(goods_domestic=1100))
    done = run([placed()], wrong)
    (state,) = done.states.values()
    assert {line.account_number for line in done.by_key()[INVOICE].lines} == {1100, 1350}  # type: ignore[union-attr]

    fixed = config(trigger="order_placed", version=2)
    result = remap(state, fixed, NOW, INVOICE, revision=1)

    assert isinstance(result.command, CreateInvoice)
    assert result.command.revision == 1
    assert {line.account_number for line in result.command.lines} == {1000, 1350}
    assert result.commands == [result.command]  # the contact is known already
    # Credit notes to come must reuse the invoice as it will be booked.
    assert result.state.invoice == result.command
    assert {i.spec.account_number for i in result.state.invoice_lines} == {1000, 1350}


def test_a_contact_the_new_settings_name_is_emitted_before_the_remapped_invoice() -> None:
    state = run([placed()], config(trigger="order_placed")).states["order:1042"]
    collective = config(trigger="order_placed", customer_handling="collective", version=2)
    result = remap(state, collective, NOW, INVOICE, revision=1)
    assert [c.posting_key for c in result.commands] == [COLLECTIVE, INVOICE]
    assert COLLECTIVE in result.state.emitted


def test_a_payment_held_for_its_deposit_account_is_emitted_once_the_account_is_mapped() -> None:
    cfg = config(trigger="order_placed", deposit_accounts={})
    held = run([placed(), captured()], cfg)
    assert held.reasons() == ["unmapped_deposit_account"]
    state = held.states["order:1042"]

    mapped = config(trigger="order_placed", deposit_accounts={"stripe": 55010}, version=2)
    result = remap(state, mapped, NOW, PAYMENT, revision=0)
    assert isinstance(result.command, RegisterPayment)
    assert result.command.deposit_account == 55010
    assert [c.posting_key for c in result.commands] == [PAYMENT]
    assert PAYMENT in result.state.emitted


def test_a_posting_the_current_settings_still_hold_gives_its_hold_once() -> None:
    cfg = config(trigger="order_placed", deposit_accounts={})
    state = run([placed(), paid(provider="bank", method="transfer")], cfg).states["order:1042"]
    key = posting_key(TENANT, "payment", "bank", "pi_1042")
    result = remap(state, cfg, NOW, key, revision=0)
    assert result.command is None
    assert result.holds == []  # raised before; not raised again


def test_an_inactive_tenant_is_not_remapped() -> None:
    state = run([placed(order(lines=[line("l1", "goods", 30000)], vat_total=6000))]).states
    result = remap(state["order:1042"], config(active=False), NOW, INVOICE, revision=1)
    assert result.command is None
    assert result.commands == []


def test_decide_never_changes_the_state_it_is_given() -> None:
    from bogfoer_rules.policy import _CONTAINERS, OrderState, decide

    # Every field that can change in place is copied; the rest are immutable values.
    assert set(OrderState.model_fields) - set(_CONTAINERS) == {
        "key",
        "key_scheme",
        "before_cutover",
        "cancelled_before_invoice",
        "cancel_credited",
        "invoice",
        "credited_total",
        "amount_refunded",
    }
    cfg = config(trigger="order_placed")
    state = run([placed()], cfg).states["order:1042"]
    before = state.model_dump_json()
    decide(captured(), cfg, state, NOW)
    decide(paid(), cfg, state, NOW)
    assert state.model_dump_json() == before
