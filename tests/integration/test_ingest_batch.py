"""ingest's batch route (`POST /v1/tenants/{t}/events/batch`), against the real process,
Kafka and PostgreSQL: each event validated on its own, one answer in the order sent, and
nothing answered before Kafka holds every accepted event. Kafka gone: test_kafka_outage.py."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition

from bogfoer_contracts.ids import event_id
from bogfoer_contracts.topics import INGEST_RAW, SALES_EVENTS, key_for
from bogfoer_devstack.offsets import end_offsets
from bogfoer_devstack.shop import signature
from tests.integration.conftest import MAX_BODY, Ingest, read_from
from tests.integration.test_ingest_api import encode, error_of, event

pytestmark = pytest.mark.integration


async def post_batch(
    ingest: Ingest, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await ingest.http.post(
        f"{ingest.events_url}/batch",
        content=body,
        headers={
            "Content-Type": "application/json",
            **(
                headers
                if headers is not None
                else {"Bogfoer-Signature": signature(ingest.secret, body)}
            ),
        },
    )


def batch_of(*events: Any) -> bytes:
    return encode({"events": list(events)})


async def offsets(topics: str) -> dict[str, dict[TopicPartition, int]]:
    return {topic: await end_offsets(topics, topic) for topic in (INGEST_RAW, SALES_EVENTS)}


def moved(before: dict[TopicPartition, int], after: dict[TopicPartition, int]) -> int:
    return sum(after.values()) - sum(before.values())


async def canonical_ids(topics: str, start: dict[TopicPartition, int], want: int) -> list[str]:
    """The x-event-ids of the canonical records written since `start`, in order, once at
    least `want` are there (and a moment more, to see anything written twice)."""
    records = await read_from(topics, start, lambda rs: len(rs) >= want, 10, settle=0.5)
    return [dict(r.headers)["x-event-id"].decode() for r in records]


async def test_a_mixed_batch_is_answered_event_by_event_in_order_once_kafka_holds_it(
    ingest: Ingest, topics: str
) -> None:
    tag = secrets.token_hex(4)
    first, second = event(f"a-{tag}"), event(f"b-{tag}", type="order.cancelled")
    second["data"] = {"order_id": "1001", "reason": "out of stock"}
    broken = event(f"c-{tag}", data={"order_id": "1001"})  # no fulfilled_at
    unstorable = event(f"d-{tag}", source="shop\u0000ify")
    body = batch_of(first, broken, second, first, unstorable, "not an event")
    before = await offsets(topics)

    response = await post_batch(ingest, body)

    assert response.status_code == 200, response.text
    # What the answer promises: Kafka (acks=all) already holds the raw body and each
    # accepted event, once each (the repeat of `first` is not sent again).
    after = await offsets(topics)
    assert moved(before[INGEST_RAW], after[INGEST_RAW]) == 1, response.text
    assert moved(before[SALES_EVENTS], after[SALES_EVENTS]) == 2, response.text
    ids = [event_id(ingest.tenant, "shopify", e["source_event_id"]) for e in (first, second)]
    answer = response.json()
    assert (answer["accepted"], answer["duplicate"], answer["rejected"]) == (2, 1, 3)
    results = answer["results"]
    assert [r["status"] for r in results] == [
        "accepted",
        "rejected",
        "accepted",
        "duplicate",
        "rejected",
        "rejected",
    ]
    assert results[0] == {"status": "accepted", "event_id": ids[0], "type": "order.fulfilled"}
    assert results[2] == {"status": "accepted", "event_id": ids[1], "type": "order.cancelled"}
    assert results[3] == {
        "status": "duplicate",
        "event_id": ids[0],
        "type": "order.fulfilled",
        "duplicate_of": 0,
    }
    # A rejected event carries exactly what the single route answers for it.
    for index, alone in ((1, broken), (4, unstorable), (5, "not an event")):
        single = await ingest.signed(json.dumps(alone).encode())
        assert single.status_code == 422
        assert results[index] == {"status": "rejected", "error": single.json()["error"]}
    assert results[1]["error"]["reason"] == "invalid_event"

    canonical = await canonical_ids(topics, before[SALES_EVENTS], 2)
    assert [i for i in canonical if i in ids] == ids  # once each, in the order sent
    raw = await read_from(
        topics, before[INGEST_RAW], lambda rs: any(r.value == body for r in rs), 10
    )
    mine = [r for r in raw if r.value == body]  # the exact bytes signed, for audit and replay
    assert len(mine) == 1
    assert mine[0].key == key_for(ingest.tenant)
    headers = dict(mine[0].headers)
    assert headers["x-tenant"] == ingest.tenant.encode()
    assert (headers["x-batch-events"], headers["x-batch-accepted"]) == (b"6", b"2")


async def test_a_batch_sent_again_is_answered_with_the_same_ids(
    ingest: Ingest, topics: str
) -> None:
    """A client that did not hear the answer sends the same body again: the same ids, so
    the mapper drops the second copy, as for one event sent twice."""
    tag = secrets.token_hex(4)
    body = batch_of(*(event(f"again-{tag}-{n}") for n in range(5)))
    before = await offsets(topics)
    first = await post_batch(ingest, body)
    second = await post_batch(ingest, body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    ids = [r["event_id"] for r in first.json()["results"]]
    assert ids == [event_id(ingest.tenant, "shopify", f"again-{tag}-{n}") for n in range(5)]
    canonical = await canonical_ids(topics, before[SALES_EVENTS], 10)
    assert [i for i in canonical if i in ids] == ids + ids
    # An API key is as good as the signature, over the same route.
    keyed = await post_batch(ingest, body, {"Authorization": f"Bearer {ingest.api_key}"})
    assert keyed.status_code == 200, keyed.text
    assert keyed.json() == first.json()


async def test_a_batch_with_nothing_acceptable_leaves_nothing_on_any_topic(
    ingest: Ingest, topics: str
) -> None:
    before = await offsets(topics)
    response = await post_batch(ingest, batch_of(event("x", type="order.teleported"), 42))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (0, 2)
    assert all(r["error"]["reason"] == "invalid_event" for r in answer["results"])
    assert await offsets(topics) == before


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b'{"events": [', 400, "malformed_json"),
        (b"[]", 422, "invalid_batch"),
        (b'{"events": {}}', 422, "invalid_batch"),
        (b'{"events": []}', 422, "invalid_batch"),
        (b'{"events": [{}], "more": 1}', 422, "invalid_batch"),
        (encode({"events": [{}] * 501}), 413, "too_many_events"),
        (encode({"events": [{"n": "x" * MAX_BODY}]}), 413, "body_too_large"),
        (b'{"events": [' + b"[" * 40 + b"]" * 40 + b"]}", 400, "nesting_too_deep"),
    ],
)
async def test_a_batch_refused_as_a_whole_leaves_nothing_on_any_topic(
    ingest: Ingest, topics: str, body: bytes, status: int, reason: str
) -> None:
    before = await offsets(topics)
    assert error_of(await post_batch(ingest, body)) == (status, reason)
    assert await offsets(topics) == before


async def test_the_signature_covers_the_whole_batch(ingest: Ingest) -> None:
    body = batch_of(event(f"s-{secrets.token_hex(4)}"))
    assert error_of(await post_batch(ingest, body, {})) == (401, "missing_credentials")
    tampered = signature(ingest.secret, body[:-1] + b" }")
    assert error_of(await post_batch(ingest, body, {"Bogfoer-Signature": tampered})) == (
        401,
        "bad_signature",
    )
    unsupported = await post_batch(
        ingest,
        body,
        {"Bogfoer-Signature": signature(ingest.secret, body), "Content-Type": "text/plain"},
    )
    assert error_of(unsupported) == (415, "unsupported_media_type")
