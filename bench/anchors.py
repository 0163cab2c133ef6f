"""The anchors: minimal programs doing only the work no stage can avoid, run as their own
processes by the benchmarks (`python -m bench.anchors ...`), in the same run as what they
anchor.

- `http`: a Starlette app on uvicorn with uvloop and httptools, the server ingest runs on.
  Per `POST /v1/tenants/{t}/events`: the body read, the `Bogfoer-Signature` HMAC checked,
  the JSON parsed, one record produced with the idempotent producer (acks=all, linger 5 ms,
  batches of up to `PRODUCER_BATCH_BYTES`, as ingest's) and its ack awaited; 202. Per
  `POST /v1/tenants/{t}/events/batch`: the same
  check and parse, then the body and each event (serialised again) produced, every ack
  awaited together; 200.
- `consume`: a batched consume→produce loop: `getmany` (everything fetched, up to the
  services' `POLL_RECORDS`, so it waits for fetches no more than they do), produce every
  record to a sink topic, await every ack, commit; until the topic's end offsets (as given)
  are committed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys

import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bogfoer_kit.consumer import POLL_RECORDS
from bogfoer_kit.kafka import PRODUCER_BATCH_BYTES

MAX_RECORDS = POLL_RECORDS


def http_app(bootstrap: str, secret: str, topic: str) -> Starlette:
    producer: AIOKafkaProducer | None = None  # made in the lifespan: aiokafka wants its loop
    key = secret.encode()

    def signed(request: Request, body: bytes) -> bool:
        header = request.headers.get("bogfoer-signature", "")
        parts = dict(item.partition("=")[::2] for item in header.split(","))
        expected = hmac.new(key, f"{parts.get('t', '')}.".encode() + body, hashlib.sha256)
        return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))

    async def post(request: Request) -> Response:
        body = await request.body()
        if not signed(request, body):
            return JSONResponse({"error": "bad_signature"}, 401)
        json.loads(body)
        assert producer is not None
        await producer.send_and_wait(topic, body, key=request.path_params["tenant"].encode())
        return JSONResponse({"accepted": True}, 202)

    async def post_batch(request: Request) -> Response:
        body = await request.body()
        if not signed(request, body):
            return JSONResponse({"error": "bad_signature"}, 401)
        events = json.loads(body)["events"]
        assert producer is not None
        tenant = request.path_params["tenant"].encode()
        acks = [await producer.send(topic, body, key=tenant)]
        acks += [await producer.send(topic, json.dumps(e).encode(), key=tenant) for e in events]
        await asyncio.gather(*acks)
        return JSONResponse({"accepted": len(events), "duplicate": 0, "rejected": 0}, 200)

    async def lifespan(_: Starlette):  # type: ignore[no-untyped-def]
        nonlocal producer
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=PRODUCER_BATCH_BYTES,
        )
        await producer.start()
        yield
        await producer.stop()

    return Starlette(
        routes=[
            Route("/v1/tenants/{tenant}/events", post, methods=["POST"]),
            Route("/v1/tenants/{tenant}/events/batch", post_batch, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


async def consume(bootstrap: str, group: str, sink: str, ends: dict[TopicPartition, int]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=PRODUCER_BATCH_BYTES,  # the services' producer setting
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=MAX_RECORDS,
    )
    await producer.start()
    consumer.subscribe(sorted({tp.topic for tp in ends}))
    await consumer.start()
    done: dict[TopicPartition, int] = {}
    try:
        while any(done.get(tp, -1) < end for tp, end in ends.items()):
            batches = await consumer.getmany(timeout_ms=1000, max_records=MAX_RECORDS)
            acks = [
                await producer.send(sink, record.value, key=record.key)
                for records in batches.values()
                for record in records
            ]
            await asyncio.gather(*acks)
            positions = {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
            if positions:
                await consumer.commit(positions)
                done |= positions
    finally:
        await consumer.stop()
        await producer.stop()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.anchors")
    commands = parser.add_subparsers(dest="command", required=True)
    http = commands.add_parser("http")
    http.add_argument("--bootstrap", required=True)
    http.add_argument("--port", type=int, required=True)
    http.add_argument("--secret", required=True)
    http.add_argument("--topic", required=True)
    loop = commands.add_parser("consume")
    loop.add_argument("--bootstrap", required=True)
    loop.add_argument("--group", required=True)
    loop.add_argument("--sink", required=True)
    loop.add_argument("--ends", required=True, help='JSON {"topic:partition": end offset}')
    args = parser.parse_args(argv)
    if args.command == "http":
        uvicorn.run(
            http_app(args.bootstrap, args.secret, args.topic),
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
        )
    else:
        ends = {
            TopicPartition(name.rpartition(":")[0], int(name.rpartition(":")[2])): end
            for name, end in json.loads(args.ends).items()
        }
        asyncio.run(consume(args.bootstrap, args.group, args.sink, ends))


if __name__ == "__main__":
    main(sys.argv[1:])
