"""A single event's body is typed straight from its text (`stamped_body`); every body gets
the answer it got when it was parsed first and validated after (`stamped` of
`request_body.parse`): the same event, or the same status, reason and detail."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from bench.mapper_decide import inbound_bodies
from bogfoer_contracts.events import SalesEvent, event_json
from bogfoer_ingest import body as request_body
from bogfoer_ingest.shop_events import stamped, stamped_body
from bogfoer_kit.errors import ApiError

RECEIVED = dt.datetime(2026, 11, 20, 9, 0, 1, 123456, tzinfo=dt.UTC)
TENANT = "shop-a"
STREAM = [body for _, body in inbound_bodies(12)]  # every type of event, Stripe's too
PLACED = next(body for body in STREAM if b'"order.placed"' in body)


def _changed(path: tuple[str | int, ...], value: Any) -> bytes:
    raw = json.loads(PLACED)
    target = raw
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return json.dumps(raw).encode()


REFUSED = {
    "empty": b"",
    "truncated": PLACED[:-1],
    "trailing garbage": PLACED + b" x",
    "a tab inside a string": PLACED.replace(b'"shopify"', b'"shop\tify"', 1),
    "byte-order mark": b"\xef\xbb\xbf" + PLACED,
    "not UTF-8": PLACED.replace(b'"shopify"', b'"shop\xffify"', 1),
    "too deep": b'{"a": ' * 40 + b"1" + b"}" * 40,
    "NaN": PLACED[:-1] + b', "x": NaN}',
    "a list": b"[]",
    "null": b"null",
    "a string": b'"order.placed"',
    "unknown field": PLACED[:-1] + b', "amount_minor": 100}',
    "unknown type": _changed(("type",), "order.teleported"),
    "naive time": _changed(("occurred_at",), "2026-11-20T10:00:00"),
    "NUL escaped": _changed(("source_event_id",), "a\x00b"),
    "lone surrogate": _changed(("data", "customer", "name"), "Mette \ud800"),
    "schema_version quoted": _changed(("schema_version",), "1"),
    "schema_version 2": _changed(("schema_version",), 2),
    "schema_version as a boolean": _changed(("schema_version",), True),
    "backfill as a word": _changed(("backfill",), "yes"),
    "a whole float for an integer": PLACED.replace(b'"quantity": 1,', b'"quantity": 1.0,', 1),
    "occurred_at as a number": _changed(("occurred_at",), 1.7e9),
    "no data": _changed(("data",), None),
}


def _answer(take: Any, body: bytes) -> tuple[int, str, Any] | bytes:
    try:
        event: SalesEvent = take(body)
    except ApiError as exc:
        return exc.status, exc.reason, exc.detail
    return event_json(event)


def _before(body: bytes) -> SalesEvent:
    return stamped(request_body.parse(body), TENANT, RECEIVED, body)


def _now(body: bytes) -> SalesEvent:
    return stamped_body(body, TENANT, RECEIVED)


@pytest.mark.parametrize("body", STREAM, ids=range(len(STREAM)))
def test_an_accepted_event_is_the_same_event(body: bytes) -> None:
    assert _answer(_now, body) == _answer(_before, body)
    assert isinstance(_answer(_now, body), bytes)


@pytest.mark.parametrize("case", REFUSED)
def test_a_refused_body_keeps_its_answer(case: str) -> None:
    before = _answer(_before, REFUSED[case])
    assert not isinstance(before, bytes), f"{case}: the variant is not refused"
    assert _answer(_now, REFUSED[case]) == before
