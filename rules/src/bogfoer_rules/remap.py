"""Re-mapping one posting with the tenant's current settings (the `remap_posting` action).

A posting that failed in Dinero or was held may have been caused by the tenant's settings (a
wrong account, a missing deposit account). Once the settings are fixed, the posting must be
derived again from the sale's stored facts with the *current* settings: re-sending the old
command would carry the old account numbers. `remap` does that, purely:

- it derives the order's documents afresh from its accepted events (`OrderState.events`, in
  arrival order) under `config`, and takes the requested posting from that derivation, with
  the given `revision`, plus any document the re-derived posting depends on that was never
  emitted (e.g. a contact the new customer handling names);
- it re-evaluates the stored state with `advance`, so holds the settings now resolve are
  emitted too;
- the stored state keeps its facts and flags; only a re-derived invoice replaces the one it
  remembers, so later credit notes reuse the accounts that the invoice is booked with.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from bogfoer_contracts.postings import CreateInvoice, PostingCommand
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_rules.holds import Hold
from bogfoer_rules.policy import OrderState, advance, decide


class Remap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    state: OrderState
    command: PostingCommand | None = Field(
        default=None, description="The re-derived posting; None when the settings hold it"
    )
    commands: list[PostingCommand] = Field(
        default_factory=list, description="Other postings the current settings now emit"
    )
    holds: list[Hold] = Field(default_factory=list)


def _derived_commands(
    state: OrderState, config: TenantConfig, now: dt.datetime
) -> tuple[OrderState, list[PostingCommand], list[Hold]]:
    # Under the state's own key scheme: an order booked before scheme 2 keeps its keys.
    fresh = OrderState(key=state.key, key_scheme=state.key_scheme)
    commands: list[PostingCommand] = []
    holds: list[Hold] = []
    for event in state.events:
        decision = decide(event, config, fresh, now)
        fresh = decision.state
        commands += decision.commands
        holds += decision.holds
    return fresh, commands, holds


def remap(
    state: OrderState, config: TenantConfig, now: dt.datetime, posting_key: str, revision: int
) -> Remap:
    """Derive `posting_key` again from `state`'s facts under `config` (see the module doc)."""
    if not config.active:
        return Remap(state=state)
    fresh, derived, derived_holds = _derived_commands(state, config, now)
    advanced = advance(state, config, now)
    current = advanced.state
    by_key = {command.posting_key: command for command in derived}
    target = by_key.get(posting_key)
    commands = [c for c in advanced.commands if c.posting_key != posting_key]
    emitted = {c.posting_key for c in commands}
    holds = list(advanced.holds)
    if target is not None:
        target = target.model_copy(update={"revision": revision})
        for dependency in target.depends_on:
            needed = by_key.get(dependency)
            if needed is not None and dependency not in current.emitted:
                current.emitted.append(dependency)
                if dependency not in emitted:
                    commands.append(needed)
        if posting_key not in current.emitted:
            current.emitted.append(posting_key)
        if isinstance(target, CreateInvoice):
            current.invoice = target
            current.invoice_lines = fresh.invoice_lines
        commands.append(target)
    else:
        raised = set(current.holds_raised)
        for hold in derived_holds:
            marker = f"{hold.posting_key}|{hold.reason}"
            if hold.posting_key == posting_key and marker not in raised:
                current.holds_raised.append(marker)
                holds.append(hold)
    return Remap(state=current, command=target, commands=commands, holds=holds)


__all__ = ["Remap", "remap"]
