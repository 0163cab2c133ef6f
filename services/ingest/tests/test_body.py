"""The nesting bound measured before `json.loads`: the depth JSON really has, whatever its
strings hold (brackets, quotes, escapes, any character)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
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


def regex_passes(body: bytes, limit: int) -> str | None:
    """The check as it was, one regex pass over the whole skeleton per level: the
    refusals must stay the same, reason for reason, on any bytes."""
    skeleton = re.sub(rb"\\.", b"", body, flags=re.DOTALL)
    skeleton = skeleton.translate(None, bytes(b for b in range(256) if b not in b'"[]{}'))
    brackets = re.sub(rb'"[^"]*"', b"", skeleton).replace(b'"', b"")
    for _ in range(limit):
        if not brackets:
            return None
        reduced = re.sub(rb"\[\]|\{\}", b"", brackets)
        if reduced == brackets:
            return "malformed_json"
        brackets = reduced
    return "nesting_too_deep" if brackets else None


@settings(max_examples=500, deadline=None)
@example(body=b'"""""""[""', limit=0)  # an odd count of quotes: the stray one is the last
@given(
    body=st.binary(max_size=60).map(bytes)
    | st.text(alphabet='[]{}"\\a', max_size=60).map(str.encode),
    limit=st.integers(0, 6),
)
def test_any_bytes_are_refused_as_the_regex_passes_refused_them(body: bytes, limit: int) -> None:
    assert refused(body, limit) == regex_passes(body, limit)


@pytest.mark.parametrize(
    ("body", "levels"), [(b"{[]}", 2), (b"[{}]", 2), (b'{"a":[{"b":[]}],"c":{}}', 4)]
)
def test_a_pair_formed_once_another_is_gone_is_the_next_level(body: bytes, levels: int) -> None:
    assert refused(body, levels) is None
    assert refused(body, levels - 1) == "nesting_too_deep"
