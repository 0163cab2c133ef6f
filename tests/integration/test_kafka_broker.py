"""aiokafka 0.14 against the real broker: everything Bogfør relies on (docs/kafka.md).

The broker's version is read from the broker itself: aiokafka only speaks ApiVersions
v0-v2, so we send an ApiVersions v3 request by hand and read the `metadata.version`
feature (KIP-584) from its tagged fields; each feature level belongs to one Kafka release.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bogfoer_devstack.kafka import KAFKA_VERSION, cache_root
from bogfoer_devstack.pytest_plugin import record_infra
from tests.integration.conftest import eventually, report

pytestmark = pytest.mark.integration

# org.apache.kafka.server.common.MetadataVersion (kafka-server-common 4.4.0):
# feature level -> release. 31..33 are 4.4-IV0..IV2; 34 (4.5-IV0) is not production-ready.
METADATA_VERSION_RELEASE = {
    25: "4.0",
    26: "4.1",
    27: "4.1",
    28: "4.2",
    29: "4.2",
    30: "4.3",
    31: "4.4",
    32: "4.4",
    33: "4.4",
}


# --- the broker's version, from an ApiVersions v3 response -------------------------------


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _compact_string(data: bytes, pos: int) -> tuple[str, int]:
    length, pos = _uvarint(data, pos)
    return data[pos : pos + length - 1].decode(), pos + length - 1


def _skip_tags(data: bytes, pos: int) -> int:
    count, pos = _uvarint(data, pos)
    for _ in range(count):
        _, pos = _uvarint(data, pos)
        size, pos = _uvarint(data, pos)
        pos += size
    return pos


def _features(data: bytes) -> dict[str, tuple[int, int]]:
    """name -> (a, b) from a compact array of {name, int16, int16, tags}."""
    out: dict[str, tuple[int, int]] = {}
    count, pos = _uvarint(data, 0)
    for _ in range(count - 1):
        name, pos = _compact_string(data, pos)
        a, b = struct.unpack_from(">hh", data, pos)
        pos = _skip_tags(data, pos + 4)
        out[name] = (a, b)
    return out


@dataclass(frozen=True)
class ApiVersions:
    apis: dict[int, tuple[int, int]]  # api key -> (min, max) version
    supported: dict[str, tuple[int, int]]  # feature -> (min, max) version
    finalized: dict[str, tuple[int, int]]  # feature -> (max, min) level in force


async def api_versions_v3(host: str, port: int) -> ApiVersions:
    """Send ApiVersions v3 (flexible) and decode the API ranges and feature tags."""
    client_id = b"bogfoer-it"
    header = struct.pack(">hhih", 18, 3, 7, len(client_id)) + client_id + b"\x00"
    body = b"\x0bbogfoer-it\x020\x00"  # software name and version (compact strings), tags
    request = header + body
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack(">i", len(request)) + request)
        await writer.drain()
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        data = await reader.readexactly(size)
    finally:
        writer.close()
        await writer.wait_closed()
    correlation_id, error_code = struct.unpack_from(">ih", data, 0)
    assert (correlation_id, error_code) == (7, 0)
    count, pos = _uvarint(data, 6)
    apis: dict[int, tuple[int, int]] = {}
    for _ in range(count - 1):
        key, low, high = struct.unpack_from(">hhh", data, pos)
        pos = _skip_tags(data, pos + 6)
        apis[key] = (low, high)
    pos += 4  # throttle_time_ms
    tags: dict[int, bytes] = {}
    ntags, pos = _uvarint(data, pos)
    for _ in range(ntags):
        tag, pos = _uvarint(data, pos)
        size, pos = _uvarint(data, pos)
        tags[tag] = data[pos : pos + size]
        pos += size
    # Tags of ApiVersionsResponse: 0 SupportedFeatures {name, min, max},
    # 1 FinalizedFeaturesEpoch, 2 FinalizedFeatures {name, max_level, min_level}.
    return ApiVersions(
        apis=apis,
        supported=_features(tags[0]) if 0 in tags else {},
        finalized=_features(tags[2]) if 2 in tags else {},
    )


async def test_broker_reports_its_release_as_kafka_4_4(
    kafka_bootstrap: str, devstack_dir: Path
) -> None:
    host, _, port = kafka_bootstrap.split(",")[0].rpartition(":")
    answer = await api_versions_v3(host, int(port))
    level = answer.finalized["metadata.version"][0]
    supported_max = answer.supported["metadata.version"][1]
    release = METADATA_VERSION_RELEASE.get(level, f"unknown (level {level})")
    report(
        f"\n[kafka] broker at {kafka_bootstrap}: metadata.version level {level} "
        f"(release {release}), supports up to level {supported_max}; "
        f"{len(answer.apis)} APIs (ApiVersions v3)"
    )
    record_infra(
        "kafka-protocol",
        f"Kafka broker answered ApiVersions v3: metadata.version level {level} (release {release})",
    )
    assert release.startswith("4."), "aiokafka is verified here against Kafka 4.x"
    # When the broker is the local devstack one (its log is in devstack_dir), its exact
    # release is the jar it runs (KAFKA_VERSION), and its log names the metadata.version.
    log = devstack_dir / "kafka" / "broker.log"
    if log.exists():
        assert release == "4.4"
        assert METADATA_VERSION_RELEASE.get(supported_max) == "4.4"
        jar = cache_root() / f"kafka-{KAFKA_VERSION}" / "libs" / f"kafka_2.13-{KAFKA_VERSION}.jar"
        assert jar.exists()
        assert f"metadata.version {release}-IV" in log.read_text(errors="replace")
        report(f"[kafka] local devstack broker: {jar.name} (KAFKA_VERSION={KAFKA_VERSION})")
        assert KAFKA_VERSION.startswith("4.4.")


# --- admin, producer, consumer groups -----------------------------------------------------


async def _new_topic(admin: AIOKafkaAdminClient, partitions: int) -> str:
    """A new topic, once the broker's metadata shows it: CreateTopics answers when the
    controller has it, and the broker's metadata cache can learn of it a moment later."""
    name = f"it.kafka.{uuid4().hex[:10]}"
    await admin.create_topics([NewTopic(name, partitions, 1)])

    async def listed() -> bool:
        return name in await admin.list_topics()

    await eventually(listed, within=10, what=f"topic {name} in the metadata")
    return name


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    await client.close()


async def test_admin_creates_lists_and_describes(admin: AIOKafkaAdminClient) -> None:
    name = await _new_topic(admin, 3)
    assert name in await admin.list_topics()
    cluster = await admin.describe_cluster()
    assert len(cluster["brokers"]) == 1
    assert cluster["controller_id"] in {b["node_id"] for b in cluster["brokers"]}
    (described,) = await admin.describe_topics([name])
    assert described["error_code"] == 0
    assert sorted(p["partition"] for p in described["partitions"]) == [0, 1, 2]
    report(f"\n[kafka] cluster {cluster['cluster_id']}, brokers {cluster['brokers']}")


async def test_idempotent_producer_acks_all_and_returns_offsets(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    name = await _new_topic(admin, 3)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        per_partition: dict[int, list[int]] = {}
        for i in range(30):
            meta = await producer.send_and_wait(name, f"m{i}".encode(), partition=i % 3)
            per_partition.setdefault(meta.partition, []).append(meta.offset)
        # The broker granted a producer id (InitProducerId): idempotence is really on.
        producer_id = producer._txn_manager.producer_id
        acks = producer._sender._acks
    finally:
        await producer.stop()
    assert producer_id >= 0
    assert acks == -1  # acks=all
    assert per_partition == {p: list(range(10)) for p in range(3)}


async def test_manual_commit_and_a_second_member_resumes_after_it(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    name = await _new_topic(admin, 1)
    group = f"it-group-{uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(name, f"m{i}".encode())
    finally:
        await producer.stop()

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            name,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    first = consumer()
    await first.start()
    try:
        seen = [await asyncio.wait_for(first.getone(), 10) for _ in range(4)]
        await first.commit()
        committed = await first.committed(TopicPartition(name, 0))
        # Read one more without committing it: it must come again to the next member.
        uncommitted = await asyncio.wait_for(first.getone(), 10)
    finally:
        await first.stop()
    assert [r.value for r in seen] == [b"m0", b"m1", b"m2", b"m3"]
    assert committed == 4
    assert uncommitted.offset == 4

    second = consumer()
    await second.start()
    try:
        resumed = await asyncio.wait_for(second.getone(), 10)
    finally:
        await second.stop()
    assert (resumed.offset, resumed.value) == (4, b"m4")


async def test_two_members_of_one_group_split_three_partitions(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    name = await _new_topic(admin, 3)
    group = f"it-group-{uuid4().hex[:8]}"

    def member() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            name,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    a, b = member(), member()
    await a.start()
    try:
        started = time.monotonic()
        while len(a.assignment()) != 3:
            assert time.monotonic() - started < 20, f"a alone got {a.assignment()}"
            await a.getmany(timeout_ms=100)
        await b.start()
        try:
            started = time.monotonic()
            while not (a.assignment() and b.assignment()) or (
                len(a.assignment()) + len(b.assignment()) != 3
            ):
                assert time.monotonic() - started < 30, (a.assignment(), b.assignment())
                await asyncio.gather(a.getmany(timeout_ms=100), b.getmany(timeout_ms=100))
            rebalance_s = time.monotonic() - started
            mine_a = {tp.partition for tp in a.assignment()}
            mine_b = {tp.partition for tp in b.assignment()}
            assert mine_a.isdisjoint(mine_b)
            assert mine_a | mine_b == {0, 1, 2}

            # Each member now gets the records of its own partitions only.
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
            await producer.start()
            try:
                for i in range(30):
                    await producer.send_and_wait(name, f"r{i}".encode(), partition=i % 3)
            finally:
                await producer.stop()
            got: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
            started = time.monotonic()
            while len(got["a"]) + len(got["b"]) < 30 and time.monotonic() - started < 20:
                for label, c in (("a", a), ("b", b)):
                    for rs in (await c.getmany(timeout_ms=100)).values():
                        got[label].extend((r.partition, r.offset) for r in rs)
        finally:
            await b.stop()
    finally:
        await a.stop()
    report(
        f"\n[kafka] rebalance: a={sorted(mine_a)} b={sorted(mine_b)} in {rebalance_s:.2f}s;"
        f" records a={len(got['a'])} b={len(got['b'])}"
    )
    assert {p for p, _ in got["a"]} <= mine_a
    assert {p for p, _ in got["b"]} <= mine_b
    everything = got["a"] + got["b"]
    assert len(everything) == len(set(everything)) == 30
