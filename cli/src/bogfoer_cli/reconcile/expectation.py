"""What the rules say Dinero should hold: the mapper's decisions, replayed.

Pure: no Kafka, no database, no HTTP. `OrderReplay` takes one order's (one state's) events in
arrival order, each with the index of the tenant settings in force when it arrived, and does
what the mapper's handler did with them: events wait while the tenant has no (active)
settings and are decided when active settings arrive; every new version of the settings
re-evaluates a state that holds something back; everything else is `bogfoer_rules.decide`.
The result is one `Expected` per posting key: the command the rules emit, or the hold.

A posting the ledger shows as re-mapped (revision > 0), failed or held is also derived with
the tenant's *current* settings (`bogfoer_rules.remap`), since that is what a re-drive
would send: `Expected.current` is that command, or None when the current settings hold it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bogfoer_contracts.events import SalesEvent
from bogfoer_contracts.postings import (
    PostingCommand,
    document_date,
)
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_rules.documents import danish_date
from bogfoer_rules.holds import Hold
from bogfoer_rules.policy import Decision, OrderState, advance, decide
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

    def __init__(self, configs: Sequence[TenantConfig]) -> None:
        self.configs = configs
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
        self._record(decide(event, config, self.state, at), at)

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


def rates_of(state: OrderState) -> dict[int, int]:
    """The VAT rate of each account the order's invoice uses (credit notes reuse them)."""
    return {line.spec.account_number: line.vat_rate for line in state.invoice_lines}


def replay_orders(
    arrivals: Iterable[tuple[str, Arrival]],
    configs: Sequence[TenantConfig],
    end: dt.datetime,
    revisit: dict[str, int],
) -> list[Expected]:
    """Every posting of the states in `arrivals` ((state key, arrival), in arrival order).

    `revisit`: posting key -> next revision, for postings the ledger shows as re-mapped,
    failed or held; each also gets its derivation under the current (last) settings.
    """
    orders: dict[str, OrderReplay] = {}
    for state_key, arrival in arrivals:
        replay = orders.get(state_key)
        if replay is None:
            replay = orders[state_key] = OrderReplay(configs)
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
