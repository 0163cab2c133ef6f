"""ingest's HTTP contract, against the real process, Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition

from bogfoer_contracts.ids import event_id
from bogfoer_contracts.topics import INGEST_RAW, SALES_EVENTS, key_for
from bogfoer_devstack.offsets import end_offsets
from bogfoer_devstack.shop import signature
from bogfoer_ingest.api import Accepted
from tests.integration.conftest import (
    MAX_BODY,
    Ingest,
    make_stack,
    new_tenant,
    read_from,
    report,
    running,
)

pytestmark = pytest.mark.integration
_SAME_LIMITS = {"BOGFOER_INGEST_MAX_BODY_BYTES": str(MAX_BODY)}


def event(source_event_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "order.fulfilled",
        "source": "shopify",
        "source_event_id": source_event_id,
        "occurred_at": "2026-11-20T10:00:00+01:00",
        "data": {"order_id": "1001", "fulfilled_at": "2026-11-20T12:00:00+01:00"},
    }
    body.update(overrides)
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"reason", "detail"}, body
    reason: str = body["error"]["reason"]
    return response.status_code, reason


def _total(offsets: dict[TopicPartition, int]) -> int:
    return sum(offsets.values())


async def test_accepted_event_is_on_both_topics_with_its_id_before_the_202(
    ingest: Ingest, topics: str
) -> None:
    raw_start = await end_offsets(topics, INGEST_RAW)
    events_start = await end_offsets(topics, SALES_EVENTS)
    body = encode(event(f"ful-{secrets.token_hex(4)}"))

    started = time.monotonic()
    response = await ingest.signed(body)
    took = time.monotonic() - started
    assert response.status_code == 202, response.text
    accepted = response.json()
    # What a 202 promises: both records are already replicated (acks=all), so the
    # partitions' ends have moved by the time the answer arrives.
    assert _total(await end_offsets(topics, INGEST_RAW)) > _total(raw_start)
    assert _total(await end_offsets(topics, SALES_EVENTS)) > _total(events_start)
    assert accepted["type"] == "order.fulfilled"
    assert Accepted.model_validate(accepted).model_dump() == accepted  # the schema's answer
    source_event_id = json.loads(body)["source_event_id"]
    assert accepted["event_id"] == event_id(ingest.tenant, "shopify", source_event_id)

    def carries(records: list[Any]) -> bool:
        return any(
            dict(r.headers).get("x-event-id") == accepted["event_id"].encode() for r in records
        )

    raw = [r for r in await read_from(topics, raw_start, carries, 10) if carries([r])]
    canonical = [r for r in await read_from(topics, events_start, carries, 10) if carries([r])]
    report(f"\n[ingest] 202 in {took * 1000:.0f} ms; raw {len(raw)}, canonical {len(canonical)}")
    assert len(raw) == 1
    assert len(canonical) == 1
    assert raw[0].key == canonical[0].key == key_for(ingest.tenant)
    assert raw[0].value == body  # the exact bytes, for audit and replay
    assert dict(raw[0].headers)["x-tenant"] == ingest.tenant.encode()
    stamped = json.loads(canonical[0].value)
    assert stamped["id"] == accepted["event_id"]
    assert stamped["tenant_id"] == ingest.tenant
    assert stamped["data"]["order_id"] == "1001"


async def test_the_same_body_twice_gives_the_same_event_id(ingest: Ingest) -> None:
    body = encode(event(f"ful-{secrets.token_hex(4)}"))
    first = await ingest.signed(body)
    second = await ingest.signed(body)
    assert first.status_code == second.status_code == 202
    assert first.json()["event_id"] == second.json()["event_id"]


async def test_a_bearer_api_key_is_accepted(ingest: Ingest) -> None:
    response = await ingest.post(
        encode(event(f"ful-{secrets.token_hex(4)}")),
        {"Authorization": f"Bearer {ingest.api_key}"},
    )
    assert response.status_code == 202, response.text


async def test_credentials_are_checked(ingest: Ingest) -> None:
    body = encode(event(f"ful-{secrets.token_hex(4)}"))
    assert error_of(await ingest.post(body, {})) == (401, "missing_credentials")
    wrong = signature("not-the-secret", body)
    assert error_of(await ingest.post(body, {"Bogfoer-Signature": wrong})) == (
        401,
        "bad_signature",
    )
    # Signed over other bytes than those sent.
    tampered = signature(ingest.secret, body + b" ")
    assert error_of(await ingest.post(body, {"Bogfoer-Signature": tampered})) == (
        401,
        "bad_signature",
    )
    assert error_of(await ingest.post(body, {"Bogfoer-Signature": "garbage"})) == (
        401,
        "bad_signature",
    )
    old = await ingest.signed(body, timestamp=int(time.time()) - 3600)
    assert error_of(old) == (401, "signature_expired")
    assert error_of(await ingest.post(body, {"Authorization": "Bearer nope"})) == (
        401,
        "bad_api_key",
    )
    assert error_of(await ingest.post(body, {"Authorization": f"Basic {ingest.api_key}"})) == (
        401,
        "bad_api_key",
    )


async def test_a_revoked_key_stops_working_on_every_replica_within_two_seconds(
    ingest: Ingest, tmp_path: Path
) -> None:
    """Each replica caches tenants' credentials; a change made through one replica reaches
    the other's cache through PostgreSQL, and a tenant created after a replica was asked
    for it (404, remembered) becomes known there too."""
    other = make_stack(
        tmp_path, ingest.stack.kafka_bootstrap, ingest.stack.database_url, **_SAME_LIMITS
    )
    async with running(other, "ingest"):
        urls = [ingest.stack.url("ingest"), other.url("ingest")]
        admin = {"Authorization": f"Bearer {ingest.stack.admin_token}"}
        tenant = new_tenant()
        old_key, new_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)

        async def post(url: str, key: str) -> int:
            response = await ingest.http.post(
                f"{url}/v1/tenants/{tenant}/events",
                content=encode(event(f"ful-{secrets.token_hex(4)}")),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            return response.status_code

        assert [await post(url, old_key) for url in urls] == [404, 404]  # remembered unknown
        put = await ingest.http.put(
            f"{urls[0]}/v1/admin/tenants/{tenant}/credentials",
            json={"api_key": old_key},
            headers=admin,
        )
        assert put.status_code == 204, put.text
        assert await post(urls[0], old_key) == 202
        started = time.monotonic()
        while await post(urls[1], old_key) != 202:
            assert time.monotonic() - started < 2.5, "the new tenant stayed unknown on a replica"
            await asyncio.sleep(0.05)

        put = await ingest.http.put(
            f"{urls[0]}/v1/admin/tenants/{tenant}/credentials",
            json={"api_key": new_key},
            headers=admin,
        )
        assert put.status_code == 204, put.text
        revoked = time.monotonic()
        assert await post(urls[0], old_key) == 401  # the replica that changed it: at once
        while (status := await post(urls[1], old_key)) == 202:
            assert time.monotonic() - revoked < 10, "the revoked key kept working"
            await asyncio.sleep(0.05)
        took = time.monotonic() - revoked
        report(f"\n[ingest] a revoked key stopped working on the other replica in {took:.2f}s")
        assert status == 401
        assert took < 2.5
        assert [await post(url, new_key) for url in urls] == [202, 202]


async def test_an_unknown_tenant_is_404(ingest: Ingest) -> None:
    body = encode(event("x"))
    response = await ingest.http.post(
        f"{ingest.stack.url('ingest')}/v1/tenants/{new_tenant()}/events",
        content=body,
        headers={"Bogfoer-Signature": signature(ingest.secret, body)},
    )
    assert error_of(response) == (404, "unknown_tenant")


async def test_malformed_json_is_400(ingest: Ingest) -> None:
    assert error_of(await ingest.signed(b'{"type": "order.paid",')) == (400, "malformed_json")


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("float amount", event("p", type="order.paid", data={
            "order_id": "1", "amount": 125.5, "currency": "DKK",
            "payment": {"provider": "stripe", "reference": "pi_1"},
            "paid_at": "2026-11-20T10:00:00+01:00",
        })),
        ("unknown envelope field", {**event("u"), "amount_minor": 100}),
        ("unknown data field", event("d", data={
            "order_id": "1", "fulfilled_at": "2026-11-20T12:00:00+01:00", "colour": "red",
        })),
        ("unknown type", event("t", type="order.teleported")),
        ("naive time", event("n", occurred_at="2026-11-20T10:00:00")),
    ],
)  # fmt: skip
async def test_a_body_that_breaks_the_contract_is_422(
    ingest: Ingest, case: str, body: dict[str, Any]
) -> None:
    response = await ingest.signed(encode(body))
    assert error_of(response) == (422, "invalid_event"), case
    assert response.json()["error"]["detail"], case


async def test_a_body_over_the_limit_is_413(ingest: Ingest) -> None:
    big = encode(event("big", data={"order_id": "1", "note": "x" * MAX_BODY}))
    response = await ingest.signed(big)
    assert error_of(response) == (413, "body_too_large")
    assert response.json()["error"]["detail"] == {"limit_bytes": MAX_BODY}

    # Without a Content-Length (chunked), the limit holds while reading the stream.
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1024):
            yield big[start : start + 1024]

    chunked = await ingest.http.post(
        ingest.events_url,
        content=chunks(),
        headers={"Bogfoer-Signature": signature(ingest.secret, big)},
    )
    assert "content-length" not in chunked.request.headers
    assert error_of(chunked) == (413, "body_too_large")


async def test_openapi_health_and_metrics_are_served(ingest: Ingest) -> None:
    base = ingest.stack.url("ingest")
    spec = (await ingest.http.get(f"{base}/openapi.json")).json()
    route = spec["paths"]["/v1/tenants/{tenant}/events"]["post"]
    assert set(route["responses"]) >= {"202", "400", "401", "404", "413", "422"}
    assert "post" in spec["paths"]["/v1/tenants/{tenant}/events/batch"]
    # The shop events' routes are served in front of FastAPI (bogfoer_kit.hot_routes):
    # counted all the same, under their template, with the error's reason.
    body = encode(event("metrics"))
    for path in ("/events", "/events/batch"):
        refused = await ingest.http.post(
            f"{base}/v1/tenants/{new_tenant()}{path}",
            content=body,
            headers={"Bogfoer-Signature": signature(ingest.secret, body)},
        )
        assert error_of(refused) == (404, "unknown_tenant")
    assert "/v1/admin/tenants/{tenant}/credentials" in spec["paths"]

    live = await ingest.http.get(f"{base}/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    ready = await ingest.http.get(f"{base}/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "checks": {"kafka": True, "consumers": True, "postgres": True},
        "failing": {},
    }
    assert error_of(await ingest.http.get(f"{base}/metrics")) == (401, "missing_credentials")
    metrics = await ingest.http.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {ingest.stack.viewer_token}"}
    )
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "python_info" in metrics.text
    # The requests above, counted by route template and status (never by tenant path).
    assert (
        'bogfoer_http_requests_total{method="GET",reason="",route="/health/live",'
        'service="ingest",status="200"}'
    ) in metrics.text
    assert 'route="/metrics",service="ingest",status="401"' in metrics.text
    for path in ("/events", "/events/batch"):
        route_labels = f'method="POST",route="/v1/tenants/{{tenant}}{path}",service="ingest"'
        assert (
            f'bogfoer_http_requests_total{{method="POST",reason="unknown_tenant",'
            f'route="/v1/tenants/{{tenant}}{path}",service="ingest",status="404"}}'
        ) in metrics.text
        assert f"bogfoer_http_request_duration_seconds_count{{{route_labels}}}" in metrics.text


async def test_the_admin_api_wants_the_admin_token(ingest: Ingest) -> None:
    url = f"{ingest.stack.url('ingest')}/v1/admin/tenants/{new_tenant()}/credentials"
    response = await ingest.http.put(
        url, json={"hmac_secret": "s"}, headers={"Authorization": "Bearer wrong"}
    )
    assert error_of(response) == (401, "bad_credentials")
    response = await ingest.http.put(url, json={"hmac_secret": "s"})
    assert error_of(response) == (401, "missing_credentials")
    # A viewer may read metrics, not change a tenant's credentials.
    viewer = {"Authorization": f"Bearer {ingest.stack.viewer_token}"}
    response = await ingest.http.put(url, json={"hmac_secret": "s"}, headers=viewer)
    assert error_of(response) == (403, "forbidden")


async def test_events_produced_straight_to_kafka_are_stamped_like_http_ones(
    ingest: Ingest, topics: str
) -> None:
    from bogfoer_contracts.topics import INGEST_INBOUND, dlq_topic
    from tests.integration.conftest import idempotent_producer

    events_start = await end_offsets(topics, SALES_EVENTS)
    dlq_start = await end_offsets(topics, dlq_topic(INGEST_INBOUND))
    good = encode(event("kafka-1"))
    producer = await idempotent_producer(topics)
    try:
        await producer.send_and_wait(INGEST_INBOUND, good, key=key_for(ingest.tenant))
        await producer.send_and_wait(
            INGEST_INBOUND,
            encode(event("kafka-2", data={"order_id": 1})),
            key=key_for(ingest.tenant),
        )
        await producer.send_and_wait(INGEST_INBOUND, good, key=b"nobody-we-know")
    finally:
        await producer.stop()

    def mine(records: list[Any]) -> bool:
        return any(r.key == key_for(ingest.tenant) for r in records)

    stamped = [
        r
        for r in await read_from(topics, events_start, mine, 20, settle=1.0)
        if r.key == key_for(ingest.tenant)
    ]
    assert len(stamped) == 1  # the invalid one and the unknown tenant's never get here
    body = json.loads(stamped[0].value)
    assert body["id"] == event_id(ingest.tenant, "shopify", "kafka-1")
    assert body["tenant_id"] == ingest.tenant

    def two(records: list[Any]) -> bool:
        return len(records) >= 2

    dead = await read_from(topics, dlq_start, two, 20)
    reasons = sorted(dict(r.headers)["x-dlq-reason"].decode() for r in dead)
    assert reasons == ["invalid_event", "unknown_tenant"]


async def test_a_shop_event_with_stripe_as_its_source_is_not_taken_for_a_stripe_webhook(
    ingest: Ingest, topics: str
) -> None:
    """A platform may name Stripe as an event's source (a payment it captured there); its
    raw record is the shop door's, not a webhook's, and the Stripe consumer leaves it be.
    It took it for a webhook and dead-lettered it (`stripe_not_configured`, or the body
    not being a Stripe event): a dead letter, and a record published, per such sale."""
    from aiokafka.admin import AIOKafkaAdminClient

    from bogfoer_contracts.topics import dlq_topic
    from bogfoer_contracts.topology import INGEST
    from tests.integration.conftest import eventually

    raw_start = await end_offsets(topics, INGEST_RAW)
    dlq_start = await end_offsets(topics, dlq_topic(INGEST_RAW))
    response = await ingest.signed(encode(event(f"pay-{secrets.token_hex(4)}", source="stripe")))
    assert response.status_code == 202, response.text
    event_id_header = response.json()["event_id"].encode()

    def carries(records: list[Any]) -> bool:
        return any(dict(r.headers).get("x-event-id") == event_id_header for r in records)

    raw = [r for r in await read_from(topics, raw_start, carries, 10) if carries([r])]
    assert len(raw) == 1
    tp = TopicPartition(INGEST_RAW, raw[0].partition)
    env = ingest.stack.services["ingest"].env
    group = f"{env.get('BOGFOER_INGEST_GROUP_ID', INGEST.principal)}.stripe"
    admin = AIOKafkaAdminClient(bootstrap_servers=topics)
    await admin.start()
    try:

        async def stripe_consumer_past_it() -> bool:
            committed = await admin.list_consumer_group_offsets(group, partitions=[tp])
            return tp in committed and committed[tp].offset > raw[0].offset

        await eventually(stripe_consumer_past_it, within=30, what="the Stripe consumer's commit")
    finally:
        await admin.close()
    dead = await read_from(topics, dlq_start, carries, 2)
    assert [dict(r.headers).get("x-dlq-reason") for r in dead if carries([r])] == []
