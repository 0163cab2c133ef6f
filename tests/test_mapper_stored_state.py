"""A state as the mapper stores it (`bogfoer_mapper.states.stored`): its events written as
the text they arrived as, the rest dumped — read back, the same state; for events that
arrived as ingest writes them, the same bytes as the state's own dump."""

from __future__ import annotations

from bench import kafka_paths
from bench.mapper_decide import NOW
from bogfoer_contracts.events import SalesEvent, event_json, parse_event
from bogfoer_mapper.states import stored
from bogfoer_rules import policy


def _decided() -> tuple[list[policy.OrderState], list[tuple[SalesEvent, str]]]:
    """The bench stream's final states, and each event with the text it was parsed from."""
    settings = {c.tenant_id: c for c in kafka_paths.settings_of("t")}
    states: dict[tuple[str, str], policy.OrderState] = {}
    arrived: list[tuple[SalesEvent, str]] = []
    for _, value in kafka_paths.event_records("t", 2000):
        event = parse_event(value)
        arrived.append((event, value.decode()))
        key = policy.state_key(event)
        before = states.get((event.tenant_id, key))
        decision = policy.decide(event, settings[event.tenant_id], before, NOW, key)
        states[(event.tenant_id, key)] = decision.state
    return list(states.values()), arrived


def test_a_state_with_its_events_arrival_texts_reads_back_the_same() -> None:
    states, arrived = _decided()
    texts = {id(event): (event, text) for event, text in arrived}
    assert any(text != event_json(event).decode() for event, text in arrived)  # not ingest's
    for state in states:
        text, held = stored(state, texts)
        loaded = policy.OrderState.load(text)
        assert loaded == state
        assert (
            loaded.model_fields_set
            == policy.OrderState.load(state.model_dump_json()).model_fields_set
        )
        assert held == bool(state.holds_raised)


def test_with_events_as_ingest_writes_them_the_bytes_are_the_state_s_own_dump() -> None:
    states, arrived = _decided()
    texts = {id(event): (event, event_json(event).decode()) for event, _ in arrived}
    for state in states:
        assert stored(state, texts) == (state.model_dump_json(), bool(state.holds_raised))
        assert stored(state) == stored(state, texts)


def test_a_text_is_used_only_for_the_event_it_was_parsed_as() -> None:
    """By object: another event object (another arrival of the same id, say) is dumped."""
    states, _ = _decided()
    state = next(s for s in states if len(s.events) > 1)
    texts = {id(e): (e.model_copy(), "not this") for e in state.events}
    assert stored(state, texts)[0] == state.model_dump_json()


def test_a_key_that_spells_the_field_after_the_events_does_not_move_them() -> None:
    states, arrived = _decided()
    state = next(s for s in states if s.events)
    odd = ',"before_cutover":true,"x\\'
    renamed = state.model_copy(update={"key": odd, "seen_event_ids": [odd, *state.seen_event_ids]})
    texts = {id(event): (event, text) for event, text in arrived}
    assert policy.OrderState.load(stored(renamed, texts)[0]) == renamed
