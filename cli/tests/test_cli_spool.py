"""The replay's bucket files: every event of one order state lands in one bucket, in arrival
order, and the routing read from the bytes is the routing read from the parsed JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import pytest

from bench.mapper_decide import RECEIVED, inbound_bodies
from bench.replay import canonical
from bogfoer_cli.reconcile.spool import Spool, bucket_of, route_of
from bogfoer_contracts.events import parse_event
from bogfoer_rules.policy import state_key


def _stream() -> list[tuple[str, bytes]]:
    return [(tenant, canonical(tenant, body)) for tenant, body in inbound_bodies(120)]


def test_routing_from_the_bytes_is_routing_from_the_parsed_event() -> None:
    for _, raw in _stream():
        data = json.loads(raw)["data"]
        parsed = data.get("order_id") or data.get("payment_id") or data.get("payout_id")
        assert route_of(raw) == parsed
    assert route_of(b'{"data":{"order_id":null,"payment_id":"pi_1"}}') == "pi_1"
    assert route_of(b'{"data":{"order_id": "a\\"b"}}') == 'a\\"b'


@pytest.mark.parametrize("bucket_bytes", [1 << 18, 4096])  # 4 kB: buckets are split again
def test_every_state_lands_in_one_bucket_in_arrival_order(bucket_bytes: int) -> None:
    stream = _stream()
    buckets_of_state: dict[str, set[int]] = defaultdict(set)
    for tenant, raw in stream:
        event = parse_event(raw)
        buckets_of_state[f"{tenant}/{state_key(event)}"].add(bucket_of(tenant, route_of(raw), 16))
    assert all(len(b) == 1 for b in buckets_of_state.values())

    with Spool(16, bucket_bytes=bucket_bytes) as spool:
        for tenant, raw in stream:
            spool.add(tenant, 0, RECEIVED, raw)
        buckets = list(spool.replay())
    replayed = [record for bucket in buckets for record in bucket]
    if bucket_bytes == 4096:
        assert len(buckets) > 16  # split, and no part holds much more than asked
        assert max(sum(len(r[3]) for r in bucket) for bucket in buckets) < 3 * bucket_bytes
    assert sorted(r[3] for r in replayed) == sorted(raw for _, raw in stream)
    assert {r[2] for r in replayed} == {RECEIVED.astimezone(dt.UTC)}
    order = {raw: i for i, (_, raw) in enumerate(stream)}
    by_state: dict[str, list[int]] = defaultdict(list)
    for tenant, _, _, raw in replayed:
        by_state[f"{tenant}/{state_key(parse_event(raw))}"].append(order[raw])
    assert all(seq == sorted(seq) for seq in by_state.values())
