"""What the rules say Dinero should hold: the mapper's decisions, replayed.

Pure: no Kafka, no database, no HTTP. `OrderReplay` takes one order's (one state's) events in
arrival order, each with the index of the tenant settings in force when it arrived, and does
what the mapper's handler did with them: events wait while the tenant has no (active)
settings and are decided when active settings arrive; every new version of the settings
re-evaluates a state that holds something back; everything else is `bogfoer_rules.decide`.
The result is one `Expected` per posting key: the command the rules emit, or the hold.

An order the mapper began before posting keys were made injective (key scheme 1,
`bogfoer_rules.policy.OrderState.key_scheme`) kept its first keys' scheme; a replay starts
every order afresh, under today's. So an order's scheme is settled by its first keys: when
none of today's is in the ledger and one of scheme 1's is, the order is replayed under
scheme 1, as the mapper went on with it.

A posting the ledger shows as re-mapped (revision > 0), failed or held is also derived with
the tenant's *current* settings (`bogfoer_rules.remap`), since that is what a re-drive
would send: `Expected.current` is that command, or None when the current settings hold it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field

from bogfoer_contracts.events import SalesEvent
from bogfoer_contracts.postings import (
    PostingCommand,
    document_date,
)
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_rules.documents import danish_date
from bogfoer_rules.holds import Hold
from bogfoer_rules.policy import Decision, OrderState, advance, decide, state_key
from bogfoer_rules.remap import remap


@dataclass(frozen=True)
class Arrival:
    """One replayed event: which settings were in force (index, -1 = none yet) and when."""

    event: SalesEvent
    settings: int
    at: dt.datetime


@dataclass
class Expected:
    """One posting key as the rules derive it."""

    key: str
    state_key: str
    command: PostingCommand | None = None
    # Every hold raised on the key: the reason it is not posted (no command), or a warning
    # about a posting that is (e.g. a payout whose transactions do not add up).
    holds: list[Hold] = field(default_factory=list)
    # When the sale happened (Danish date): the command's own date, or the held event's.
    date: dt.date | None = None
    # The posting derived with the current settings (only for postings the ledger shows as
    # re-mapped, failed or held); `current_hold` when the current settings hold it.
    current: PostingCommand | None = None
    current_hold: Hold | None = None
    rates: dict[int, int] = field(default_factory=dict)  # account -> VAT rate (invoice lines)
    current_rates: dict[int, int] = field(default_factory=dict)  # the same for `current`

    @property
    def hold(self) -> Hold | None:
        """Why the posting is not made (None when it is)."""
        return self.holds[-1] if self.command is None and self.holds else None

    @property
    def kind(self) -> str:
        if self.command is not None:
            return self.command.kind
        return self.holds[-1].kind


class OrderReplay:
    """The mapper's handling of one state's events, replayed (see the module docstring)."""

    def __init__(
        self, configs: Sequence[TenantConfig], ledger_keys: Container[str] = frozenset()
    ) -> None:
        self.configs = configs
        self.ledger_keys = ledger_keys  # the posting keys the ledger holds for the tenant
        self.state: OrderState | None = None
        self.expected: dict[str, Expected] = {}
        self._epoch = -1  # the settings this state has seen arrive
        self._waiting: list[Arrival] = []

    def _record(self, decision: Decision, at: dt.datetime) -> None:
        state = decision.state
        self.state = state
        for command in decision.commands:
            if command.posting_key not in self.expected:
                self.expected[command.posting_key] = Expected(
                    command.posting_key, state.key, command, date=document_date(command)
                )
            else:  # a resolved hold
                self.expected[command.posting_key].command = command
                self.expected[command.posting_key].date = document_date(command)
        for hold in decision.holds:
            entry = self.expected.setdefault(
                hold.posting_key, Expected(hold.posting_key, state.key, date=danish_date(at))
            )
            entry.holds.append(hold)

    def _settings_arrive(self, upto: int, at: dt.datetime) -> None:
        """Settings versions `self._epoch + 1 .. upto` arrived before the next event."""
        while self._epoch < upto:
            self._epoch += 1
            config = self.configs[self._epoch]
            if not config.active:
                continue
            waiting, self._waiting = self._waiting, []
            for arrival in waiting:
                self._decide(arrival.event, config, arrival.at)
            if self.state is not None and self.state.holds_raised:
                self._record(advance(self.state, config, at), at)

    def _decide(self, event: SalesEvent, config: TenantConfig, at: dt.datetime) -> None:
        decision = decide(event, config, self.state, at)
        if not self.expected and _keys(decision):
            decision = self._under_scheme_of_ledger(event, config, at, decision)
        self._record(decision, at)

    def _under_scheme_of_ledger(
        self, event: SalesEvent, config: TenantConfig, at: dt.datetime, decision: Decision
    ) -> Decision:
        """The order's first keys: under scheme 1 when the ledger holds those instead."""
        if any(key in self.ledger_keys for key in _keys(decision)):
            return decision
        before = self.state or OrderState(key=state_key(event))
        legacy = decide(event, config, before.model_copy(update={"key_scheme": 1}), at)
        if any(key in self.ledger_keys for key in _keys(legacy)):
            return legacy
        return decision

    def add(self, arrival: Arrival) -> None:
        self._settings_arrive(arrival.settings, arrival.at)
        config = self.configs[arrival.settings] if arrival.settings >= 0 else None
        if config is None or not config.active:
            self._waiting.append(arrival)
            return
        self._decide(arrival.event, config, arrival.at)

    def finish(self, at: dt.datetime) -> None:
        """Every later version of the settings arrived after the last event."""
        self._settings_arrive(len(self.configs) - 1, at)


def _keys(decision: Decision) -> list[str]:
    """The posting keys a decision makes; its contact's only when it makes nothing else: a
    returning customer's contact is in the ledger under the scheme of an older order."""
    keys = [(c.kind, c.posting_key) for c in decision.commands]
    keys += [(h.kind, h.posting_key) for h in decision.holds]
    own = [key for kind, key in keys if kind != "contact"]
    return own or [key for _, key in keys]


def rates_of(state: OrderState) -> dict[int, int]:
    """The VAT rate of each account the order's invoice uses (credit notes reuse them)."""
    return {line.spec.account_number: line.vat_rate for line in state.invoice_lines}


def replay_orders(
    arrivals: Iterable[tuple[str, Arrival]],
    configs: Sequence[TenantConfig],
    end: dt.datetime,
    revisit: dict[str, int],
    ledger_keys: Container[str] = frozenset(),
) -> list[Expected]:
    """Every posting of the states in `arrivals` ((state key, arrival), in arrival order).

    `revisit`: posting key -> next revision, for postings the ledger shows as re-mapped,
    failed or held; each also gets its derivation under the current (last) settings.
    `ledger_keys`: the tenant's posting keys in the ledger, which settle an order's key
    scheme (see the module docstring).
    """
    orders: dict[str, OrderReplay] = {}
    for key, arrival in arrivals:
        replay = orders.get(key)
        if replay is None:
            replay = orders[key] = OrderReplay(configs, ledger_keys)
        replay.add(arrival)
    found: list[Expected] = []
    current = configs[-1] if configs else None
    for replay in orders.values():
        replay.finish(end)
        state = replay.state
        if state is None:
            continue
        rates = rates_of(state)
        for entry in replay.expected.values():
            entry.rates = rates
            if current is not None and entry.key in revisit:
                derived = remap(state, current, end, entry.key, revisit[entry.key])
                entry.current = derived.command
                entry.current_rates = rates_of(derived.state)
                entry.current_hold = next(
                    (h for h in derived.holds if h.posting_key == entry.key), entry.hold
                )
            found.append(entry)
    return found


__all__ = ["Arrival", "Expected", "OrderReplay", "rates_of", "replay_orders"]
