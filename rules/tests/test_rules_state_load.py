"""OrderState.load: what it takes, refuses and gives back, whichever way it validates.

A state whose text proves itself storable is validated straight from the JSON without the
text walks; anything else goes the full way (parse, default the key scheme, validate with
the walks). Either way the answer must be the one the full way gives.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from rules_factories import captured, config, fee, paid, placed, refunded, run

from bogfoer_rules.policy import OrderState


def _stored() -> dict[str, Any]:
    cfg = config(trigger="order_paid")
    done = run([placed(), paid(), captured(), fee(), refunded()], cfg)
    state = done.states["order:1042"]
    assert state.invoice is not None
    assert state.invoice_lines
    assert len(state.events) == 4
    stored: dict[str, Any] = json.loads(state.model_dump_json())
    return stored


def _full_way(text: str) -> OrderState:
    raw = json.loads(text)
    raw.setdefault("key_scheme", 1)
    return OrderState.model_validate(raw)


def test_a_stored_state_loads_as_the_full_validation_reads_it_and_dumps_the_same() -> None:
    text = json.dumps(_stored())
    state = OrderState.load(text)
    assert state == _full_way(text)
    assert state.model_fields_set == _full_way(text).model_fields_set
    assert state.model_dump_json() == OrderState.load(state.model_dump_json()).model_dump_json()
    assert OrderState.load(text.encode()) == state


def test_a_state_without_a_key_scheme_is_scheme_1_and_says_so() -> None:
    stored = _stored()
    del stored["key_scheme"]
    state = OrderState.load(json.dumps(stored))
    assert state.key_scheme == 1
    assert "key_scheme" in state.model_fields_set
    assert '"key_scheme":1' in state.model_dump_json()


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda s: s.update(surprise=1), id="an unknown field"),
        pytest.param(lambda s: s["events"][0]["data"].update(total=1.5), id="a float amount"),
        pytest.param(lambda s: s.update(key_scheme=3), id="an unknown key scheme"),
        pytest.param(lambda s: s["invoice"].update(lines=[]), id="an invoice without lines"),
        pytest.param(
            lambda s: s["events"][0]["data"].update(placed_at="1999-12-31T10:00:00+00:00"),
            id="a time outside the window",
        ),
        pytest.param(
            lambda s: s["events"][1].update(occurred_at="yesterday"), id="a time not RFC 3339"
        ),
    ],
)
def test_what_the_full_validation_refuses_load_refuses(spoil: Any) -> None:
    stored = _stored()
    spoil(stored)
    text = json.dumps(stored)
    with pytest.raises(ValidationError) as full:
        _full_way(text)
    with pytest.raises(ValidationError) as loaded:
        OrderState.load(text)
    assert loaded.value.errors(include_context=False) == full.value.errors(include_context=False)


@pytest.mark.parametrize("bad", ["nul \u0000 byte", "lone \ud800 surrogate"])
def test_unstorable_text_in_a_stored_state_is_refused(bad: str) -> None:
    stored = _stored()
    stored["events"][0]["data"]["lines"][0]["description"] = bad
    with pytest.raises(ValidationError, match=r"cannot be stored|is not text"):
        OrderState.load(json.dumps(stored))


def test_a_state_refuses_unstorable_text_in_its_own_fields_too() -> None:
    """OrderState is `StorableText` (so that `load` can skip the walks): its own strings —
    key, event ids, posting keys — are held to the contracts' rule as well. Before, only
    the contracts inside it were, and such a state failed later, in PostgreSQL."""
    with pytest.raises(ValidationError, match="cannot be stored"):
        OrderState.model_validate({"key": "order:1\x00"})
    with pytest.raises(ValidationError, match="is not text"):
        OrderState.model_validate({"key": "order:1", "emitted": ["bogfoer:a:b:\ud800"]})
