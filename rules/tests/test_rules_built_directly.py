"""What `decide` builds directly, without pydantic's generic steps, is what they gave.

- `copy_state`: `decide` works on a copy of the state it was given, so the caller's state
  (kept by the mapper for the poll, by the reconciler for the replay) never changes under
  it. The copy is built without `model_copy`; these tests hold it to what `model_copy` made
  and keep the list of containers it copies complete when a field is added.
- `_decision`, `_ignored`, `_new_state`: a `Decision` or an empty state built without
  validating its parts, equal to the validated one.
- `_copy_to_decide`: `decide`'s own copy shares the containers it seldom changes with the
  state it was given until it changes one (`_Out.own`); over every golden stream, no
  decision changes the state it was given, and each container of a state that changed is
  the state's own.
- `_invoice`'s `CreateInvoice` and `EnsureContact`, `_register_payment`'s `RegisterPayment`
  and `_emit_credit_note`'s `CreateCreditNote`: built without the builders, each command of
  every golden stream the builder's instance for the same fields (every one given but
  `revision` and `kind`; the contact's six), and `_payout`'s fee lines likewise.
- `documents._line`: an order line's invoice line built without the builders, the very
  instance the builders (`checked`, held to validation in `test_rules_constructed`) give.
"""

from __future__ import annotations

import copy
import datetime as dt
import typing
from collections import Counter
from collections.abc import Callable

import pytest
from rules_factories import captured, config, fee, paid, placed, refunded, run
from rules_factories import line as order_line
from test_rules_golden import _bench, _cases, _shuffled, decided

from bogfoer_contracts import postings
from bogfoer_contracts.events import (
    Customer,
    LineKind,
    OrderLine,
    PaymentCapturedEvent,
    PaymentFeeEvent,
    PaymentRefundedEvent,
    PayoutPaidEvent,
)
from bogfoer_contracts.postings import command_json
from bogfoer_rules import checked
from bogfoer_rules.documents import _invoiced_line, _line, contact_identity, danish_date
from bogfoer_rules.policy import (
    _COMMAND_GIVEN,
    _CONTACT_GIVEN,
    _CONTAINERS,
    _FEE_LINE_GIVEN,
    Decision,
    OrderState,
    _before,
    _decision,
    _ignored,
    _new_state,
    copy_state,
    decide,
    state_key,
)


def _state() -> OrderState:
    done = run([placed(), paid(), captured(), fee(), refunded()], config(trigger="order_paid"))
    state = done.states["order:1042"]
    for name in ("events", "emitted", "invoice_lines", "done_refunds", "credited_quantities"):
        assert getattr(state, name), name
    return state


def test_the_copy_is_what_model_copy_with_every_container_copied_gave() -> None:
    state = _state()
    copied = copy_state(state)
    before = state.model_copy(update={name: getattr(state, name).copy() for name in _CONTAINERS})
    assert copied == before
    assert copied.model_fields_set == before.model_fields_set
    assert copied.model_dump_json() == state.model_dump_json()
    assert type(copied) is OrderState


def test_the_copy_has_its_own_containers_and_leaves_the_state_alone() -> None:
    state = _state()
    dumped = state.model_dump_json()
    copied = copy_state(state)
    for name in _CONTAINERS:
        assert getattr(copied, name) is not getattr(state, name), name
    copied.seen_event_ids.append("x")
    copied.events.clear()
    copied.invoice_lines.clear()
    copied.credited_quantities["1"] = 99
    copied.done_refunds.append("y")
    copied.emitted.append("z")
    copied.holds_raised.append("w")
    copied.credited_total = 1
    assert state.model_dump_json() == dumped


def test_every_container_field_of_the_state_is_copied() -> None:
    """A list or dict field added to OrderState and not to `_CONTAINERS` would be shared
    between a state and its copy, and `decide` would change the caller's state."""
    containers = {
        name
        for name, field in OrderState.model_fields.items()
        if typing.get_origin(field.annotation) in (list, dict)
    }
    assert containers == set(_CONTAINERS)


def test_a_decision_built_directly_is_the_validated_one() -> None:
    cfg = config(trigger="order_paid")
    done = run([placed(), paid(), captured()], cfg)
    assert done.commands
    state = done.states["order:1042"]
    validated = checked.without_text_walk(Decision)
    pairs = [
        (_ignored(state, "duplicate_event"), validated(state=state, ignored="duplicate_event")),
        (_decision(state, [], []), validated(state=state, commands=[], holds=[])),
        (
            _decision(state, done.commands, done.holds),
            validated(state=state, commands=done.commands, holds=done.holds),
        ),
    ]
    for direct, made in pairs:
        assert direct == made
        assert direct.model_fields_set == made.model_fields_set
        assert list(direct.__dict__) == list(made.__dict__)


def test_a_new_state_built_directly_is_the_validated_one() -> None:
    direct = _new_state("order:1042")
    made = checked.without_text_walk(OrderState)(key="order:1042")
    assert direct == made
    assert direct.model_fields_set == made.model_fields_set == {"key"}
    assert list(direct.__dict__) == list(made.__dict__)
    assert direct.model_dump_json() == made.model_dump_json()
    other = _new_state("order:1043")
    for name in _CONTAINERS:
        assert getattr(direct, name) is not getattr(other, name), name
        assert type(getattr(direct, name)) is type(getattr(made, name)), name
        assert not getattr(made, name), name  # `_new_state` writes each out empty


def test_a_copy_replaced_directly_is_what_model_copy_gives() -> None:
    """`checked.replaced` (a credit note's lines taken from the invoice's) against
    `model_copy(update=...)`, fields set and all."""
    state = _state()
    for line in state.invoice_lines:
        spec = line.spec
        direct = checked.replaced(line, spec=checked.replaced(spec, quantity=1))
        copied = line.model_copy(update={"spec": spec.model_copy(update={"quantity": 1})})
        assert direct == copied
        assert direct.model_fields_set == copied.model_fields_set
        assert direct.spec.model_fields_set == copied.spec.model_fields_set
        assert list(direct.__dict__) == list(copied.__dict__)
        assert direct.model_dump_json() == copied.model_dump_json()


def test_the_cutovers_day_test_is_the_danish_days() -> None:
    """`_before` skips the time zone's conversion well after the cutover: the same answer
    as `danish_date(at) < cutover` for times around it in offsets from -23:59 to +23:59."""
    cutover = dt.date(2026, 3, 29)  # Denmark's summer time begins that night
    start = dt.datetime(2026, 3, 24, tzinfo=dt.UTC)
    offsets = [dt.timedelta(minutes=m) for m in (-1439, -720, -60, 0, 59, 60, 120, 721, 1439)]
    for hour in range(0, 24 * 12, 1):
        at = start + dt.timedelta(hours=hour, minutes=30)
        for offset in offsets:
            local = at.astimezone(dt.timezone(offset))
            assert _before(local, cutover) == (danish_date(local) < cutover), local


def test_an_invoice_line_built_directly_is_the_builders() -> None:
    """Every line kind, fields set and field order alike (shipping's unit is its own)."""
    for kind in typing.get_args(LineKind):
        made = OrderLine.model_validate(order_line("7", kind, 4990, 3, description=f"A {kind}"))
        direct = _line(made, made.kind, 1010, 2500)
        builders = _invoiced_line(
            line_id="7",
            kind=made.kind,
            spec=checked.InvoiceLineSpec(
                description=f"A {kind}",
                quantity=3,
                unit_price=4990,
                account_number=1010,
                unit="shipment" if kind == "shipping" else "parts",
                vat_rate=2500,
            ),
            vat_rate=2500,
        )
        for one, other in ((direct, builders), (direct.spec, builders.spec)):
            assert one == other
            assert one.model_fields_set == other.model_fields_set
            assert list(one.__dict__) == list(other.__dict__)
            assert one.model_dump_json() == other.model_dump_json()


@pytest.mark.parametrize("stream", [_bench, _shuffled, _cases])
def test_no_decision_changes_the_state_it_was_given(stream: object) -> None:
    assert callable(stream)
    events, config_of, now = stream()
    states: dict[str, OrderState] = {}
    changed = 0
    for event in events:
        key = f"{event.tenant_id}/{state_key(event)}"
        given = states.get(key)
        before = None if given is None else (given.model_dump_json(), _contents(given))
        state = decide(event, config_of(event), given, now).state
        if given is not None:
            assert (given.model_dump_json(), _contents(given)) == before
            for name in _CONTAINERS:  # what differs is the new state's own
                if getattr(state, name) != getattr(given, name):
                    assert getattr(state, name) is not getattr(given, name), name
                    changed += 1
        states[key] = state
    assert changed > 0


def _contents(state: OrderState) -> list[object]:
    return [copy.copy(getattr(state, name)) for name in _CONTAINERS]


@pytest.mark.parametrize("stream", [_bench, _shuffled, _cases])
def test_invoices_and_payments_built_directly_are_the_builders(stream: object) -> None:
    assert callable(stream)
    builders: dict[type, Callable[..., postings.PostingCommand]] = {
        postings.CreateInvoice: checked.CreateInvoice,
        postings.RegisterPayment: checked.RegisterPayment,
        postings.EnsureContact: checked.EnsureContact,
        postings.CreateCreditNote: checked.CreateCreditNote,
    }
    given_fields = {**_COMMAND_GIVEN, postings.EnsureContact: _CONTACT_GIVEN}
    seen: Counter[type] = Counter()
    for decision in decided(stream()):
        for command in decision.commands:
            builder = builders.get(type(command))
            if builder is None:
                continue
            seen[type(command)] += 1
            assert command.model_fields_set == given_fields[type(command)]
            given = {name: getattr(command, name) for name in command.model_fields_set}
            again = builder(**given)
            assert again == command
            assert again.model_fields_set == command.model_fields_set
            assert list(again.__dict__) == list(command.__dict__)
            assert command_json(again) == command_json(command)
            if isinstance(command, postings.EnsureContact):
                spec = command.contact
                made = checked.ContactSpec(**{n: getattr(spec, n) for n in spec.model_fields_set})
                assert made == spec
                assert made.model_fields_set == spec.model_fields_set
                assert list(made.__dict__) == list(spec.__dict__)
    assert seen[postings.CreateInvoice] > 0
    assert seen[postings.RegisterPayment] > 0
    assert seen[postings.EnsureContact] > 0
    assert seen[postings.CreateCreditNote] > 0


@pytest.mark.parametrize("stream", [_bench, _cases])
def test_a_payouts_fee_lines_built_directly_are_the_builders(stream: object) -> None:
    """`_payout`'s fee lines (each naming the key it supersedes), every one of the streams'
    payouts: the builder's instance for the same fields, the VAT codes their default."""
    assert callable(stream)
    seen = 0
    for decision in decided(stream()):
        for command in decision.commands:
            if not isinstance(command, postings.CreateVoucher) or command.purpose != "fee":
                continue
            for line in command.lines:
                if line.supersedes is None:
                    continue  # a provider's own fee (`_fee`), built by the builder
                seen += 1
                assert line.model_fields_set == _FEE_LINE_GIVEN
                given = {name: getattr(line, name) for name in line.model_fields_set}
                again = checked.VoucherLineSpec(**given)
                assert again == line
                assert again.model_fields_set == line.model_fields_set
                assert list(again.__dict__) == list(line.__dict__)
                assert again.model_dump_json() == line.model_dump_json()
    assert seen > 0


def test_the_collective_contact_is_the_settings_own() -> None:
    """Remembered per settings (`documents._collective_contact`): the builder's contact, and
    settings with another collective name get theirs, not the first one's."""
    first = config(trigger="order_paid")
    renamed = first.model_copy(update={"collective_contact_name": "Webshop-salg"})
    for cfg in (first, renamed, first):
        part, contact = contact_identity(
            Customer.model_validate({"name": "A", "billing_address": {"country": "DK"}}), cfg
        )
        assert part == "collective"
        made = checked.ContactSpec(name=cfg.collective_contact_name, country="DK")
        assert contact == made
        assert contact.model_fields_set == made.model_fields_set
    assert (
        contact_identity(
            Customer.model_validate({"name": "A", "billing_address": {"country": "DK"}}), renamed
        )[1].name
        == "Webshop-salg"
    )


@pytest.mark.parametrize("stream", [_bench, _shuffled, _cases])
def test_no_order_state_holds_a_provider_level_fact(stream: object) -> None:
    """`_advance` looks for fees, payouts and payments or refunds naming no order
    (`_provider_facts`) only in a payment's or payout's state: `state_key` never files one
    under an order."""
    assert callable(stream)
    events, _, _ = stream()
    kinds: Counter[str] = Counter()
    for event in events:
        ordered = state_key(event).startswith("order:")
        kinds[f"{event.type} {ordered}"] += 1
        if type(event) in (PaymentFeeEvent, PayoutPaidEvent):
            assert not ordered
        elif type(event) in (PaymentCapturedEvent, PaymentRefundedEvent):
            assert ordered == bool(event.data.order_id)
        else:
            assert ordered
    assert kinds
