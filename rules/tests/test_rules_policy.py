"""decide(): triggers, booking modes, cutover, every event type, holds and out-of-order arrival."""

from __future__ import annotations

import datetime as dt

import pytest
from rules_factories import (
    NOW,
    T0,
    TENANT,
    cancelled,
    captured,
    config,
    customer,
    fee,
    fulfilled,
    line,
    order,
    paid,
    payment_refunded,
    payout,
    placed,
    refunded,
    run,
)

from bogfoer_contracts.ids import posting_key
from bogfoer_contracts.postings import (
    CreateCreditNote,
    CreateInvoice,
    CreateVoucher,
    EnsureContact,
    RegisterPayment,
)
from bogfoer_rules.policy import WAIT_LIMIT, decide, state_key

INVOICE = posting_key(TENANT, "invoice", "shopify", "1042")
PAYMENT = posting_key(TENANT, "payment", "stripe", "pi_1042")
CONTACT = posting_key(TENANT, "contact", "kunde@example.dk")


def _invoice(commands: object) -> CreateInvoice:
    found = [c for c in commands if isinstance(c, CreateInvoice)]  # type: ignore[attr-defined]
    assert len(found) == 1
    return found[0]


# --- triggers -----------------------------------------------------------------------------


def test_trigger_order_placed_creates_contact_and_invoice_at_placement() -> None:
    result = run([placed()], config(trigger="order_placed"))
    assert result.kinds() == ["contact", "invoice"]
    contact, invoice = result.commands
    assert isinstance(contact, EnsureContact)
    assert contact.posting_key == CONTACT
    assert contact.contact.email == "kunde@example.dk"
    assert isinstance(invoice, CreateInvoice)
    assert invoice.posting_key == INVOICE
    assert invoice.contact_key == CONTACT
    assert invoice.depends_on == [CONTACT]
    assert invoice.organization_id == 123456
    assert invoice.description == "Ordre #1042"
    assert [(li.account_number, li.quantity, li.unit_price) for li in invoice.lines] == [
        (1000, 2, 12500),
        (1350, 1, 5000),
    ]
    assert invoice.show_lines_incl_vat is True
    assert (invoice.expected_total, invoice.expected_vat) == (30000, 6000)
    assert invoice.date == dt.date(2025, 3, 14)
    assert invoice.issued_at == T0
    assert invoice.payment_condition_type == "Paid"


def test_trigger_order_paid_waits_for_the_shops_payment() -> None:
    cfg = config(trigger="order_paid")
    assert run([placed()], cfg).commands == []
    pay = paid(at=T0 + dt.timedelta(days=2))
    result = run([placed(), pay], cfg)
    invoice = _invoice(result.commands)
    assert invoice.date == dt.date(2025, 3, 16)
    assert invoice.issued_at == pay.occurred_at
    assert invoice.source_event_ids == [placed().id, pay.id]


def test_trigger_order_paid_is_not_fired_by_a_stripe_capture_alone() -> None:
    result = run([placed(), captured()], config(trigger="order_paid"))
    assert result.commands == []


def test_trigger_order_fulfilled_waits_for_fulfilment_and_then_releases_the_payment() -> None:
    cfg = config(trigger="order_fulfilled")
    before = run([placed(), paid(), captured()], cfg)
    assert before.commands == []
    result = run([placed(), paid(), captured(), fulfilled()], cfg)
    assert result.kinds() == ["contact", "invoice", "payment"]
    assert _invoice(result.commands).date == dt.date(2025, 3, 15)


@pytest.mark.parametrize("mode", ["draft", "booked", "booked_and_emailed"])
def test_booking_mode_reaches_invoice_and_credit_note(mode: str) -> None:
    result = run([placed(), refunded()], config(trigger="order_placed", booking_mode=mode))
    assert _invoice(result.commands).booking == mode
    credit = [c for c in result.commands if isinstance(c, CreateCreditNote)]
    assert [c.booking for c in credit] == [mode]


def test_invoice_date_is_the_danish_calendar_date() -> None:
    late = dt.datetime(2025, 3, 31, 22, 30, tzinfo=dt.UTC)  # 00:30 on 1 April in Copenhagen
    result = run([placed(order(placed_at=late))], config(trigger="order_placed"))
    assert _invoice(result.commands).date == dt.date(2025, 4, 1)


def test_payment_terms_and_template_come_from_the_tenant() -> None:
    cfg = config(
        trigger="order_placed",
        invoice_template_id="tpl-1",
        payment_terms={"type": "Netto", "days": 8},
    )
    invoice = _invoice(run([placed()], cfg).commands)
    assert (invoice.invoice_template_id, invoice.payment_condition_type) == ("tpl-1", "Netto")
    assert invoice.payment_condition_days == 8


# --- idempotency, cutover, tenant --------------------------------------------------------


def test_the_same_event_twice_is_ignored_the_second_time() -> None:
    ev = placed()
    cfg = config(trigger="order_placed")
    first = decide(ev, cfg, None, NOW)
    second = decide(ev, cfg, first.state, NOW)
    assert first.commands
    assert second.commands == []
    assert second.ignored == "duplicate_event"
    assert second.state == first.state


def test_an_order_placed_before_cutover_is_ignored_with_everything_after_it() -> None:
    cfg = config(trigger="order_placed", cutover=dt.date(2025, 3, 15))
    result = run([captured(), placed(), paid(), refunded()], cfg)
    assert result.commands == []
    assert result.ignored == [None, "before_cutover", "before_cutover", "before_cutover"]


def test_a_backfill_books_an_order_from_before_the_cutover_even_after_it_was_ignored() -> None:
    cfg = config(trigger="order_placed", cutover=dt.date(2025, 3, 15))
    ignored = run([placed()], cfg)
    assert (ignored.commands, ignored.ignored) == ([], ["before_cutover"])
    # The same order sent again as a backfill (same source ids) is booked like new.
    result = run([placed(), placed(backfill=True)], cfg)
    assert result.kinds() == ["contact", "invoice"]
    assert result.ignored == ["before_cutover", None]


def test_cutover_uses_the_danish_date() -> None:
    # 23:30 UTC on 14 March is 15 March in Copenhagen: on or after a 15 March cutover.
    late = dt.datetime(2025, 3, 14, 23, 30, tzinfo=dt.UTC)
    cfg = config(trigger="order_placed", cutover=dt.date(2025, 3, 15))
    assert run([placed(order(placed_at=late))], cfg).kinds() == ["contact", "invoice"]


def test_payout_before_cutover_is_ignored() -> None:
    result = run([payout(arrival=dt.date(2024, 12, 31))])
    assert (result.commands, result.ignored) == ([], ["before_cutover"])


def test_an_event_for_another_tenant_is_refused() -> None:
    with pytest.raises(ValueError, match="tenant"):
        decide(placed(tenant="shop-b"), config(), None, NOW)


def test_an_inactive_tenant_ignores_without_marking_the_event_seen() -> None:
    ev = placed()
    decision = decide(ev, config(active=False, trigger="order_placed"), None, NOW)
    assert decision.ignored == "tenant_inactive"
    again = decide(ev, config(trigger="order_placed"), decision.state, NOW)
    assert [c.kind for c in again.commands] == ["contact", "invoice"]


def test_state_keys() -> None:
    assert state_key(placed()) == "order:1042"
    assert state_key(captured()) == "order:1042"
    assert state_key(captured(order_id=None)) == "payment:stripe:pi_1042"
    assert state_key(fee()) == "payment:stripe:pi_1042"
    assert state_key(payment_refunded(order_id=None)) == "payment:stripe:pi_1042"
    assert state_key(payout()) == "payout:stripe:po_1"


# --- customers ----------------------------------------------------------------------------


def test_collective_customer_handling_uses_one_contact_per_tenant() -> None:
    cfg = config(trigger="order_placed", customer_handling="collective")
    result = run([placed()], cfg)
    contact = result.commands[0]
    assert isinstance(contact, EnsureContact)
    assert contact.posting_key == posting_key(TENANT, "contact", "collective")
    assert contact.contact.name == "Webshop-kunder"
    assert contact.contact.email is None


def test_a_customer_without_email_falls_back_to_the_collective_contact() -> None:
    o = order(cust=customer(email=None))
    contact = run([placed(o)], config(trigger="order_placed")).commands[0]
    assert contact.posting_key == posting_key(TENANT, "contact", "collective")


def test_two_orders_of_one_customer_share_the_contact_key() -> None:
    result = run([placed(), placed(order("1043"))], config(trigger="order_placed"))
    contacts = {c.posting_key for c in result.commands if isinstance(c, EnsureContact)}
    assert contacts == {CONTACT}


# --- zones on the invoice -----------------------------------------------------------------


def test_eu_b2b_sale_goes_on_1100_without_vat_and_the_contact_carries_the_vat_number() -> None:
    cust = customer("DE", postcode="10115", kind="business", vat_number="DE 123 456 789")
    o = order(
        cust=cust,
        lines=[line("l1", "goods", 10000, 2, vat_rate=0), line("l2", "shipping", 4000, vat_rate=0)],
        total=24000,
        vat_total=0,
    )
    result = run([placed(o)], config(trigger="order_placed"))
    contact, invoice = result.commands
    assert isinstance(contact, EnsureContact)
    assert isinstance(invoice, CreateInvoice)
    assert contact.contact.vat_number == "DE123456789"
    assert invoice.comment is not None
    assert "reverse charge" in invoice.comment
    assert "DE123456789" in invoice.comment
    assert contact.contact.is_person is False
    assert {li.account_number for li in invoice.lines} == {1100}
    assert (invoice.expected_total, invoice.expected_vat) == (24000, 0)


def test_export_sale_at_zero_vat_goes_on_1255() -> None:
    o = order(
        cust=customer("NO", postcode="0150"),
        lines=[line("l1", "goods", 10000, 2, vat_rate=0), line("l2", "shipping", 4000, vat_rate=0)],
        total=24000,
        vat_total=0,
    )
    invoice = _invoice(run([placed(o)], config(trigger="order_placed")).commands)
    assert {li.account_number for li in invoice.lines} == {1255}


def test_export_sale_with_danish_vat_is_held() -> None:
    o = order(cust=customer("NO", postcode="0150"))
    result = run([placed(o)], config(trigger="order_placed"))
    assert result.commands == []
    assert result.reasons() == ["vat_charged_on_zero_rated_sale"]
    assert result.holds[0].posting_key == INVOICE
    assert result.holds[0].kind == "invoice"
    assert "export" in result.holds[0].message


def test_eu_consumer_with_danish_vat_books_on_the_domestic_accounts() -> None:
    o = order(cust=customer("FR", postcode="75001"))
    invoice = _invoice(run([placed(o)], config(trigger="order_placed")).commands)
    assert [li.account_number for li in invoice.lines] == [1000, 1350]


def test_eu_consumer_charged_destination_vat_is_held_as_oss() -> None:
    o = order(
        cust=customer("DE", postcode="10115"),
        lines=[line("l1", "goods", 11900, vat_rate=1900)],
        total=11900,
        vat_total=1900,
    )
    result = run([placed(o)], config(trigger="order_placed"))
    assert (result.commands, result.reasons()) == ([], ["oss_not_supported"])


def test_domestic_line_at_zero_vat_is_held_as_unsupported_rate() -> None:
    o = order(lines=[line("l1", "goods", 10000, vat_rate=0)], total=10000, vat_total=0)
    assert run([placed(o)], config(trigger="order_placed")).reasons() == ["unsupported_vat_rate"]


def test_vat_exempt_seller_books_on_1050() -> None:
    o = order(lines=[line("l1", "goods", 10000, vat_rate=0)], total=10000, vat_total=0)
    cfg = config(trigger="order_placed", vat_exempt_seller=True)
    invoice = _invoice(run([placed(o)], cfg).commands)
    assert [li.account_number for li in invoice.lines] == [1050]
    assert invoice.expected_vat == 0


def test_vat_exempt_seller_charging_vat_is_held() -> None:
    cfg = config(trigger="order_placed", vat_exempt_seller=True)
    assert run([placed()], cfg).reasons() == ["vat_charged_by_exempt_seller"]


def test_gift_card_and_discount_lines() -> None:
    o = order(
        lines=[
            line("l1", "goods", 20000),
            line("d1", "discount", -2000),
            line("g1", "gift_card", 50000, vat_rate=0),
        ],
        total=68000,
        vat_total=3600,
    )
    invoice = _invoice(run([placed(o)], config(trigger="order_placed")).commands)
    assert [(li.account_number, li.unit_price) for li in invoice.lines] == [
        (1000, 20000),
        (1000, -2000),
        (63080, 50000),
    ]


def test_gift_card_with_vat_is_held() -> None:
    o = order(lines=[line("g1", "gift_card", 50000)], total=50000, vat_total=10000)
    assert run([placed(o)], config(trigger="order_placed")).reasons() == ["gift_card_with_vat"]


def test_net_priced_order_is_sent_excl_vat() -> None:
    o = order(
        cust=customer(kind="business", vat_number="DK12345678"),
        lines=[line("l1", "goods", 10000, 2, incl=False), line("l2", "shipping", 4000, incl=False)],
    )
    invoice = _invoice(run([placed(o)], config(trigger="order_placed")).commands)
    assert invoice.show_lines_incl_vat is False
    assert (invoice.expected_total, invoice.expected_vat) == (30000, 6000)


def test_mixed_price_basis_is_held() -> None:
    o = order(lines=[line("l1", "goods", 12500, 2), line("l2", "shipping", 4000, incl=False)])
    assert run([placed(o)], config(trigger="order_placed")).reasons() == ["mixed_price_basis"]


def test_total_mismatch_above_tolerance_holds_the_whole_order() -> None:
    cfg = config(trigger="order_placed", rounding_tolerance=10)
    result = run([placed(order(total=30100)), captured()], cfg)
    assert result.commands == []
    assert result.reasons() == ["total_mismatch"]


def test_total_difference_within_tolerance_adds_a_rounding_line_on_the_invoice() -> None:
    cfg = config(trigger="order_placed", rounding_tolerance=10)
    invoice = _invoice(run([placed(order(total=30002))], cfg).commands)
    assert invoice.lines[-1].description == "Øreafrunding"
    assert (invoice.lines[-1].unit_price, invoice.lines[-1].account_number) == (2, 1000)
    assert (invoice.expected_total, invoice.expected_vat) == (30002, 6000)


# --- payments and fees --------------------------------------------------------------------


def test_stripe_capture_registers_the_payment_on_the_deposit_account() -> None:
    result = run([placed(), paid(), captured()], config(trigger="order_placed"))
    payments = [c for c in result.commands if isinstance(c, RegisterPayment)]
    assert len(payments) == 1
    payment = payments[0]
    assert payment.posting_key == PAYMENT
    assert (payment.amount, payment.deposit_account) == (30000, 55010)
    assert payment.invoice_key == INVOICE
    assert payment.depends_on == [INVOICE]
    assert payment.payment_date == dt.date(2025, 3, 14)


def test_a_shop_payment_at_a_provider_without_feed_registers_from_order_paid() -> None:
    cfg = config(trigger="order_paid", deposit_accounts={"stripe": 55010, "bank": 55000})
    pay = paid(provider="bank", reference="ref-7", method="bank")
    result = run([placed(), pay], cfg)
    payment = [c for c in result.commands if isinstance(c, RegisterPayment)]
    assert [(p.posting_key, p.deposit_account) for p in payment] == [
        (posting_key(TENANT, "payment", "bank", "ref-7"), 55000)
    ]


def test_a_payment_whose_provider_has_no_deposit_account_is_held() -> None:
    cfg = config(trigger="order_placed", deposit_accounts={"bank": 55000})
    result = run([placed(), captured(method="klarna")], cfg)
    assert result.kinds() == ["contact", "invoice"]
    assert result.reasons() == ["unmapped_deposit_account"]
    assert "'stripe'" in result.holds[0].message
    assert result.holds[0].posting_key == PAYMENT


def test_an_order_in_another_currency_than_dkk_is_held_whole() -> None:
    result = run([placed(order(currency="EUR")), captured()], config(trigger="order_placed"))
    assert result.commands == []
    assert result.reasons() == ["unsupported_currency"]
    assert "EUR" in result.holds[0].message


def test_payment_in_another_currency_is_held() -> None:
    ev = captured()
    ev = ev.model_copy(update={"data": ev.data.model_copy(update={"currency": "EUR"})})
    result = run([placed(), ev], config(trigger="order_placed"))
    assert result.reasons() == ["currency_mismatch"]


def test_stripe_payment_before_the_shops_order_waits_for_the_invoice() -> None:
    cfg = config(trigger="order_placed")
    early = run([captured()], cfg)
    assert early.commands == []
    result = run([captured(), placed()], cfg)
    assert result.kinds() == ["contact", "invoice", "payment"]


def test_the_fee_on_a_capture_is_informational_the_fee_event_books_it() -> None:
    # Ingest sends both for one charge; booking from both would be one fee twice.
    result = run([placed(), captured(fee=465)], config(trigger="order_placed"))
    assert result.kinds() == ["contact", "invoice", "payment"]


def test_a_stripe_fee_event_books_nothing_its_payout_books_it() -> None:
    # Stripe settles its fees in its payouts, and the payout lists every one: the payout owns
    # them, whether the fee event arrives before or after it.
    assert run([fee(balance_transaction_id="txn_1")]).commands == []


def test_a_fee_of_a_provider_without_payout_feed_is_a_day_summary_line() -> None:
    cfg = config(deposit_accounts={"stripe": 55010, "mobilepay": 55020})
    result = run([fee(balance_transaction_id="txn_1", provider="mobilepay")], cfg)
    (voucher,) = result.commands
    assert isinstance(voucher, CreateVoucher)
    assert voucher.posting_key == posting_key(TENANT, "fee", "mobilepay", "txn_1")
    assert (voucher.purpose, voucher.summary) == ("fee", True)  # gathered per day
    assert voucher.date == dt.date(2025, 3, 14)
    (vline,) = voucher.lines
    assert (vline.account_number, vline.balancing_account_number, vline.amount) == (
        7220,
        55020,
        465,
    )
    assert "pi_1042" in vline.description
    assert "txn_1" in vline.description
    assert (vline.account_vat_code, vline.balancing_account_vat_code) == ("none", "none")


def test_a_fee_without_balance_transaction_is_keyed_by_the_payment() -> None:
    cfg = config(deposit_accounts={"mobilepay": 55020})
    result = run([fee(provider="mobilepay")], cfg)
    assert result.kinds() == ["voucher:fee"]
    assert result.commands[0].posting_key == posting_key(TENANT, "fee", "mobilepay", "pi_1042")


def test_fee_for_a_provider_without_deposit_account_is_held() -> None:
    cfg = config(deposit_accounts={"stripe": 55010})
    result = run([fee(provider="mobilepay")], cfg)
    assert (result.commands, result.reasons()) == ([], ["unmapped_deposit_account"])


def test_every_movement_of_a_providers_money_meets_on_its_one_deposit_account() -> None:
    """Capture, fee, refund and payout of Stripe money all book on deposit_accounts["stripe"]
    (whatever the card or wallet), so the account is back at zero after the payout."""
    cfg = config(trigger="order_placed", deposit_accounts={"stripe": 55011})
    bts = [
        {
            "id": "txn_c",
            "reporting_category": "charge",
            "amount": 30000,
            "fee": 465,
            "net": 29535,
            "source": "pi_1042",
        },
        {
            "id": "txn_r",
            "reporting_category": "refund",
            "amount": -12500,
            "net": -12500,
            "source": "re_1",
        },
    ]
    result = run(
        [
            placed(),
            captured(method="mobilepay", fee=465),
            refunded(),
            payment_refunded(),
            payout(amount=17035, balance_transactions=bts),
        ],
        cfg,
    )
    assert result.holds == []
    movement = 0
    for command in result.commands:
        if isinstance(command, RegisterPayment):
            assert command.deposit_account == 55011
            movement += command.amount
        elif isinstance(command, CreateVoucher):
            for voucher_line in command.lines:
                if voucher_line.account_number == 55011:
                    movement += voucher_line.amount
                if voucher_line.balancing_account_number == 55011:
                    movement -= voucher_line.amount
    assert movement == 0


def test_stripe_payment_without_order_metadata_is_held() -> None:
    result = run([captured(order_id=None, fee=465)])
    assert result.commands == []
    assert result.reasons() == ["payment_without_order"]
    assert result.holds[0].posting_key == PAYMENT


def test_events_waiting_too_long_for_their_order_raise_a_hold() -> None:
    late = T0 + WAIT_LIMIT + dt.timedelta(days=1)
    result = run([captured(), paid()], now=late)
    assert result.reasons() == ["order_missing"]
    assert run([captured(), paid()], now=T0 + dt.timedelta(days=1)).holds == []


# --- payouts ------------------------------------------------------------------------------


def test_payout_moves_money_from_the_deposit_account_to_the_bank() -> None:
    result = run([payout()])
    (voucher,) = result.commands
    assert isinstance(voucher, CreateVoucher)
    assert voucher.purpose == "payout"
    assert voucher.posting_key == posting_key(TENANT, "payout", "stripe", "po_1")
    assert voucher.date == dt.date(2025, 3, 18)
    (vline,) = voucher.lines
    assert (vline.account_number, vline.balancing_account_number, vline.amount) == (
        55000,
        55010,
        29535,
    )


def test_a_stripe_payout_books_every_fee_it_contains_in_one_voucher() -> None:
    bts = [
        {
            "id": "txn_c",
            "reporting_category": "charge",
            "amount": 30000,
            "fee": 465,
            "net": 29535,
            "source": "ch_1",
        },
        {"id": "txn_f", "reporting_category": "fee", "amount": -200, "fee": 0, "net": -200},
        {"id": "txn_r", "reporting_category": "refund", "amount": -5000, "fee": -50, "net": -4950},
        {"id": "txn_0", "reporting_category": "charge", "amount": 100, "fee": 0, "net": 100},
        {"id": "txn_p", "reporting_category": "payout", "amount": -24485, "net": -24485},
    ]
    result = run([payout(amount=24485, balance_transactions=bts)])
    assert result.kinds() == ["voucher:payout", "voucher:fee"]
    fees = result.commands[1]
    assert isinstance(fees, CreateVoucher)
    assert fees.posting_key == posting_key(TENANT, "payout_fees", "stripe", "po_1")
    assert fees.date == dt.date(2025, 3, 18)
    # Each fee is its own line, naming its balance transaction (and its charge).
    assert [(ln.amount, ln.supersedes) for ln in fees.lines] == [
        (465, posting_key(TENANT, "fee", "stripe", "txn_c")),
        (200, posting_key(TENANT, "fee", "stripe", "txn_f")),
        (-50, posting_key(TENANT, "fee", "stripe", "txn_r")),
    ]
    assert "txn_c" in fees.lines[0].description
    assert "ch_1" in fees.lines[0].description
    assert {(ln.account_number, ln.balancing_account_number) for ln in fees.lines} == {
        (7220, 55010)
    }
    assert result.holds == []


def test_a_payout_without_fees_books_no_fee_voucher() -> None:
    bts = [{"id": "txn_c", "reporting_category": "charge", "amount": 100, "net": 100}]
    assert run([payout(amount=100, balance_transactions=bts)]).kinds() == ["voucher:payout"]


def test_a_payout_of_a_provider_without_feed_books_only_its_standalone_fees() -> None:
    # Its charge fees come from its payment.fee events, a day voucher each day.
    cfg = config(deposit_accounts={"mobilepay": 55020})
    bts = [
        {"id": "t_c", "reporting_category": "charge", "amount": 30000, "fee": 465, "net": 29535},
        {"id": "t_f", "reporting_category": "fee", "amount": -200, "fee": 0, "net": -200},
    ]
    result = run([payout(amount=29335, balance_transactions=bts, provider="mobilepay")], cfg)
    fees = result.commands[1]
    assert isinstance(fees, CreateVoucher)
    assert [ln.amount for ln in fees.lines] == [200]


def test_payout_that_does_not_add_up_is_booked_and_held_for_reconciliation() -> None:
    bts = [{"id": "txn_c", "reporting_category": "charge", "amount": 30000, "net": 29535}]
    result = run([payout(amount=29000, balance_transactions=bts)])
    assert result.kinds() == ["voucher:payout"]
    assert result.reasons() == ["payout_unreconciled"]


def test_payout_with_a_dispute_needs_manual_booking() -> None:
    bts = [
        {"id": "txn_c", "reporting_category": "charge", "amount": 30000, "net": 29535},
        {"id": "txn_d", "reporting_category": "dispute", "amount": -30000, "net": -31500},
    ]
    result = run([payout(amount=-1965, balance_transactions=bts)])
    assert result.reasons() == ["payout_needs_manual_booking"]
    assert "txn_d" in result.holds[0].message


# --- refunds and cancellations ------------------------------------------------------------


def _credit_notes(result: object) -> list[CreateCreditNote]:
    return [c for c in result.commands if isinstance(c, CreateCreditNote)]  # type: ignore[attr-defined]


def _refund_payments(result: object) -> list[RegisterPayment]:
    """Money going back: negative payments on the invoice, keyed refund_payment:…"""
    return [
        c
        for c in result.commands  # type: ignore[attr-defined]
        if isinstance(c, RegisterPayment) and ":refund_payment:" in c.posting_key
    ]


def _vouchers(result: object, purpose: str) -> list[CreateVoucher]:
    return [
        c
        for c in result.commands  # type: ignore[attr-defined]
        if isinstance(c, CreateVoucher) and c.purpose == purpose
    ]


def test_line_refund_of_a_stripe_order_credits_the_line_and_leaves_the_money_to_stripe() -> None:
    result = run([placed(), refunded()], config(trigger="order_placed"))
    (credit,) = _credit_notes(result)
    assert credit.posting_key == posting_key(TENANT, "credit_note", "shopify", "r1")
    assert credit.invoice_key == INVOICE
    assert credit.depends_on == [INVOICE]
    assert [(li.account_number, li.quantity, li.unit_price) for li in credit.lines] == [
        (1000, 1, 12500)
    ]
    assert credit.expected_total == 12500
    assert _refund_payments(result) == []


def test_stripe_refund_moves_the_money_back_from_the_deposit_account() -> None:
    result = run(
        [placed(), captured(), refunded(), payment_refunded()], config(trigger="order_placed")
    )
    (money,) = _refund_payments(result)
    assert money.posting_key == posting_key(TENANT, "refund_payment", "stripe", "re_1")
    # A negative payment on the invoice: Dr 53000 / Cr the Stripe deposit account.
    assert (money.invoice_key, money.deposit_account, money.amount) == (INVOICE, 55010, -12500)


def test_shop_refund_at_a_provider_without_feed_books_credit_note_and_money() -> None:
    bank = [{"provider": "bank", "reference": "b-1", "method": "bank"}]
    cfg = config(trigger="order_placed", deposit_accounts={"stripe": 55010, "bank": 55000})
    result = run([placed(order(payments=bank)), refunded()], cfg)
    (credit,) = _credit_notes(result)
    (money,) = _refund_payments(result)
    assert money.posting_key == posting_key(TENANT, "refund_payment", "shopify", "r1")
    assert money.depends_on == sorted([credit.posting_key, INVOICE])
    assert (money.deposit_account, money.amount) == (55000, -12500)


def test_refund_without_any_payment_information_is_held() -> None:
    result = run([placed(order(payments=[])), refunded()], config(trigger="order_placed"))
    assert _credit_notes(result) == []
    assert result.reasons() == ["refund_method_unknown"]


def test_amount_only_refund_is_one_line_on_the_goods_account() -> None:
    result = run([placed(), refunded(amount=5000, lines=[])], config(trigger="order_placed"))
    (credit,) = _credit_notes(result)
    assert [(li.account_number, li.quantity, li.unit_price) for li in credit.lines] == [
        (1000, 1, 5000)
    ]
    assert credit.show_lines_incl_vat is True


def test_amount_only_refund_of_mixed_vat_order_is_held() -> None:
    o = order(
        lines=[line("l1", "goods", 20000), line("g1", "gift_card", 50000, vat_rate=0)],
        total=70000,
        vat_total=4000,
    )
    result = run([placed(o), refunded(amount=5000, lines=[])], config(trigger="order_placed"))
    assert result.reasons() == ["ambiguous_amount_refund"]


def test_refund_of_shipping_not_in_its_lines_is_held() -> None:
    result = run([placed(), refunded(amount=17500)], config(trigger="order_placed"))
    assert result.reasons() == ["refund_amount_mismatch"]


def test_refund_of_more_than_was_sold_is_held() -> None:
    result = run(
        [placed(), refunded("r1", 25000, [{"line_id": "l1", "quantity": 2}]), refunded("r2")],
        config(trigger="order_placed"),
    )
    assert len(_credit_notes(result)) == 1
    assert result.reasons() == ["refund_exceeds_order"]


def test_amount_refunds_cannot_credit_more_than_the_invoice() -> None:
    result = run(
        [placed(), refunded("r1", 20000, []), refunded("r2", 20000, [])],
        config(trigger="order_placed"),
    )
    assert len(_credit_notes(result)) == 1
    assert result.reasons() == ["refund_exceeds_invoice"]


def test_refund_naming_an_unknown_line_is_held() -> None:
    result = run(
        [placed(), refunded(lines=[{"line_id": "nope", "quantity": 1}])],
        config(trigger="order_placed"),
    )
    assert result.reasons() == ["refund_unknown_line"]


def test_refund_before_its_invoice_waits_and_comes_out_with_it() -> None:
    cfg = config(trigger="order_fulfilled")
    waiting = run([placed(), refunded()], cfg)
    assert waiting.commands == []
    result = run([placed(), refunded(), fulfilled()], cfg)
    assert result.kinds() == ["contact", "invoice", "credit_note"]


def test_cancel_before_invoicing_books_nothing_and_holds_later_payments() -> None:
    cfg = config(trigger="order_paid")
    result = run([placed(), cancelled(), paid(), captured()], cfg)
    assert result.commands == []
    assert result.reasons() == ["payment_for_cancelled_order"]


def test_cancel_after_invoicing_credits_the_whole_invoice() -> None:
    cfg = config(trigger="order_placed")
    result = run([placed(), cancelled()], cfg)
    (credit,) = _credit_notes(result)
    assert credit.posting_key == posting_key(TENANT, "credit_note", "shopify", "cancel-1042")
    assert [(li.account_number, li.quantity) for li in credit.lines] == [(1000, 2), (1350, 1)]
    assert credit.expected_total == 30000


def test_cancel_after_a_partial_refund_credits_only_the_rest() -> None:
    result = run([placed(), refunded(), cancelled()], config(trigger="order_placed"))
    cancel_credit = _credit_notes(result)[-1]
    assert [(li.account_number, li.quantity) for li in cancel_credit.lines] == [
        (1000, 1),
        (1350, 1),
    ]
    assert cancel_credit.expected_total == 17500


def test_refund_after_cancel_credit_books_only_the_money() -> None:
    bank = [{"provider": "bank", "reference": "b-1", "method": "bank"}]
    cfg = config(trigger="order_placed", deposit_accounts={"stripe": 55010, "bank": 55000})
    result = run(
        [placed(order(payments=bank)), cancelled(), refunded("r1", 30000, [])],
        cfg,
    )
    assert len(_credit_notes(result)) == 1
    assert len(_refund_payments(result)) == 1
    assert result.holds == []


def test_provider_refund_for_an_order_cancelled_before_invoicing_is_held() -> None:
    result = run([placed(), cancelled(), payment_refunded()], config(trigger="order_paid"))
    assert result.commands == []
    assert result.reasons() == ["refund_for_cancelled_order"]


def test_provider_refund_without_an_invoiced_order_is_held() -> None:
    result = run([payment_refunded(order_id=None)])
    assert result.commands == []
    assert result.reasons() == ["refund_without_invoice"]


def test_a_fee_booked_on_its_own_before_is_named_by_its_payout_line() -> None:
    """Before fees were grouped per payout, payment.fee booked a Stripe fee under
    `fee:stripe:<balance transaction>`; the payout's line names that key, so the poster
    leaves a fee booked that way out of the payout's voucher."""
    bts = [
        {"id": "txn_c", "reporting_category": "charge", "amount": 30000, "fee": 465, "net": 29535}
    ]
    fees = run([payout(balance_transactions=bts)]).commands[1]
    assert isinstance(fees, CreateVoucher)
    assert [ln.supersedes for ln in fees.lines] == [posting_key(TENANT, "fee", "stripe", "txn_c")]


# --- daily summaries ------------------------------------------------------------------------


def test_a_summary_tenants_sale_is_made_of_summary_members_on_the_collective_contact() -> None:
    cfg = config(trigger="order_placed", posting_mode="daily_summary")
    result = run([placed(), captured(), refunded(), payment_refunded()], cfg)
    assert result.kinds() == ["contact", "invoice", "payment", "credit_note", "payment"]
    (contact,) = [c for c in result.commands if isinstance(c, EnsureContact)]
    assert contact.posting_key == posting_key(TENANT, "contact", "collective")
    assert not contact.summary  # the contact is a document of its own
    members = [c for c in result.commands if not isinstance(c, EnsureContact)]
    assert all(c.summary for c in members)
    invoice = next(c for c in members if isinstance(c, CreateInvoice))
    assert invoice.contact_key == contact.posting_key


def test_a_per_order_tenants_sale_has_no_summary_members() -> None:
    result = run([placed(), captured()], config(trigger="order_placed"))
    assert not any(c.summary for c in result.commands)


def test_a_daily_summary_is_never_emailed() -> None:
    with pytest.raises(ValueError, match="daily summary"):
        config(posting_mode="daily_summary", booking_mode="booked_and_emailed")
