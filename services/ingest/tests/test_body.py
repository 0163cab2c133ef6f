"""The nesting bound measured before `json.loads`: the depth JSON really has, whatever its
strings hold (brackets, quotes, escapes, any character)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bogfoer_ingest.body import check_nesting
from bogfoer_kit.errors import ApiError

TRICKY = st.text(alphabet=st.sampled_from('ab[]{}"\\/,:\n\u00e6\u20ac\U0001f600'), max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TRICKY, children, max_size=3),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def refused(body: bytes, limit: int) -> str | None:
    try:
        check_nesting(body, limit)
    except ApiError as exc:
        return exc.reason
    return None


@settings(max_examples=300, deadline=None)
@given(value=JSON, ascii_only=st.booleans())
def test_the_bound_is_the_depth_json_has(value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    real = depth(value)
    assert refused(body, real) is None
    if real > 0:
        assert refused(body, real - 1) == "nesting_too_deep"


@pytest.mark.parametrize(
    "body",
    [b"[" * 10_000, b"]" * 10, b'["\\\\"]]', b'{"a": [}', b'"\\"[' + b"[" * 5000],
)
def test_brackets_that_do_not_pair_up_are_refused(body: bytes) -> None:
    assert refused(body, 32) in ("malformed_json", "nesting_too_deep")
