"""Apache Kafka (KRaft, one node: broker and controller in one JVM) from Maven Central.

The jars are resolved once with Maven into a cache outside the clone, the storage is
formatted, the broker started on free loopback ports, and we wait until it answers a
real Kafka metadata request before handing out the bootstrap address.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bogfoer_devstack.ports import free_port, stop_process, wait_for_port

# 4.x is the current line; aiokafka 0.14 speaks the protocol versions 4.x kept (KIP-896
# removed only very old ones). Verified by tests/integration/test_kafka_broker.py.
KAFKA_VERSION = os.environ.get("BOGFOER_KAFKA_VERSION", "4.4.0")


def cache_root() -> Path:
    return Path(os.environ.get("BOGFOER_CACHE", Path.home() / ".cache" / "bogfoer"))


def ensure_jars(version: str = KAFKA_VERSION) -> Path:
    """Resolve the broker's classpath with Maven, once per version; returns the libs folder."""
    libs = cache_root() / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn is not on PATH: Maven is needed to fetch the Kafka jars")
    pom = (resources.files(__package__) / "pom.xml").read_text().replace("@KAFKA_VERSION@", version)
    cache_root().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="kafka-libs-", dir=cache_root()))
    try:
        (staging / "pom.xml").write_text(pom)
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(staging / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging / 'libs'}",
            ],
            check=True,
        )
        libs.parent.mkdir(parents=True, exist_ok=True)
        if libs.exists():
            shutil.rmtree(libs)
        (staging / "libs").rename(libs)
        marker.write_text(version)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return libs


@dataclass
class KafkaBroker:
    """One KRaft node. `start()` returns once clients can use it; `stop()` shuts it down."""

    data_dir: Path
    port: int = 0
    version: str = KAFKA_VERSION
    heap: str = "-Xms256m -Xmx512m"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _properties(self, controller_port: int) -> str:
        logs = self.data_dir / "kraft-logs"
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={logs}",
                "num.partitions=3",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=3",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "min.insync.replicas=1",
                "group.initial.rebalance.delay.ms=0",
                # Topics are declared explicitly by our code; never by a typo.
                "auto.create.topics.enable=false",
                "",
            ]
        )

    def start(self, timeout: float = 90.0) -> KafkaBroker:
        libs = ensure_jars(self.version)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        controller_port = free_port()
        props = self.data_dir / "server.properties"
        props.write_text(self._properties(controller_port))
        log4j = self.data_dir / "log4j2.xml"
        log4j.write_text((resources.files(__package__) / "log4j2.xml").read_text())
        java = ["java", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
        cluster_id = _cluster_id()
        subprocess.run(
            [
                *java,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
                "--ignore-formatted",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [
                *java[:1],
                *self.heap.split(),
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                *java[1:],
                "kafka.Kafka",
                str(props),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        if not wait_for_port(self.port, timeout):
            self.stop()
            raise RuntimeError(f"Kafka did not open port {self.port}; see {self.log_file}")
        asyncio.run(_wait_for_metadata(self.bootstrap_servers, deadline))
        return self

    def stop(self, timeout: float = 30.0) -> None:
        proc, self.process = self.process, None
        stop_process(proc, timeout)


def _cluster_id() -> str:
    # StorageTool random-uuid would cost a JVM start; Kafka's cluster id is a url-safe
    # base64 of 16 random bytes, which we can make ourselves.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


async def _wait_for_metadata(bootstrap: str, deadline: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient  # imported late: only needed here

    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except Exception as exc:  # the broker is still starting; keep asking until the deadline
            last = exc
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
    raise RuntimeError(f"Kafka at {bootstrap} never answered a metadata request: {last!r}")
