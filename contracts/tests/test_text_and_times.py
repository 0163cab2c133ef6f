"""The value types behind the door: what they let through survives JSON and the conversion
to Danish time; the text check finds a NUL or a lone surrogate anywhere."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bogfoer_contracts.events import (
    SALES_EVENT,
    InboundEvent,
    OrderLine,
    OrderPlacedEvent,
    parse_event,
    stamp,
)
from bogfoer_contracts.model import storable_json, unstorable_text
from bogfoer_contracts.times import FIRST_YEAR, LAST_YEAR, Timestamp
from bogfoer_rules.documents import danish_date


def test_ordinary_text_and_the_window_edges_pass_and_survive_json(
    placed_event: dict[str, Any],
) -> None:
    placed_event["data"]["customer"]["name"] = "Søren Ærø 🚲\tApS"
    placed_event["data"]["placed_at"] = f"{LAST_YEAR}-12-31T23:59:59-12:00"
    placed_event["occurred_at"] = f"{FIRST_YEAR}-01-01T00:00:00+14:00"
    inbound = {k: v for k, v in placed_event.items() if k not in ("id", "tenant_id", "received_at")}
    event = stamp(InboundEvent.model_validate(inbound), "shop-a", dt.datetime.now(dt.UTC))
    again = parse_event(SALES_EVENT.dump_json(event))
    assert again == event
    assert isinstance(again, OrderPlacedEvent)
    # The Danish date of any accepted time exists (year 9999 overflowed here before).
    assert danish_date(again.data.placed_at).year == LAST_YEAR + 1
    assert danish_date(again.occurred_at).year == FIRST_YEAR - 1


# Lone surrogates included (Hypothesis leaves them out by default).
_ANY_CHARACTER = st.characters(exclude_categories=())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(_ANY_CHARACTER),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(_ANY_CHARACTER), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values)
def test_unstorable_text_is_found_wherever_it_is(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)  # keeps a lone surrogate as it is
    has_nul = "\\u0000" in text
    has_surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert (unstorable_text(value) is not None) == (has_nul or has_surrogate)


def _encodings(value: Any) -> list[bytes | str]:
    """JSON text of `value` as producers write it: escaped, raw UTF-8 (a lone surrogate as
    its three bytes, which json.loads decodes from bytes), and as str."""
    raw = json.dumps(value, ensure_ascii=False)
    return [
        json.dumps(value),
        json.dumps(value).encode(),
        raw,
        raw.encode("utf-8", "surrogatepass"),
        raw.encode("utf-16", "surrogatepass"),  # json.loads reads UTF-16 and UTF-32 too
    ]


@given(json_values)
def test_text_proven_storable_from_its_json_is_storable(value: Any) -> None:
    """`storable_json` lets validation skip the walk: it must never say yes to JSON text
    whose parse (by json.loads or by pydantic) holds a NUL or a lone surrogate."""
    for text in _encodings(value):
        if not storable_json(text):
            continue  # the walk decides
        assert unstorable_text(json.loads(text)) is None, text
        try:
            parsed = TypeAdapter(Any).validate_json(text)
        except ValidationError:
            continue  # pydantic refuses what is no UTF-8 JSON
        assert unstorable_text(parsed) is None, text


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "\\u0000"}',
        '{"a": "\\uD800"}',
        '{"a": "\\udfff"}',
        '{"a\\u0000": 1}',
        b'{"a": "\xed\xa0\x80"}',
        b'{"a": "\x00"}',
        '{"a": "\ud800"}',
    ],
)
def test_json_that_may_hold_unstorable_text_is_walked(text: str | bytes) -> None:
    assert not storable_json(text)


@pytest.mark.parametrize(
    ("text", "problem"), [("Mette\x00", "NUL"), ("Mette \ud800", "lone surrogate")]
)
def test_events_parsed_from_json_still_refuse_unstorable_text(
    placed_event: dict[str, Any], text: str, problem: str
) -> None:
    placed_event["data"]["customer"]["name"] = text
    for encoded in _encodings(placed_event)[:4]:
        with pytest.raises(ValidationError, match=problem):
            parse_event(encoded)


def test_ordinary_json_is_proven_storable_without_a_walk() -> None:
    assert storable_json('{"name": "Søren Ærø", "city": "Århus"}')
    assert storable_json(b'{"name": "S\\u00f8ren"}')


def test_deep_input_is_checked_without_recursion() -> None:
    deep: Any = "\x00"
    for _ in range(100_000):
        deep = [deep]
    assert unstorable_text(deep) is not None


_TIMESTAMP = TypeAdapter(Timestamp)
_TIMESTAMP_PATTERN = re.compile(_TIMESTAMP.json_schema()["pattern"])


@given(
    st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
        r"(Z|[+-][0-9]{2}:?[0-9]{2})\Z"
    )
)
def test_every_time_the_contract_takes_matches_its_schema(text: str) -> None:
    """The schema is what clients and the fuzz suite generate from: what it refuses, the
    contract must refuse too (else a request outside the schema would be answered 2xx)."""
    try:
        _TIMESTAMP.validate_python(text)
    except ValidationError:
        return
    assert _TIMESTAMP_PATTERN.fullmatch(text)


def test_a_nested_model_checks_its_text_when_it_is_validated_on_its_own(
    placed_event: dict[str, Any],
) -> None:
    """An event is walked once, by its outermost model; a model validated alone walks its
    own input (the nested models skip the walk only inside an outer validation)."""
    placed_event["data"]["lines"][0]["description"] = "Vare\x00"
    with pytest.raises(ValidationError, match=re.escape("data.lines[0].description holds a NUL")):
        parse_event(placed_event)
    with_nul = placed_event["data"]["lines"][0]
    with pytest.raises(ValidationError, match="description holds a NUL"):
        OrderLine.model_validate(with_nul)
    with_nul["description"] = "Vare"
    assert OrderLine.model_validate(with_nul).description == "Vare"
