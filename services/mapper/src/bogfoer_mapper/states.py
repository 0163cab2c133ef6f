"""Order states this process wrote, kept parsed: a state is loaded and validated again only
when its row is no longer the write this process made.

Every write of a state stores a version drawn for that write (62 random bits,
`store.save_states`). The process remembers, per (tenant, state key), the version it wrote
and the state it wrote then; `store.load_states` is told those versions and sends a state's
text back only where the row's version differs — written by another replica since (a
rebalance moved the partition), by this process in a transaction that then rolled back
(the row keeps the version before), or never seen here. Two writes draw the same version
once in 2**62, so a matching version is the write remembered. (Not the transaction's id:
a failover that loses commits, or a point-in-time restore, hands ids out again.)

What a transaction wrote is remembered only once it committed (`StateWrites`, applied by
`StateCache.committed`), and only what the main path wrote in a part that was not rolled
back to its savepoint; the other paths (the one-by-one fallback, remaps, settings
re-evaluating holds) make it forget the keys they write, so they need not track them. The
states kept are the decisions' own, never changed afterwards: `decide` works on a copy
(`policy.copy_state`) whose items are frozen or replaced, never changed in place.

Bounded: the least recently used states are dropped past `size` (a parsed state is ~17 kB
of Python objects over the bench stream, its JSON ~2.6 kB).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from bogfoer_contracts.events import SalesEvent
from bogfoer_rules.policy import OrderState

# (tenant, state key)
Key = tuple[str, str]
# States kept by default: ~35 MB at the bench stream's ~17 kB a state (the mapper's pod asks for
# 256 MiB; it ran at ~90 MiB without them).
DEFAULT_SIZE = 2048


# The text each of a batch's events was parsed from, by the event object's `id()` (the event
# kept beside it: an id is only an object's while it lives).
EventTexts = Mapping[int, tuple[SalesEvent, str]]
# Where a state's JSON without its events had them: the field after them. The first such
# text is the field itself: the fields before it are a string, an int and strings, and a
# quote inside a JSON string is escaped.
_AFTER_EVENTS = ',"before_cutover":'


def stored(state: OrderState, texts: EventTexts | None = None) -> tuple[str, bool]:
    """A state as `store` keeps it: its JSON, and whether it holds something back.

    The events in `texts` are written as the text they were parsed from instead of being
    dumped again (~3 of a state's ~6.5 µs an event over the bench stream): the same events
    when the state is loaded, and for an event that arrived as ingest writes it
    (`event_json`), the same bytes. The rest of the state is its own dump.
    """
    held = bool(state.holds_raised)
    if not texts or not state.events:
        return state.dump_json(), held
    head = state.dump_json(events=False)
    at = head.index(_AFTER_EVENTS)
    # A list, not a generator (`join` makes one of it first), each text found inline.
    events = ",".join(
        [
            found[1]
            if (found := texts.get(id(event))) is not None and found[0] is event
            else _dumped(event)
            for event in state.events
        ]
    )
    return f'{head[:at]},"events":[{events}]{head[at:]}', held


def _dumped(event: SalesEvent) -> str:
    """An event not in the batch's texts, as the state's dump writes it: by the event's own
    class (`SerializeAsAny`)."""
    text: str = type(event).__pydantic_serializer__.to_json(event).decode()
    return text


class StateCache:
    """Parsed states by (tenant, state key), each with the version of the write it is."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._states: OrderedDict[Key, tuple[int, OrderState]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def known(self, tenant: str, state_keys: list[str]) -> dict[str, tuple[int, OrderState]]:
        """(version, state) of those of the keys held here."""
        found: dict[str, tuple[int, OrderState]] = {}
        states = self._states
        for state_key in state_keys:
            entry = states.get((tenant, state_key))
            if entry is not None:
                states.move_to_end((tenant, state_key))
                found[state_key] = entry
        return found

    def committed(self, writes: StateWrites) -> None:
        """What a transaction wrote, once it committed."""
        states = self._states
        for key, entry in writes.entries.items():
            if entry is None:
                states.pop(key, None)
            else:
                states[key] = entry
                states.move_to_end(key)
        while len(states) > self.size:
            states.popitem(last=False)


class StateWrites:
    """What one transaction wrote of the states, for `StateCache.committed`: per key the
    version and state of its last write, or None where that is not known here."""

    def __init__(self) -> None:
        self.entries: dict[Key, tuple[int, OrderState] | None] = {}

    def saved(self, tenant: str, version: int, states: dict[str, OrderState]) -> None:
        """`states` written as `version` (call once the savepoint they were written in, if
        any, was released)."""
        for state_key, state in states.items():
            self.entries[(tenant, state_key)] = (version, state)

    def unknown(self, tenant: str, state_key: str) -> None:
        """The key written (or maybe written) in a way not tracked: forgotten."""
        self.entries[(tenant, state_key)] = None


__all__ = ["DEFAULT_SIZE", "EventTexts", "StateCache", "StateWrites", "stored"]
