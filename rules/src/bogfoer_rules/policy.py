"""The mapper's decision: (event, tenant config, what is known about the order) → commands.

`decide` is pure. The handler loads the `OrderState` stored under `state_key(event)`, calls
`decide`, stores `Decision.state` and publishes `Decision.commands` (and the holds) after the
state is committed. Every command's content comes from stored facts only (never from `now`),
so replays give identical commands, and a command is emitted once per state (its posting key
is remembered in `OrderState.emitted`).

Ownership rules that keep one fact from being booked twice (see docs/mapper-rules.md):
- Money that moves at a *provider that feeds Bogfør its own events* (`PROVIDER_FEEDS`, i.e.
  Stripe) is booked from the provider's events: payment.captured registers the payment,
  payment.refunded pays the refund back. The shop's order.paid / order.refunded for such a
  payment only drive the trigger and the credit note.
- Money at other providers (bank transfer, cash, MobilePay without a feed) is booked from
  the shop's order.paid / order.refunded.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any, Literal, assert_never, cast, get_args

from pydantic import ConfigDict, Field, SerializeAsAny, TypeAdapter, ValidationError

from bogfoer_contracts.events import (
    Order,
    OrderCancelledEvent,
    OrderFulfilledEvent,
    OrderPaidEvent,
    OrderPlacedEvent,
    OrderRefundedEvent,
    PaymentCapturedEvent,
    PaymentFeeEvent,
    PaymentRefundedEvent,
    PayoutPaidEvent,
    SalesEvent,
)
from bogfoer_contracts.ids import escape_part, legacy_posting_key, posting_key
from bogfoer_contracts.model import (
    ContractModel,
    StorableText,
    built,
    checked_first,
    checked_text_validator,
    model_json,
    storable_json,
)
from bogfoer_contracts.postings import (
    CreateCreditNote,
    CreateInvoice,
    CreateVoucher,
    EnsureContact,
    PostingCommand,
    PostingKind,
    RegisterPayment,
    VoucherLineSpec,
)
from bogfoer_contracts.tenants import AccountNumber, TenantConfig
from bogfoer_contracts.times import timestamp_text_schema
from bogfoer_rules import checked
from bogfoer_rules.documents import (
    ROUNDING_LINE_ID,
    CreditDraft,
    InvoicedLine,
    Problem,
    amount_credit_line,
    contact_identity,
    credit_lines,
    danish_date,
    map_order,
    order_title,
)
from bogfoer_rules.holds import Hold, HoldReason
from bogfoer_rules.totals import document_totals, format_minor
from bogfoer_rules.zones import normalise_vat_number

# Providers whose own payment/refund/fee/payout events reach Bogfør. Their money movements
# are booked from those events only (see the module docstring). [our design]
PROVIDER_FEEDS: frozenset[str] = frozenset({"stripe"})
# Stripe retries a webhook for up to three days; an event still waiting for its order after
# that will not be rescued by a retry, so a person should look.
WAIT_LIMIT = dt.timedelta(days=3)
# Why an event whose id its order's state has seen changes nothing: a copy (the mapper
# drops an active tenant's copies by it, without a row of their own).
DUPLICATE_EVENT = "duplicate_event"
# How an order's posting keys are made: 2 = `posting_key` (injective); 1 = the keys before
# escaping (`legacy_posting_key`), kept by orders whose state was stored before scheme 2 so
# none of their documents is emitted again under a new key (docs/contracts.md).
KeyScheme = Literal[1, 2]
KEY_SCHEME: KeyScheme = 2
# State keys join a provider and its id with ":"; a ":" (or "~") in the provider is escaped
# so `payment:a:b:c` cannot be two different payments.
_STATE_PART_KEEPS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {":", "~"}


class OrderState(StorableText):
    """Everything known about one order (or one provider payment / payout), JSON-serialisable.

    `events` keeps the accepted facts in arrival order; the flags record decisions that
    depend on arrival (a cancellation before or after invoicing), and `emitted` the posting
    keys already published, so nothing is emitted twice.

    `StorableText` like the contracts it holds (and no unstorable text could reach
    PostgreSQL anyway): that lets `load` validate a stored state by a validator without the
    text walks (`checked_text_validator`), which pydantic-core builds only for models whose
    own validator is such a walk — a plain `BaseModel` it validates by its own validator.
    """

    model_config = ConfigDict(extra="forbid")

    key: str
    key_scheme: KeyScheme = KEY_SCHEME
    seen_event_ids: list[str] = Field(default_factory=list)
    # Dumped by each event's own serializer: the union's first finds which of its members
    # the event is, which cost about as much again as writing it (a third of a state's dump
    # in the mapper). The same bytes: the member it finds is the event's own class.
    events: SerializeAsAny[list[SalesEvent]] = Field(default_factory=list)
    before_cutover: bool = False
    cancelled_before_invoice: bool = False
    cancel_credited: bool = False
    invoice: CreateInvoice | None = None
    invoice_lines: list[InvoicedLine] = Field(default_factory=list)
    credited_quantities: dict[str, int] = Field(default_factory=dict)
    credited_total: int = 0
    amount_refunded: bool = False
    done_refunds: list[str] = Field(default_factory=list, description="refund event ids handled")
    emitted: list[str] = Field(default_factory=list)
    holds_raised: list[str] = Field(default_factory=list)

    @classmethod
    def load(cls, stored: str | bytes) -> OrderState:
        """A state as the mapper stored it; one stored before key schemes existed is 1.

        Text that proves itself storable is validated straight from the JSON without the
        text walks (a third less time than parsing it first and validating what that gives); a
        state that says no key scheme, or that this refuses, goes the full way, which
        decides it with the errors it always gave.
        """
        if storable_json(stored):
            try:
                state: OrderState = _STORED_STATE_CHECKED_TEXT.validate_json(stored)
            except ValidationError:
                pass
            else:
                if "key_scheme" in state.model_fields_set:
                    return state
        raw = json.loads(stored)
        raw.setdefault("key_scheme", 1)
        if storable_json(stored):
            checked: OrderState = checked_first(_STORED_STATE_CHECKED_TEXT, _STORED_STATE, raw)
            return checked
        return cls.model_validate(raw)

    def dump_json(self, *, events: bool = True) -> str:
        """`model_dump_json()` (without `events`: `model_dump_json(exclude={"events"})`), the
        same text, with the invoice and its lines written by `model_json`, which remembers
        them: written once, they are the same objects in every later state of the order (the
        containers are copied, never their items), and they were nine tenths of a dump,
        which the mapper makes for every event (`bogfoer_mapper.states.stored`)."""
        if self.invoice is None:
            return self.model_dump_json(exclude=None if events else _EVENTS)
        rest = self.__pydantic_serializer__.to_json(
            self, exclude=_INVOICE if events else _INVOICE_AND_EVENTS
        )
        # Where the invoice and its lines were: before the field after them (the first
        # such text: before it come strings, in which a quote is escaped, and literals).
        at = rest.index(_AFTER_INVOICE)
        lines = b",".join([model_json(line) for line in self.invoice_lines])
        return b"".join(
            (
                rest[:at],
                b',"invoice":',
                model_json(self.invoice),
                b',"invoice_lines":[',
                lines,
                b"]",
                rest[at:],
            )
        ).decode()

    def posting_key(self, tenant_id: str, kind: str, *parts: str) -> str:
        """A posting key of this order, under the scheme its first keys were made with."""
        return _posting_key(self.key_scheme, tenant_id, kind, *parts)

    @property
    def placed(self) -> OrderPlacedEvent | None:
        for event in self.events:  # a loop: a generator's set-up cost more than the search
            if type(event) is OrderPlacedEvent:  # see `_advance`
                return event
        return None

    @property
    def order(self) -> Order | None:
        placed = self.placed
        return placed.data if placed is not None else None


_EVENTS = {"events"}
_INVOICE = {"invoice", "invoice_lines"}
_INVOICE_AND_EVENTS = {"events", "invoice", "invoice_lines"}
_AFTER_INVOICE = b',"credited_quantities":'


@functools.lru_cache(maxsize=4096)
def _posting_key(scheme: KeyScheme, tenant_id: str, kind: str, *parts: str) -> str:
    """`posting_key` (scheme 2) or `legacy_posting_key` (1), remembered: every decision
    derives again the keys of all its order's events to see what was emitted already, so
    the same few keys are asked for again and again while an order's events arrive (a
    key costs a few µs of checks, escaping and joining; a look-up here a tenth of that)."""
    make = posting_key if scheme == KEY_SCHEME else legacy_posting_key
    return make(tenant_id, kind, *parts)


# How `OrderState.load` validates: the model's schema, and the same without the walks for
# unstorable text (`checked_text_validator`) for stored text that `storable_json` proved
# storable — the walks, a call back into Python for every event and every part of it,
# were about a third of the cost of loading a state.
_STORED_STATE: TypeAdapter[OrderState] = TypeAdapter(OrderState)
_STORED_STATE_CHECKED_TEXT = checked_text_validator(_STORED_STATE, timestamp_text_schema)


# OrderState's containers; `copy_state` gives a copy its own of each.
_CONTAINERS = (
    "seen_event_ids",
    "events",
    "invoice_lines",
    "credited_quantities",
    "done_refunds",
    "emitted",
    "holds_raised",
)
_CONTAINERS_SET = frozenset(_CONTAINERS)


def copy_state(state: OrderState) -> OrderState:
    """A copy that `decide` may change without touching `state`.

    Every container is the copy's own; the items in them (frozen events, commands and
    invoice lines, strings, ints) are never changed in place, so they are shared. A deep copy
    of the events was most of the cost of a decision, and the reconciler replays millions.

    What `state.model_copy(update={each container: a copy})` gives (the same fields, the
    containers counted as set), built directly: `model_copy`'s generic steps (copying the
    dictionary, then updating it, the extra and private parts) were two thirds of the cost,
    once per decision.
    """
    return built(
        type(state),
        _own_containers(state.__dict__),
        state.__pydantic_fields_set__ | _CONTAINERS_SET,
    )


# The containers `decide` changes only now and then: shared by its copy of a state
# (`_copy_to_decide`) with the state it was given until `_Out.own` copies one to change it.
# (`invoice_lines` is only ever replaced, never changed in place.)
_SHARED_CONTAINERS = frozenset(
    {"invoice_lines", "credited_quantities", "done_refunds", "emitted", "holds_raised"}
)
_NOTHING_SHARED: frozenset[str] = frozenset()


def _copy_to_decide(state: OrderState) -> OrderState:
    """`copy_state(state)` but for `_SHARED_CONTAINERS`, which stay `state`'s until `decide`
    changes one (`_Out.own`): of an order's every event, few change them, and copying all
    seven containers was most of a copy's cost. Its own `seen_event_ids` and `events`,
    which every admitted event changes."""
    values = state.__dict__
    return built(
        type(state),
        {
            **values,
            "seen_event_ids": values["seen_event_ids"].copy(),
            "events": values["events"].copy(),
        },
        state.__pydantic_fields_set__ | _CONTAINERS_SET,
    )


def _own_containers(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with a copy of each of `_CONTAINERS` (written out: a loop over their names
    cost a third of a state's copy; `test_rules_built_directly` holds the two lists equal)."""
    return {
        **values,
        "seen_event_ids": values["seen_event_ids"].copy(),
        "events": values["events"].copy(),
        "invoice_lines": values["invoice_lines"].copy(),
        "credited_quantities": values["credited_quantities"].copy(),
        "done_refunds": values["done_refunds"].copy(),
        "emitted": values["emitted"].copy(),
        "holds_raised": values["holds_raised"].copy(),
    }


class Decision(ContractModel):
    """What `decide` returns. A contract model so that it is built without the walks
    (`_decision`): everything in it is what the rules built and validated."""

    state: OrderState
    commands: list[PostingCommand] = Field(default_factory=list)
    holds: list[Hold] = Field(default_factory=list)
    ignored: str | None = Field(default=None, description="Why nothing happened, if so")


def _decision(state: OrderState, commands: list[PostingCommand], holds: list[Hold]) -> Decision:
    """`Decision(state=..., commands=..., holds=...)` as validating it gives, without the
    validation: every part is what the rules built and validated a moment before, of the
    types mypy checks here, and a decision is made for every event — its validation, 1-3
    µs, looked at each command again."""
    return built(
        Decision,
        {"state": state, "commands": commands, "holds": holds, "ignored": None},
        {"state", "commands", "holds"},
    )


def _ignored(state: OrderState, reason: str) -> Decision:
    """`Decision(state=..., ignored=reason)`, built like `_decision`."""
    return built(
        Decision,
        {"state": state, "commands": [], "holds": [], "ignored": reason},
        {"state", "ignored"},
    )


# Every field of a state that knows nothing yet, as validating `OrderState(key=...)` sets it.
_EMPTY_STATE = checked.without_text_walk(OrderState)(key="").__dict__


def _new_state(key: str) -> OrderState:
    """`OrderState(key=key)` without validating (one per order, payment and payout): its
    key is a `state_key`, and every other field its default, each container its own."""
    # Every container a new empty one (what copying the empty defaults gives), in one
    # dictionary: a new state for every order, and for every fee's payment and payout.
    return built(
        OrderState,
        {
            **_EMPTY_STATE,
            "key": key,
            "seen_event_ids": [],
            "events": [],
            "invoice_lines": [],
            "credited_quantities": {},
            "done_refunds": [],
            "emitted": [],
            "holds_raised": [],
        },
        {"key"},
    )


def state_key(event: SalesEvent) -> str:
    """Which `OrderState` an event belongs to (per tenant).

    - order.*: `order:<order_id>`.
    - payment.captured / payment.refunded: `order:<order_id>` when the provider's metadata
      names the order, else `payment:<provider>:<payment_id>`.
    - payment.fee: `payment:<provider>:<payment_id>` (the fee event carries no order id; a fee
      needs no invoice, so it never has to meet its order).
    - payout.paid: `payout:<provider>:<payout_id>`.
    """
    # Classes told by identity, not by `match` patterns: see `_advance`.
    if type(event) in _ORDER_EVENTS:
        return f"order:{cast('_OrderEvent', event).data.order_id}"
    if type(event) is PaymentCapturedEvent or type(event) is PaymentRefundedEvent:
        if event.data.order_id:
            return f"order:{event.data.order_id}"
        return f"payment:{_state_part(event.data.provider)}:{event.data.payment_id}"
    if type(event) is PaymentFeeEvent:
        return f"payment:{_state_part(event.data.provider)}:{event.data.payment_id}"
    if type(event) is PayoutPaidEvent:
        return f"payout:{_state_part(event.data.provider)}:{event.data.payout_id}"
    raise TypeError(f"not a sales event: {event!r}")


_OrderEvent = (
    OrderPlacedEvent
    | OrderPaidEvent
    | OrderFulfilledEvent
    | OrderCancelledEvent
    | OrderRefundedEvent
)
_ORDER_EVENTS: frozenset[type] = frozenset(get_args(_OrderEvent))


def _state_part(provider: str) -> str:
    return escape_part(provider, _STATE_PART_KEEPS)


def decide(
    event: SalesEvent,
    config: TenantConfig,
    state: OrderState | None,
    now: dt.datetime,
    key: str | None = None,
) -> Decision:
    """Apply one event to the state and return what to post, what to hold, or why nothing.

    `key`: `state_key(event)`, when the caller found it already (the mapper does, to load
    the state): not derived a second time for every event."""
    if event.tenant_id != config.tenant_id:
        raise ValueError(
            f"event for tenant {event.tenant_id!r} with config of {config.tenant_id!r}"
        )
    if key is None:
        key = state_key(event)
    if state is None:
        current, shared = _new_state(key), _NOTHING_SHARED
    else:
        current, shared = _copy_to_decide(state), _SHARED_CONTAINERS
    if current.key != key:
        raise ValueError(f"event belongs to state {key!r}, not {current.key!r}")
    if event.backfill and current.before_cutover:
        # A backfill re-opens an order that was ignored at the cutover; its events are
        # sent again (with backfill set) and booked like new.
        current, shared = _new_state(key), _NOTHING_SHARED
    if event.id in current.seen_event_ids:
        return _ignored(current, DUPLICATE_EVENT)
    if not config.active:
        # Not marked as seen: once the tenant is active again a replay books it.
        return _ignored(current, "tenant_inactive")
    current.seen_event_ids.append(event.id)
    if current.before_cutover:
        return _ignored(current, "before_cutover")
    ignored = _admit(current, event, config)
    if ignored is not None:
        return _ignored(current, ignored)
    return _advance(current, config, now, shared)


def advance(state: OrderState, config: TenantConfig, now: dt.datetime) -> Decision:
    """Re-evaluate a stored state without a new event, e.g. after the tenant fixed its config."""
    return _advance(copy_state(state), config, now)


# --- admitting an event -------------------------------------------------------------------


def _admit(state: OrderState, event: SalesEvent, config: TenantConfig) -> str | None:
    """Store the event as a fact, or say why it is ignored. Applies the cutover."""
    # Classes told by identity, not by `match` patterns: see `_advance`.
    if type(event) is OrderPlacedEvent:
        if state.placed is not None:
            return "order_already_placed"
        if not event.backfill and _before(event.data.placed_at, config.cutover):
            state.before_cutover = True
            state.events.clear()  # facts of a pre-cutover order are never booked
            return "before_cutover"
    elif type(event) is OrderCancelledEvent:
        if state.invoice is None:
            state.cancelled_before_invoice = True
    elif type(event) is PayoutPaidEvent:
        if not event.backfill and event.data.arrival_date < config.cutover:
            return "before_cutover"
    elif type(event) is PaymentFeeEvent:
        if not event.backfill and _before(event.data.charged_at, config.cutover):
            return "before_cutover"
    # The Danish day (a time zone's conversion, ~1 µs) only where the cutover applies.
    elif type(event) is PaymentCapturedEvent:
        if not (event.data.order_id or event.backfill) and _before(
            event.data.captured_at, config.cutover
        ):
            return "before_cutover"
    elif type(event) is PaymentRefundedEvent:
        if not (event.data.order_id or event.backfill) and _before(
            event.data.refunded_at, config.cutover
        ):
            return "before_cutover"
    elif type(event) not in _ORDER_EVENTS:  # order.paid, .fulfilled, .refunded: admitted
        raise TypeError(f"not a sales event: {event!r}")
    state.events.append(event)
    return None


_TWO_DAYS = dt.timedelta(days=2)


def _before(at: dt.datetime, cutover: dt.date) -> bool:
    """`danish_date(at) < cutover`, without the time zone's conversion (~0.5 µs) where the
    day `at` is written in settles it: its UTC offset and Denmark's (+1 or +2 hours) differ
    by less than 26 hours, so the Danish day is that day, the day before or one of the two
    after it."""
    day = at.date()
    if day - cutover > _TWO_DAYS:  # a sale well after the cutover: every event but a few
        return False
    return danish_date(at) < cutover


# --- deriving commands --------------------------------------------------------------------


class _Out:
    """Collects the commands and holds of one decision; skips what was already emitted."""

    __slots__ = ("commands", "holds", "shared", "state")

    def __init__(self, state: OrderState, shared: frozenset[str]) -> None:
        self.state = state
        # Which of the state's containers are still another state's (`_copy_to_decide`).
        self.shared = shared
        self.commands: list[PostingCommand] = []
        self.holds: list[Hold] = []

    def own(self, name: str) -> Any:
        """The state's container `name`, to change: copied first while it is shared."""
        values = self.state.__dict__
        if name in self.shared:
            values[name] = values[name].copy()
            self.shared = self.shared - {name}
        return values[name]

    def emit(self, command: PostingCommand) -> None:
        if command.posting_key in self.state.emitted:
            return
        self.own("emitted").append(command.posting_key)
        self.commands.append(command)

    def hold(self, reason: HoldReason, message: str, key: str, kind: PostingKind) -> None:
        marker = f"{key}|{reason}"
        if marker in self.state.holds_raised:
            return
        self.own("holds_raised").append(marker)
        self.holds.append(Hold(reason=reason, message=message, posting_key=key, kind=kind))

    def problem(self, problem: Problem, key: str, kind: PostingKind) -> None:
        self.hold(problem.reason, problem.message, key, kind)


def _advance(
    state: OrderState,
    config: TenantConfig,
    now: dt.datetime,
    shared: frozenset[str] = _NOTHING_SHARED,
) -> Decision:
    """`shared`: the state's containers still another state's (`_copy_to_decide`)."""
    out = _Out(state, shared)
    # Provider-level facts (fees, payouts, payments without order metadata) are never an
    # order's: `state_key` files each under its payment or payout, and an order's state
    # holds only its order's events and the payments and refunds naming it — for those,
    # the walk did nothing but look at every event of the order, for every event.
    if not state.key.startswith("order:"):
        _provider_facts(out, config)
    # Each event's class told by identity, not by `match` class patterns: an event is
    # exactly one of `SalesEvent`'s classes (none is subclassed), and a pattern that does
    # not match asks the model's metaclass (~0.25 µs, where `is` takes a fiftieth of it) —
    # a decision walks all its order's events, a few misses an event, each time one of
    # the order's events arrives.
    placed = state.placed
    if placed is None:
        waiting = [e for e in state.events if _needs_order(e)]
        if waiting and now - min(e.received_at for e in waiting) > WAIT_LIMIT:
            out.hold(
                "order_missing",
                f"{len(waiting)} event(s) for {state.key} have waited more than "
                f"{WAIT_LIMIT.days} days for the shop's order.",
                state.posting_key(config.tenant_id, "invoice", state.key),
                "invoice",
            )
        return _decision(state, out.commands, out.holds)
    _invoice(out, config, placed)
    # A payment's key, and a refund's id, looked at before its rule is called: every event
    # of an order after them walks them again, and once booked there is nothing to do.
    tenant_id, scheme = config.tenant_id, state.key_scheme
    # A payment can be booked or held only once its order is invoiced or was cancelled
    # before that (`_payment`): until then it waits, and its key (a new one for every order,
    # derived for each of its events) need not be made. Neither changes during the walk
    # (`_invoice` came before it, the cancellation was admitted), and no payment was
    # emitted while there was no invoice, so `_payment` would have done nothing.
    payments_wait = state.invoice is None and not state.cancelled_before_invoice
    for event in state.events:
        if type(event) not in _WALKED:
            continue  # the order's placement and fulfilment: one look, not five
        # A payment's fields read in place, not by a call returning a tuple of them (for
        # every event of the order, every time one of its events arrives).
        if type(event) is PaymentCapturedEvent:
            if payments_wait:
                continue
            captured = event.data
            key = _posting_key(scheme, tenant_id, "payment", captured.provider, captured.payment_id)
            if key not in state.emitted:
                _payment(
                    out,
                    config,
                    event,
                    key,
                    provider=captured.provider,
                    reference=captured.payment_id,
                    amount=captured.amount,
                    currency=captured.currency,
                    at=captured.captured_at,
                )
        elif type(event) is OrderPaidEvent:
            paid = event.data
            if payments_wait or paid.payment.provider in PROVIDER_FEEDS:
                continue  # waits, or booked from the provider's own payment.captured
            key = _posting_key(
                scheme, tenant_id, "payment", paid.payment.provider, paid.payment.reference
            )
            if key not in state.emitted:
                _payment(
                    out,
                    config,
                    event,
                    key,
                    provider=paid.payment.provider,
                    reference=paid.payment.reference,
                    amount=paid.amount,
                    currency=paid.currency,
                    at=paid.paid_at,
                )
        elif type(event) is OrderCancelledEvent:
            _cancel_credit(out, config, event)
        elif type(event) is OrderRefundedEvent:
            if event.id not in state.done_refunds:
                _refund(out, config, event)
        elif type(event) is PaymentRefundedEvent:
            if state.cancelled_before_invoice:
                out.hold(
                    "refund_for_cancelled_order",
                    f"{event.data.provider} refund {event.data.refund_id} is for an order "
                    "that was cancelled before it was invoiced; its payment was not booked.",
                    state.posting_key(
                        config.tenant_id,
                        "refund_payment",
                        event.data.provider,
                        event.data.refund_id,
                    ),
                    "payment",
                )
            elif state.invoice is not None:
                _provider_refund(out, config, event)
    return _decision(state, out.commands, out.holds)


# The events `_advance`'s walk over an order's events has a rule for.
_WALKED: frozenset[type] = frozenset(
    {
        PaymentCapturedEvent,
        OrderPaidEvent,
        OrderCancelledEvent,
        OrderRefundedEvent,
        PaymentRefundedEvent,
    }
)


def _provider_facts(out: _Out, config: TenantConfig) -> None:
    """What a payment's or a payout's state books or holds without an order."""
    state = out.state
    # Classes told by identity, not by `match` patterns: see `_advance`.
    for event in state.events:
        if type(event) not in _PROVIDER_EVENTS:
            continue
        if type(event) is PaymentFeeEvent:
            if event.data.provider in PROVIDER_FEEDS:
                continue  # booked with its payout (`_fee`), every fee of a Stripe payment
            _fee(
                out,
                config,
                event,
                ref=event.data.balance_transaction_id or event.data.payment_id,
                payment_id=event.data.payment_id,
                fee=event.data.amount,
            )
        elif type(event) is PayoutPaidEvent:
            _payout(out, config, event)
        elif type(event) is PaymentCapturedEvent and not event.data.order_id:
            out.hold(
                "payment_without_order",
                f"{event.data.provider} payment {event.data.payment_id} of "
                f"{format_minor(event.data.amount)} {event.data.currency} names no order in "
                "its metadata, so it cannot be registered on an invoice.",
                state.posting_key(
                    config.tenant_id, "payment", event.data.provider, event.data.payment_id
                ),
                "payment",
            )
        elif type(event) is PaymentRefundedEvent and not event.data.order_id:
            _provider_refund(out, config, event)


def _needs_order(event: SalesEvent) -> bool:
    # Classes told by identity, not by `match` patterns: see `_advance`.
    if type(event) is PaymentFeeEvent or type(event) is PayoutPaidEvent:
        return False
    if type(event) is PaymentCapturedEvent or type(event) is PaymentRefundedEvent:
        return bool(event.data.order_id)
    return True


def _trigger_event(
    state: OrderState, config: TenantConfig, placed: OrderPlacedEvent
) -> tuple[SalesEvent, dt.datetime] | None:
    """The event that makes the invoice due under the tenant's trigger, and its date."""
    match config.trigger:
        case "order_placed":
            return placed, placed.data.placed_at
        case "order_paid":
            for event in state.events:
                if type(event) is OrderPaidEvent:  # see `_advance`
                    return event, event.data.paid_at
            return None
        case "order_fulfilled":
            for event in state.events:
                if type(event) is OrderFulfilledEvent:
                    return event, event.data.fulfilled_at
            return None
        case _:
            assert_never(config.trigger)


def _invoice_key(state: OrderState, config: TenantConfig, placed: OrderPlacedEvent) -> str:
    return state.posting_key(config.tenant_id, "invoice", placed.source, placed.data.order_id)


def _invoice(out: _Out, config: TenantConfig, placed: OrderPlacedEvent) -> None:
    state = out.state
    if state.invoice is not None or state.cancelled_before_invoice:
        return
    trigger = _trigger_event(state, config, placed)
    if trigger is None:
        return
    trigger_event, trigger_at = trigger
    order = placed.data
    invoice_key = _invoice_key(state, config, placed)
    draft = map_order(order, config)
    if isinstance(draft, Problem):
        out.problem(draft, invoice_key, "invoice")
        return
    contact_part, contact = contact_identity(order.customer, config)
    contact_key = out.state.posting_key(config.tenant_id, "contact", contact_part)
    source_ids = list(dict.fromkeys([placed.id, trigger_event.id]))
    # `checked.EnsureContact(...)` of these six fields, built directly (`_CONTACT_GIVEN`):
    # its keyword handling cost twice the instance it built, once an order.
    out.emit(
        built(
            EnsureContact,
            {
                "posting_key": contact_key,
                "tenant_id": config.tenant_id,
                "organization_id": config.dinero_organization_id,
                "source_event_ids": [placed.id],
                "depends_on": [],
                "issued_at": trigger_event.occurred_at,
                "revision": 0,
                "summary": False,
                "kind": "contact",
                "contact": contact,
            },
            set(_CONTACT_GIVEN),
        )
    )
    # `checked.CreateInvoice(...)` of every field but `revision` and `kind`, built directly
    # (`_COMMAND_GIVEN`): its keyword handling cost three times the instance it built.
    invoice = built(
        CreateInvoice,
        {
            "posting_key": invoice_key,
            "tenant_id": config.tenant_id,
            "organization_id": config.dinero_organization_id,
            "source_event_ids": source_ids,
            "depends_on": [contact_key],
            "issued_at": trigger_event.occurred_at,
            "revision": 0,
            "summary": summarised(config),
            "kind": "invoice",
            "contact_key": contact_key,
            "date": danish_date(trigger_at),
            "currency": order.currency,
            "description": order_title(order),
            "comment": _reverse_charge_note(order) if draft.zone == "eu_b2b" else None,
            "lines": [line.spec for line in draft.lines],
            "show_lines_incl_vat": draft.show_lines_incl_vat,
            "expected_total": draft.expected_total,
            "expected_vat": draft.expected_vat,
            "booking": config.booking_mode,
            "invoice_template_id": config.invoice_template_id,
            "payment_condition_type": config.payment_terms.type,
            "payment_condition_days": config.payment_terms.days,
        },
        set(_COMMAND_GIVEN[CreateInvoice]),
    )
    out.emit(invoice)
    state.invoice = invoice
    state.invoice_lines = draft.lines


def _reverse_charge_note(order: Order) -> str:
    """An intra-EU B2B invoice must name the buyer's VAT number and the reverse charge."""
    vat_number = normalise_vat_number(order.customer.vat_number or "")
    return (
        f"Omvendt betalingspligt / reverse charge (VAT Directive art. 138, 196). "
        f"Køberens momsnummer: {vat_number}"
    )


def _payment(
    out: _Out,
    config: TenantConfig,
    event: SalesEvent,
    key: str,
    *,
    provider: str,
    reference: str,
    amount: int,
    currency: str,
    at: dt.datetime,
) -> None:
    """A payment not emitted yet under `key` (its posting key, `_advance` looked)."""
    state = out.state
    if state.cancelled_before_invoice:
        out.hold(
            "payment_for_cancelled_order",
            f"{provider} payment {reference} of {format_minor(amount)} {currency} arrived for an "
            "order that was cancelled before it was invoiced; refund it or book it by hand.",
            key,
            "payment",
        )
        return
    invoice = state.invoice
    if invoice is None:
        return  # waits for its invoice
    if currency != invoice.currency:
        out.hold(
            "currency_mismatch",
            f"Payment {reference} is in {currency}, the invoice in {invoice.currency}.",
            key,
            "payment",
        )
        return
    if amount <= 0:
        if amount < 0:
            out.hold(
                "invalid_amount", f"Payment {reference} has a negative amount.", key, "payment"
            )
        return  # a zero payment (e.g. fully paid by gift card) moves no money
    deposit = deposit_account(config, provider)
    if deposit is None:
        out.hold(
            "unmapped_deposit_account",
            _no_deposit_account(provider, f"payment {reference}"),
            key,
            "payment",
        )
        return
    out.emit(
        _register_payment(
            key,
            config,
            event,
            [invoice.posting_key],
            invoice.posting_key,
            amount,
            currency,
            deposit,
            danish_date(at),
            f"Betaling {provider} {reference}",
        )
    )


def deposit_account(config: TenantConfig, provider: str) -> AccountNumber | None:
    """The deposit account where a provider's money rests until payout.

    One rule for every movement of that money: the capture (or the shop's own payment),
    the provider's fee, a refund and the payout all book on `deposit_accounts[provider]`,
    so the account returns to zero when the payout has left it.
    """
    # A look-up, not a search: the keys are the providers' names, and any text may be asked
    # for (a shop's refund names its source), which simply is not there.
    accounts: dict[str, AccountNumber] = cast("dict[str, AccountNumber]", config.deposit_accounts)
    return accounts.get(provider)


def _no_deposit_account(provider: str, what: str) -> str:
    return (
        f"No deposit account is configured for provider {provider!r} ({what}); add "
        f'"{provider}" to the tenant\'s deposit_accounts and re-map.'
    )


def fee_key(state: OrderState, tenant_id: str, provider: str, ref: str) -> str:
    """A fee's posting key: by the provider's balance transaction when known, else the payment.

    The key of a fee booked from payment.fee (a provider without a payout feed), and the
    key a Stripe fee had before Stripe's fees were booked per payout: the payout's fee lines
    name it (`supersedes`), so a fee booked on its own then is never booked again.
    """
    return state.posting_key(tenant_id, "fee", provider, ref)


def payout_fees_key(state: OrderState, tenant_id: str, provider: str, payout_id: str) -> str:
    """The key of the one voucher carrying every fee a payout settles."""
    return state.posting_key(tenant_id, "payout_fees", provider, payout_id)


def summarised(config: TenantConfig) -> bool:
    """Whether the tenant's sales are booked in daily summary documents."""
    return config.posting_mode == "daily_summary"


def _fee(
    out: _Out, config: TenantConfig, event: SalesEvent, *, ref: str, payment_id: str, fee: int
) -> None:
    """A provider's fee for one payment (payment.fee).

    A provider with a payout feed (Stripe) settles its fees in its payouts, and the payout
    lists every one of them: the payout books them all in one voucher (`_payout`), so the
    fee event itself books nothing, whether it arrives before or after its payout. Any other
    provider's fees are booked from this event, gathered by the poster into one voucher per
    day (`summary`), each still its own line with the payment in its text.
    """
    provider = _provider_of(event)
    if provider in PROVIDER_FEEDS:
        return
    key = fee_key(out.state, config.tenant_id, provider, ref)
    if key in out.state.emitted or fee == 0:
        return
    deposit = deposit_account(config, provider)
    if deposit is None:
        out.hold(
            "unmapped_deposit_account",
            _no_deposit_account(provider, f"the fee of payment {payment_id}"),
            key,
            "voucher",
        )
        return
    out.emit(
        _voucher(
            config,
            event,
            key,
            "fee",
            danish_date(_event_time(event)),
            [
                checked.VoucherLineSpec(
                    description=f"Gebyr {provider} {payment_id}"
                    + (f" ({ref})" if ref != payment_id else ""),
                    account_number=config.fee_account,
                    balancing_account_number=deposit,
                    amount=fee,
                )
            ],
            summary=True,
        )
    )


def _voucher(
    config: TenantConfig,
    event: SalesEvent,
    key: str,
    purpose: Literal["fee", "payout"],
    date: dt.date,
    lines: list[VoucherLineSpec],
    *,
    summary: bool = False,
) -> CreateVoucher:
    """A manual voucher without VAT: each line Dr its account / Cr its balancing account."""
    return checked.CreateVoucher(
        posting_key=key,
        tenant_id=config.tenant_id,
        organization_id=config.dinero_organization_id,
        source_event_ids=[event.id],
        issued_at=event.occurred_at,
        purpose=purpose,
        date=date,
        lines=lines,
        summary=summary,
    )


def _provider_of(event: SalesEvent) -> str:
    # Classes told by identity, not by `match` patterns: see `_advance`.
    if type(event) in _PROVIDER_EVENTS:
        return cast("_ProviderEvent", event).data.provider
    return event.source


_ProviderEvent = PaymentCapturedEvent | PaymentFeeEvent | PaymentRefundedEvent | PayoutPaidEvent
_PROVIDER_EVENTS: frozenset[type] = frozenset(get_args(_ProviderEvent))


def _event_time(event: SalesEvent) -> dt.datetime:
    if type(event) is PaymentCapturedEvent:
        return event.data.captured_at
    if type(event) is PaymentFeeEvent:
        return event.data.charged_at
    if type(event) is PaymentRefundedEvent:
        return event.data.refunded_at
    return event.occurred_at


# Balance-transaction categories the payout rule knows how to book (webhooks.md, Stripe).
_BOOKED_PER_PAYMENT = frozenset({"charge", "refund"})


def _payout(out: _Out, config: TenantConfig, event: PayoutPaidEvent) -> None:
    """Dr bank / Cr deposit for the payout, and one voucher for the fees it settles.

    Charges and refunds themselves are booked from their own events (payment.captured,
    payment.refunded). The fees: a provider with a payout feed (Stripe, `PROVIDER_FEEDS`)
    books every fee of the payout here, in one voucher keyed by the payout
    (`payout_fees_key`), a line per balance transaction naming it — a "charge" or "refund"
    transaction's `fee` (a negative one being a reversal) and a standalone "fee"
    transaction's `-net`. Each line names the key that fee had when fees were booked one
    voucher per transaction (`supersedes`), so the poster leaves out a fee booked that way
    before. Other providers' charge and refund fees come from their payment.fee events
    (`_fee`); their payouts book only the standalone fee transactions, which no payment
    names. Anything else (disputes, adjustments, reserves, ...) is held for a person, and so
    is a payout whose transactions do not sum to its amount.
    """
    data = event.data
    key = out.state.posting_key(config.tenant_id, "payout", data.provider, data.payout_id)
    deposit = deposit_account(config, data.provider)
    if deposit is None:
        out.hold(
            "unmapped_deposit_account",
            _no_deposit_account(data.provider, f"payout {data.payout_id}"),
            key,
            "voucher",
        )
        return
    if data.amount != 0:
        out.emit(
            _voucher(
                config,
                event,
                key,
                "payout",
                data.arrival_date,
                [
                    checked.VoucherLineSpec(
                        description=f"Udbetaling {data.provider} {data.payout_id}",
                        account_number=config.bank_account,
                        balancing_account_number=deposit,
                        amount=data.amount,
                    )
                ],
            )
        )
    feed = data.provider in PROVIDER_FEEDS
    unknown: list[str] = []
    fees: list[VoucherLineSpec] = []
    for bt in data.balance_transactions:
        fee = 0
        if bt.reporting_category == "fee":
            fee = -bt.net
        elif bt.reporting_category in _BOOKED_PER_PAYMENT:
            fee = bt.fee if feed else 0
        elif bt.reporting_category != "payout":
            unknown.append(f"{bt.reporting_category} {bt.id} ({format_minor(bt.net)})")
        if fee:
            # `checked.VoucherLineSpec(...)` of these five fields, built directly
            # (`_FEE_LINE_GIVEN`): a line for each of a payout's transactions.
            fees.append(
                built(
                    VoucherLineSpec,
                    {
                        "description": f"Gebyr {data.provider} {bt.id}"
                        + (f" ({bt.source})" if bt.source else ""),
                        "account_number": config.fee_account,
                        "balancing_account_number": deposit,
                        "amount": fee,
                        "account_vat_code": "none",
                        "balancing_account_vat_code": "none",
                        "supersedes": fee_key(out.state, config.tenant_id, data.provider, bt.id),
                    },
                    set(_FEE_LINE_GIVEN),
                )
            )
    if fees:
        out.emit(
            _voucher(
                config,
                event,
                payout_fees_key(out.state, config.tenant_id, data.provider, data.payout_id),
                "fee",
                data.arrival_date,
                fees,
            )
        )
    if unknown:
        out.hold(
            "payout_needs_manual_booking",
            f"Payout {data.payout_id} contains transactions Bogfør does not book: "
            + ", ".join(unknown)
            + ".",
            key,
            "voucher",
        )
    listed = [bt for bt in data.balance_transactions if bt.reporting_category != "payout"]
    if listed and sum(bt.net for bt in listed) != data.amount:
        out.hold(
            "payout_unreconciled",
            f"Payout {data.payout_id} is {format_minor(data.amount)} {data.currency}, but its "
            f"transactions net {format_minor(sum(bt.net for bt in listed))}.",
            key,
            "voucher",
        )


# The fields `_payout` gives a fee line (the VAT codes their default, "none").
_FEE_LINE_GIVEN = frozenset(
    {"description", "account_number", "balancing_account_number", "amount", "supersedes"}
)


def _refund_provider(event: OrderRefundedEvent, order: Order) -> str | None:
    """The provider whose money a shop refund returns: the refund's, else the order's."""
    if event.data.payment is not None:
        return event.data.payment.provider
    if order.payments:
        return order.payments[0].provider
    return None


def _refund(out: _Out, config: TenantConfig, event: OrderRefundedEvent) -> None:
    state = out.state
    data = event.data
    if event.id in state.done_refunds:
        return
    credit_key = out.state.posting_key(
        config.tenant_id, "credit_note", event.source, data.refund_id
    )
    if state.cancelled_before_invoice:
        out.hold(
            "refund_for_cancelled_order",
            f"Refund {data.refund_id} is for an order cancelled before it was invoiced.",
            credit_key,
            "credit_note",
        )
        return
    invoice = state.invoice
    order = state.order
    if invoice is None or order is None:
        return  # waits for its invoice
    if data.currency != invoice.currency:
        out.hold(
            "currency_mismatch",
            f"Refund {data.refund_id} is in {data.currency}, the invoice in {invoice.currency}.",
            credit_key,
            "credit_note",
        )
        return
    if data.amount <= 0:
        out.hold(
            "invalid_amount",
            f"Refund {data.refund_id} has no positive amount.",
            credit_key,
            "credit_note",
        )
        return
    money = _refund_money_side(config, event, order)
    if isinstance(money, Problem):
        out.problem(money, credit_key, "credit_note")
        return
    credit: CreditDraft | None = None
    if not state.cancel_credited:
        drafted = _credit_draft(state, config, event)
        if isinstance(drafted, Problem):
            out.problem(drafted, credit_key, "credit_note")
            return
        if state.credited_total + drafted.total > invoice.expected_total:
            out.hold(
                "refund_exceeds_invoice",
                f"Refund {data.refund_id} of {format_minor(data.amount)} would credit more than "
                f"the invoice's {format_minor(invoice.expected_total)} "
                f"({format_minor(state.credited_total)} already credited).",
                credit_key,
                "credit_note",
            )
            return
        credit = drafted
    out.own("done_refunds").append(event.id)
    depends_on = [invoice.posting_key]
    if credit is not None:
        _emit_credit_note(out, config, event, credit_key, credit, data.refunded_at)
        depends_on = [credit_key]
        if not data.lines:
            state.amount_refunded = True
    if money is not None:
        deposit, provider = money
        _refund_payment(
            out,
            config,
            event,
            key=out.state.posting_key(
                config.tenant_id, "refund_payment", event.source, data.refund_id
            ),
            invoice=invoice,
            depends_on=depends_on,
            deposit=deposit,
            amount=data.amount,
            at=data.refunded_at,
            description=f"Refusion {order_title(order)} ({provider})",
        )


def _refund_money_side(
    config: TenantConfig, event: OrderRefundedEvent, order: Order
) -> tuple[int, str] | Problem | None:
    """(deposit account, provider) when the shop's refund owns the money side, else None."""
    provider = _refund_provider(event, order)
    if provider is None:
        return Problem(
            "refund_method_unknown",
            f"Refund {event.data.refund_id} names no payment, and the order lists none: "
            "Bogfør cannot tell which deposit account the money left.",
        )
    if provider in PROVIDER_FEEDS:
        return None  # the provider's payment.refunded books the money side
    deposit = deposit_account(config, provider)
    if deposit is None:
        return Problem(
            "unmapped_deposit_account",
            _no_deposit_account(provider, f"refund {event.data.refund_id}"),
        )
    return deposit, provider


def _credit_draft(
    state: OrderState, config: TenantConfig, event: OrderRefundedEvent
) -> CreditDraft | Problem:
    data = event.data
    assert state.invoice is not None
    if data.lines:
        return credit_lines(
            state.invoice_lines,
            state.credited_quantities,
            data.lines,
            data.amount,
            incl_vat=state.invoice.show_lines_incl_vat,
            tolerance=config.rounding_tolerance,
        )
    return amount_credit_line(state.invoice_lines, data.amount, data.reason or "Refusion")


def _emit_credit_note(
    out: _Out,
    config: TenantConfig,
    event: OrderRefundedEvent | OrderCancelledEvent,
    key: str,
    credit: CreditDraft,
    at: dt.datetime,
) -> None:
    state = out.state
    invoice = state.invoice
    order = state.order
    assert invoice is not None
    assert order is not None
    credited: dict[str, int] = out.own("credited_quantities")
    invoiced = {item.line_id for item in state.invoice_lines}  # once, not once a line
    for line in credit.lines:
        if line.line_id in invoiced:
            credited[line.line_id] = credited.get(line.line_id, 0) + line.spec.quantity
    state.credited_total += credit.total
    # `checked.CreateCreditNote(...)` of every field but `revision` and `kind`, built
    # directly (`_COMMAND_GIVEN`), as an invoice is.
    out.emit(
        built(
            CreateCreditNote,
            {
                "posting_key": key,
                "tenant_id": config.tenant_id,
                "organization_id": config.dinero_organization_id,
                "source_event_ids": [event.id],
                "depends_on": [invoice.posting_key],
                "issued_at": event.occurred_at,
                "revision": 0,
                "summary": summarised(config),
                "kind": "credit_note",
                "invoice_key": invoice.posting_key,
                "contact_key": invoice.contact_key,
                "date": danish_date(at),
                "currency": invoice.currency,
                "description": f"Kreditnota, {order_title(order)}",
                "lines": [line.spec for line in credit.lines],
                "show_lines_incl_vat": credit.show_lines_incl_vat,
                "expected_total": credit.total,
                "expected_vat": credit.vat,
                "booking": config.booking_mode,
            },
            set(_COMMAND_GIVEN[CreateCreditNote]),
        )
    )


def _cancel_credit(out: _Out, config: TenantConfig, event: OrderCancelledEvent) -> None:
    """A cancellation after invoicing credits whatever is not credited yet (sale side only).

    The money goes back through the refund events (the shop's order.refunded or the
    provider's payment.refunded), which after this book only their money side.
    """
    state = out.state
    if state.cancelled_before_invoice or state.cancel_credited or state.invoice is None:
        return
    key = out.state.posting_key(
        config.tenant_id, "credit_note", event.source, f"cancel-{event.data.order_id}"
    )
    if state.amount_refunded:
        out.hold(
            "cancel_after_amount_refund",
            "The order was cancelled after an amount-only refund; which lines are still "
            "uncredited is unknown, so the rest must be credited by hand.",
            key,
            "credit_note",
        )
        return
    remaining = [
        checked.replaced(
            line,
            spec=checked.replaced(
                line.spec,
                quantity=line.spec.quantity - state.credited_quantities.get(line.line_id, 0),
            ),
        )
        for line in state.invoice_lines
        if line.spec.quantity > state.credited_quantities.get(line.line_id, 0)
    ]
    state.cancel_credited = True
    if not remaining:
        return
    incl_vat = state.invoice.show_lines_incl_vat
    total = document_totals([line.priced() for line in remaining], incl_vat=incl_vat).total
    _emit_credit_note(
        out,
        config,
        event,
        key,
        CreditDraft(remaining, incl_vat, total),
        event.occurred_at,
    )


def _provider_refund(out: _Out, config: TenantConfig, event: PaymentRefundedEvent) -> None:
    """Money side of a provider refund: Dr debtors / Cr the provider's deposit account."""
    data = event.data
    key = out.state.posting_key(config.tenant_id, "refund_payment", data.provider, data.refund_id)
    if key in out.state.emitted:
        return
    deposit = deposit_account(config, data.provider)
    if deposit is None:
        out.hold(
            "unmapped_deposit_account",
            _no_deposit_account(data.provider, f"refund {data.refund_id}"),
            key,
            "payment",
        )
        return
    if data.amount <= 0:
        out.hold(
            "invalid_amount", f"Refund {data.refund_id} has no positive amount.", key, "payment"
        )
        return
    invoice = out.state.invoice
    if invoice is None:
        out.hold(
            "refund_without_invoice",
            f"{data.provider} refund {data.refund_id} belongs to no invoiced order, so its "
            "money cannot be booked against an invoice.",
            key,
            "payment",
        )
        return
    _refund_payment(
        out,
        config,
        event,
        key=key,
        invoice=invoice,
        depends_on=[invoice.posting_key],
        deposit=deposit,
        amount=data.amount,
        at=data.refunded_at,
        description=f"Refusion {data.provider} {data.refund_id}",
    )


def _refund_payment(
    out: _Out,
    config: TenantConfig,
    event: SalesEvent,
    *,
    key: str,
    invoice: CreateInvoice,
    depends_on: list[str],
    deposit: AccountNumber,
    amount: int,
    at: dt.datetime,
    description: str,
) -> None:
    """Money going back: a negative payment on the original invoice (Dr 53000 / Cr deposit).

    Dinero refuses manual vouchers on the debtor control account, and no client registers a
    payment on a credit note; a negative invoice payment is what the API allows (the amount
    must only be non-zero) and books exactly Dr debtors / Cr the deposit account.
    """
    out.emit(
        _register_payment(
            key,
            config,
            event,
            sorted({invoice.posting_key, *depends_on}),
            invoice.posting_key,
            -amount,
            invoice.currency,
            deposit,
            danish_date(at),
            description,
        )
    )


# The fields the rules give a command they build directly: every one but `revision` and
# `kind` (their defaults), as the builders count them (`checked`; `test_rules_built_directly`
# holds each such command to the builder's instance).
_COMMAND_GIVEN: dict[type, frozenset[str]] = {
    model: frozenset(model.model_fields) - {"revision", "kind"}
    for model in (CreateInvoice, RegisterPayment, CreateCreditNote)
}


# The fields `_invoice` gives the contact it ensures (the others their defaults).
_CONTACT_GIVEN = frozenset(
    {"posting_key", "tenant_id", "organization_id", "source_event_ids", "issued_at", "contact"}
)


def _register_payment(
    key: str,
    config: TenantConfig,
    event: SalesEvent,
    depends_on: list[str],
    invoice_key: str,
    amount: int,
    currency: str,
    deposit: AccountNumber,
    payment_date: dt.date,
    description: str,
) -> RegisterPayment:
    """`checked.RegisterPayment(...)` of every field but `revision` and `kind`, built
    directly (`_COMMAND_GIVEN`): a payment for every order, a refund's money for some."""
    return built(
        RegisterPayment,
        {
            "posting_key": key,
            "tenant_id": config.tenant_id,
            "organization_id": config.dinero_organization_id,
            "source_event_ids": [event.id],
            "depends_on": depends_on,
            "issued_at": event.occurred_at,
            "revision": 0,
            "summary": summarised(config),
            "kind": "payment",
            "invoice_key": invoice_key,
            "amount": amount,
            "currency": currency,
            "deposit_account": deposit,
            "payment_date": payment_date,
            "description": description,
        },
        set(_COMMAND_GIVEN[RegisterPayment]),
    )


__all__ = [
    "PROVIDER_FEEDS",
    "ROUNDING_LINE_ID",
    "Decision",
    "Hold",
    "HoldReason",
    "OrderState",
    "advance",
    "decide",
    "deposit_account",
    "fee_key",
    "payout_fees_key",
    "state_key",
    "summarised",
]
