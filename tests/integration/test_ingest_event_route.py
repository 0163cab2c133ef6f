"""`POST /v1/tenants/{t}/events` answers the same whether the server's edge serves it in
front of every layer (`FastAPIWithHotRoutes.edge`, what uvicorn runs) or FastAPI serves it
through its middleware, router and dependencies: every status, header and body of the
accepted and of every refused variant of ingest's HTTP tests, the same request metrics, and
records on Kafka alike. ingest's app runs in this process (both ways into one app), against
the real broker and PostgreSQL."""

from __future__ import annotations

import functools
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.types import ASGIApp

from bogfoer_contracts.topics import INGEST_RAW, SALES_EVENTS, key_for
from bogfoer_devstack.offsets import end_offsets
from bogfoer_devstack.shop import signature
from bogfoer_ingest.app import create_app
from bogfoer_ingest.settings import IngestSettings
from bogfoer_kit.hot_routes import FastAPIWithHotRoutes
from tests.integration.conftest import (
    create_database,
    drop_database,
    make_stack,
    new_tenant,
    read_from,
)
from tests.integration.test_ingest_api import event

pytestmark = pytest.mark.integration
MAX_BODY = 4096
ROUTE = "/v1/tenants/{tenant}/events"


@pytest.fixture
async def app(
    topics: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FastAPIWithHotRoutes]:
    db = await create_database(database_url)
    env = make_stack(tmp_path, topics, db).env_for("ingest", 0)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BOGFOER_INGEST_MAX_BODY_BYTES", str(MAX_BODY))
    # Its own consumer groups: the package's ingest process keeps its partitions.
    monkeypatch.setenv("BOGFOER_INGEST_GROUP_ID", f"ingest-route-{secrets.token_hex(4)}")
    built = create_app(IngestSettings())  # from the environment
    assert isinstance(built, FastAPIWithHotRoutes)
    try:
        async with built.router.lifespan_context(built):
            yield built
    finally:
        await drop_database(database_url, db)


def _requests(tenant: str, other: str, secret: str, key: str) -> list[dict[str, Any]]:
    """Each request of ingest's HTTP tests to the route (test_ingest_api, test_ingest_door):
    accepted, and refused in every way they refuse it. `other`: a tenant whose key was
    revoked. Every body is the same on both ways in, so each accepted one has one id."""
    url = f"/v1/tenants/{tenant}/events"
    now = int(time.time())
    body = json.dumps(event("route-ok")).encode()

    def signed(payload: bytes, **headers: str) -> dict[str, Any]:
        return {
            "url": url,
            "content": payload,
            "headers": {
                "Content-Type": "application/json",
                "Bogfoer-Signature": signature(secret, payload),
                **headers,
            },
        }

    def sent(payload: bytes, **headers: Any) -> dict[str, Any]:
        return {"url": url, "content": payload, "headers": headers}

    mac = signature(secret, body, now).partition("v1=")[2]
    bad_bodies = [
        b'{"type": "order.paid",',  # malformed
        json.dumps(
            event(
                "p",
                type="order.paid",
                data={
                    "order_id": "1",
                    "amount": 125.5,
                    "currency": "DKK",
                    "payment": {"provider": "stripe", "reference": "pi_1"},
                    "paid_at": "2026-11-20T10:00:00+01:00",
                },
            )
        ).encode(),
        json.dumps({**event("u"), "amount_minor": 100}).encode(),
        json.dumps(
            event(
                "d",
                data={
                    "order_id": "1",
                    "fulfilled_at": "2026-11-20T12:00:00+01:00",
                    "colour": "red",
                },
            )
        ).encode(),
        json.dumps(event("t", type="order.teleported")).encode(),
        json.dumps(event("n", occurred_at="2026-11-20T10:00:00")).encode(),
        b'{"type": "order.fulfilled", "source": "shopify", "source_event_id": "s", '
        b'"occurred_at": "2026-11-20T10:00:00+01:00", '
        b'"data": {"order_id": "1\\ud800", "fulfilled_at": "2026-11-20T12:00:00+01:00"}}',
        json.dumps(
            event("n", data={"order_id": "1\x00", "fulfilled_at": "2026-11-20T12:00:00+01:00"})
        ).encode(),
        json.dumps(
            event("y", data={"order_id": "1", "fulfilled_at": "9999-12-31T23:00:00-05:00"})
        ).encode(),
        json.dumps(event("o", occurred_at=-1)).encode(),
        json.dumps(event("o", occurred_at="-1")).encode(),
        json.dumps(event("b", backfill="yes")).encode(),
        json.dumps(event("b", backfill=1)).encode(),
        json.dumps({**event("v"), "schema_version": "1"}).encode(),
        json.dumps(event("big", data={"order_id": "1", "note": "x" * MAX_BODY})).encode(),
        b"[" * 1000 + b"]" * 1000,
        b"[" * 1000,
        json.dumps(event("u")).encode("utf-16"),
        b"\xef\xbb\xbf" + json.dumps(event("m")).encode(),
        b"{}",
        b"",
    ]
    return [
        signed(body),  # accepted
        sent(body, **{"Content-Type": "application/json", "Authorization": f"Bearer {key}"}),
        signed(json.dumps(event("route-ok-2", source="woocommerce")).encode()),
        *(signed(bad) for bad in bad_bodies),
        sent(body, **{"Content-Type": "application/json"}),  # no credentials
        sent(body, **{"Content-Type": "application/json",
                      "Bogfoer-Signature": signature("not-the-secret", body)}),
        sent(body, **{"Content-Type": "application/json",
                      "Bogfoer-Signature": signature(secret, body + b" ")}),
        sent(body, **{"Content-Type": "application/json", "Bogfoer-Signature": "garbage"}),
        sent(body, **{"Content-Type": "application/json",
                      "Bogfoer-Signature": signature(secret, body, now - 3600)}),
        sent(body, **{"Content-Type": "application/json",
                      "Bogfoer-Signature": f"t={now + 400},v1={mac}"}),
        sent(body, **{"Content-Type": "application/json",
                      "Bogfoer-Signature": f"t={now},v1=\u00e6\u00f8\u00e5".encode()}),
        sent(body, **{"Content-Type": "application/json",
                      "Bogfoer-Signature": f"t={now},v1={'0' * 64},v1={mac}"}),
        sent(body, **{"Content-Type": "application/json", "Authorization": "Bearer nope"}),
        sent(body, **{"Content-Type": "application/json", "Authorization": f"Basic {key}"}),
        sent(body, **{"Content-Type": "application/json", "Authorization": "Bearer"}),
        *(sent(body, **{"Content-Type": kind, "Bogfoer-Signature": signature(secret, body)})
          for kind in ("text/plain", "application/x-www-form-urlencoded",
                       "application/json; charset=utf-16", "application/json; charset=UTF-8",
                       "APPLICATION/JSON")),
        sent(body, **{"Bogfoer-Signature": signature(secret, body)}),  # no content type
        sent(body, **{"Content-Type": "application/json",
                      "Content-Length": str(MAX_BODY + 1),
                      "Bogfoer-Signature": signature(secret, body)}),
        {"url": f"/v1/tenants/{new_tenant()}/events", "content": body,
         "headers": {"Content-Type": "application/json",
                     "Bogfoer-Signature": signature(secret, body)}},  # unknown tenant
        {"url": f"/v1/tenants/{other}/events", "content": body,
         "headers": {"Content-Type": "application/json",
                     "Authorization": f"Bearer {key}"}},  # a revoked key
        {"url": "/v1/tenants/NOT_A_TENANT/events", "content": body, "headers": {}},
        {"url": f"{url}?x=%00", "content": body, "headers": {}},
        {"url": f"{url}/", "content": body, "headers": {}},
        {"url": url, "content": body, "headers": {}, "method": "PUT"},
    ]  # fmt: skip


def _samples() -> dict[tuple[Any, ...], float]:
    found: dict[tuple[Any, ...], float] = {}
    for metric in REGISTRY.collect():
        if metric.name not in ("bogfoer_http_requests", "bogfoer_http_request_duration_seconds"):
            continue
        for sample in metric.samples:
            if sample.labels.get("service") != "ingest" or sample.name.endswith(
                ("_created", "_sum", "_bucket")
            ):
                continue
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def _answers(
    way_in: ASGIApp, requests: list[dict[str, Any]]
) -> tuple[list[tuple[int, dict[str, str], bytes]], dict[tuple[Any, ...], float]]:
    """Each request's status, headers and body through `way_in`; the metrics it added."""
    before = _samples()
    transport = httpx.ASGITransport(app=way_in, client=("127.0.0.1", 50000))
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        for request in requests:
            response = await client.request(
                request.get("method", "POST"),
                request["url"],
                content=request["content"],
                headers=request["headers"],
            )
            answers.append((response.status_code, dict(response.headers), response.content))
    after = _samples()
    added = {key: value - before.get(key, 0.0) for key, value in after.items()}
    return answers, {key: n for key, n in added.items() if n}


def _record(record: Any) -> tuple[Any, ...]:
    """A record as both ways in must publish it: its time of receipt and trace aside."""
    headers = [(k, v) for k, v in record.headers if k not in ("x-received-at", "traceparent")]
    value = record.value
    if record.topic == SALES_EVENTS:
        stamped = {k: v for k, v in json.loads(value).items() if k != "received_at"}
        value = json.dumps(stamped, sort_keys=True).encode()
    traces = [len(v) for k, v in record.headers if k == "traceparent"]
    return (record.topic, record.key, value, headers, traces)


async def test_the_edge_answers_every_request_as_the_framework_does(
    app: FastAPIWithHotRoutes, topics: str
) -> None:
    admin = {"Authorization": f"Bearer {os.environ['BOGFOER_INGEST_ADMIN_TOKEN']}"}
    framework: ASGIApp = functools.partial(FastAPI.__call__, app)
    tenant, other = new_tenant(), new_tenant()
    secret, key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    transport = httpx.ASGITransport(app=framework)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        for who, body in (
            (tenant, {"hmac_secret": secret, "api_key": key}),
            (other, {"api_key": key}),
            (other, {"api_key": "new-key"}),
        ):
            put = await client.put(f"/v1/admin/tenants/{who}/credentials", json=body,
                                   headers=admin)  # fmt: skip
            assert put.status_code == 204, put.text
    requests = _requests(tenant, other, secret, key)
    start = {
        TopicPartition(topic, partition): offset
        for topic in (INGEST_RAW, SALES_EVENTS)
        for (_, partition), offset in (await end_offsets(topics, topic)).items()
    }

    edge, edge_metrics = await _answers(app.edge(), requests)
    behind, behind_metrics = await _answers(framework, requests)

    assert edge == behind
    assert edge_metrics == behind_metrics
    statuses = [status for status, _, _ in edge]
    assert statuses[:3] == [202, 202, 202]
    assert sorted(set(statuses)) == [202, 307, 400, 401, 404, 405, 413, 415, 422]
    for status, headers, answer in edge:
        if status >= 400:
            assert set(json.loads(answer)) == {"error"}
            assert headers["content-type"] == "application/json"
    # What each way in published: the same records, twice (raw and canonical for each
    # accepted request), each with a trace.
    mine, expected = key_for(tenant), 2 * 2 * statuses.count(202)
    records = await read_from(
        topics,
        start,
        lambda got: sum(r.key == mine for r in got) >= expected,
        within=20,
        settle=0.5,
    )
    published = [_record(r) for r in records if r.key == mine]
    assert len(published) == expected
    raw = sorted(p for p in published if p[0] == INGEST_RAW)
    canonical = sorted(p for p in published if p[0] == SALES_EVENTS)
    assert raw[0::2] == raw[1::2]
    assert canonical[0::2] == canonical[1::2]
    assert {tuple(p[4]) for p in published} == {(55,)}  # one W3C traceparent each
