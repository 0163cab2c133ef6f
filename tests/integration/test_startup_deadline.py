"""A service that cannot finish starting exits, so that it is started again, instead of
hanging neither ready nor gone.

Found by `make chaos` (seed 3004): ingest, started again after a SIGKILL just as the broker
began its controlled shutdown, bootstrapped from a metadata answer with no brokers in it.
aiokafka keeps no address to ask again after that, and its producer waits for a producer id
for ever: the process never became ready and never exited, so nothing started it again.
`test_a_producer_bootstrapped_by_a_broker_shutting_down_never_starts` shows that hang with a
stand-in broker; the process test shows the way out, with a start that hangs on the
database instead (a TCP peer that never answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.protocol.admin import ApiVersionResponse_v0, ApiVersionResponse_v1
from aiokafka.protocol.metadata import MetadataResponse_v0

from bogfoer_dinero.sealing import SecretSealer

pytestmark = pytest.mark.integration


async def _answer_as_a_broker_shutting_down(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Its API versions, then a metadata answer without brokers, then it is gone."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            request = await reader.readexactly(size)
            api_key, api_version, correlation = struct.unpack(">hhi", request[:8])
            if api_key == 18:  # ApiVersions: Metadata v0 and ApiVersions v0-v1 only
                versions = [(3, 0, 0), (18, 0, 1)]
                body = (
                    ApiVersionResponse_v0(0, versions)
                    if api_version == 0
                    else ApiVersionResponse_v1(0, versions, 0)
                ).encode()
            else:
                body = MetadataResponse_v0([], []).encode()
            writer.write(struct.pack(">ii", len(body) + 4, correlation) + body)
            await writer.drain()
            if api_key != 18:
                break
    writer.close()


@contextlib.asynccontextmanager
async def _broker_shutting_down() -> AsyncIterator[str]:
    server = await asyncio.start_server(_answer_as_a_broker_shutting_down, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_a_producer_bootstrapped_by_a_broker_shutting_down_never_starts() -> None:
    # aiokafka's behaviour, not ours: what makes the deadline below necessary.
    async with _broker_shutting_down() as bootstrap:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(producer.start(), 8)
        finally:
            await producer.stop()


@pytest.fixture
def silent_peer() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_a_service_that_cannot_finish_starting_exits_to_be_started_again(
    silent_peer: int, kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{silent_peer}/bogfoer",
        "BOGFOER_INGEST_HTTP_PORT": "0",
        "BOGFOER_INGEST_SECRETS_KEY": SecretSealer.generate_key(),
        "BOGFOER_INGEST_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "BOGFOER_INGEST_STARTUP_TIMEOUT_SECONDS": "3",
    }
    log = tmp_path / "ingest.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bogfoer_ingest"], env=env, stdout=out, stderr=out
        )
    try:
        code = process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"still starting after 40 s:\n{log.read_text()[-2000:]}")
    took = time.monotonic() - started
    assert code != 0
    assert "did not finish starting within 3 s" in log.read_text()
    # asyncpg alone gives up on a silent peer after 60 s; the deadline ends it after 3 s
    # (and the interpreter's start on a busy machine).
    assert took < 30, took
