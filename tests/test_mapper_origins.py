"""Which posting keys' origins a batch inserts without `ON CONFLICT`
(`bogfoer_mapper.handlers._Writes.new_origins`): each pair once, and none the state as
stored before the batch had emitted or held already — their rows exist."""

from __future__ import annotations

from bogfoer_mapper.handlers import _Writes
from bogfoer_rules import policy


def _state(key: str, emitted: list[str], holds: list[str]) -> policy.OrderState:
    return policy.OrderState(key=key, emitted=emitted, holds_raised=holds)


def test_pairs_recorded_before_are_left_out_and_each_pair_goes_once() -> None:
    writes = _Writes("t")
    writes.origins = [
        ("order:1", "k-held"),  # held before this batch: recorded then
        ("order:1", "k-new"),
        ("order:1", "k-new"),  # twice in the batch (a hold, then its command)
        ("order:1", "k-emitted"),  # emitted before (a hold can name such a key)
        ("order:2", "k-held"),  # the same key from a state not stored before
        ("order:3", "k-x|y"),  # a key with the marker's separator in it
    ]
    rows: dict[str, tuple[int, str | None]] = {"order:1": (5, None), "order:3": (7, None)}
    loaded = {
        "order:1": _state("order:1", ["k-emitted"], ["k-held|payment_method"]),
        "order:3": _state("order:3", [], ["k-x|y|deposit_account"]),
    }
    writes.new_origins(rows, loaded)
    assert writes.origins_new
    assert writes.origins == [("order:1", "k-new"), ("order:2", "k-held")]


def test_a_stored_state_not_in_hand_leaves_every_pair_to_on_conflict() -> None:
    writes = _Writes("t")
    writes.origins = [("order:1", "k"), ("order:1", "k")]
    rows: dict[str, tuple[int, str | None]] = {"order:1": (5, None)}
    writes.new_origins(rows, {})
    assert not writes.origins_new
    assert writes.origins == [("order:1", "k"), ("order:1", "k")]
