"""A state's `dump_json` is pydantic's `model_dump_json`, byte for byte.

The state writes its invoice and invoice lines from `model_json`, which remembers each
one's JSON (the mapper dumps a state for every event, and the invoice with its lines was
most of it). Every state of every golden stream, dumped whole and without its events (as
`bogfoer_mapper.states.stored` asks), must be the very text pydantic's own dump writes,
and pydantic's `model_dump_json` with any argument stays pydantic's.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from test_rules_golden import _bench, _cases, _shuffled, decided

from bogfoer_rules.policy import decide, state_key


@pytest.mark.parametrize("stream", [_bench, _shuffled, _cases])
def test_every_states_dump_is_pydantics_own(stream: object) -> None:
    assert callable(stream)
    invoiced = 0
    for decision in decided(stream()):
        state = decision.state
        invoiced += state.invoice is not None
        for events_too, exclude in ((True, None), (False, {"events"})):
            assert state.dump_json(events=events_too) == BaseModel.model_dump_json(
                state, exclude=exclude
            )
        # The second time from what `model_json` remembered.
        assert state.dump_json() == BaseModel.model_dump_json(state)
    assert invoiced > 10


def test_a_dump_with_other_arguments_is_pydantics() -> None:
    events, config_of, now = _bench()
    first = state_key(events[0])
    state = None
    for event in events[:5]:  # the first order: placed, captured, fee, paid — invoiced
        if state_key(event) == first:
            state = decide(event, config_of(event), state, now).state
    assert state is not None
    assert state.invoice is not None
    state.dump_json()  # its invoice and lines remembered: pydantic's own dumps ignore that
    for kwargs in (
        {"indent": 2},
        {"exclude": {"invoice"}},
        {"exclude": {"events", "emitted"}},
        {"include": {"key", "invoice"}},
        {"exclude_defaults": True},
        {"round_trip": True},
    ):
        assert state.model_dump_json(**kwargs) == BaseModel.model_dump_json(state, **kwargs)
