"""Apache Kafka (KRaft, one node: broker and controller in one JVM) from Maven Central.

The jars are resolved once with Maven into a cache outside the clone, the storage is
formatted, the broker started on free loopback ports, and we wait until it answers a
real Kafka metadata request before handing out the bootstrap address.

A stopped broker starts again on its existing data and the same ports (the storage is
formatted once, with the cluster id it keeps), so clients connected before reconnect to
it: the restarts of the recovery tests and of `make chaos`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
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


@dataclass(frozen=True)
class SecuredListener:
    """A second listener like Strimzi's TLS listener with SCRAM users: SASL_SSL with
    SCRAM-SHA-512, the broker's certificate from `keystore` (one PEM file: unencrypted
    private key, then the certificate chain) for 127.0.0.1, and the `users` (name ->
    password) created when the storage is formatted. ACLs are enforced (StandardAuthorizer,
    nothing allowed without one); the PLAINTEXT listener stays for the test harness, whose
    anonymous principal is the super user that grants them (`grant`)."""

    keystore: Path
    users: dict[str, str]
    port: int = 0


@dataclass
class KafkaBroker:
    """One KRaft node. `start()` returns once clients can use it; `stop()` shuts it down."""

    data_dir: Path
    port: int = 0
    version: str = KAFKA_VERSION
    heap: str = "-Xms256m -Xmx512m"
    secured: SecuredListener | None = None
    controller_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    secured_port: int = field(default=0, init=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secured_bootstrap_servers(self) -> str:
        """The SASL_SSL listener's address (only with `secured`)."""
        if self.secured is None or not self.secured_port:
            raise RuntimeError("this broker has no secured listener (or has not started)")
        return f"127.0.0.1:{self.secured_port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def _logs(self) -> Path:
        return self.data_dir / "kraft-logs"

    def _properties(self, controller_port: int) -> str:
        logs = self._logs
        listeners = f"PLAINTEXT://127.0.0.1:{self.port}"
        protocols = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        if self.secured is not None:
            listeners += f",SASL_SSL://127.0.0.1:{self.secured_port}"
            protocols += ",SASL_SSL:SASL_SSL"
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
                f"listeners={listeners},CONTROLLER://127.0.0.1:{controller_port}",
                f"advertised.listeners={listeners}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                f"listener.security.protocol.map={protocols}",
                *self._secured_properties(),
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

    def _secured_properties(self) -> list[str]:
        if self.secured is None:
            return []
        return [
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            # The server side needs a login module, not credentials (those are in KRaft).
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "listener.name.sasl_ssl.ssl.keystore.type=PEM",
            f"listener.name.sasl_ssl.ssl.keystore.location={self.secured.keystore}",
            "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            # The controller and the PLAINTEXT listener (the harness) are anonymous.
            "super.users=User:ANONYMOUS",
        ]

    def _scram_users(self) -> list[str]:
        if self.secured is None:
            return []
        return [
            arg
            for name, password in self.secured.users.items()
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")
        ]

    def start(self, timeout: float = 90.0) -> KafkaBroker:
        libs = ensure_jars(self.version)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Chosen once: a restart listens where the clients (and the quorum) expect it.
        if not self.port:
            self.port = free_port()
        if self.secured is not None and not self.secured_port:
            self.secured_port = self.secured.port or free_port()
        if not self.controller_port:
            self.controller_port = free_port()
        props = self.data_dir / "server.properties"
        props.write_text(self._properties(self.controller_port))
        log4j = self.data_dir / "log4j2.xml"
        log4j.write_text((resources.files(__package__) / "log4j2.xml").read_text())
        java = ["java", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
        if not (self._logs / "meta.properties").exists():
            # Formatted once; formatting again with a new cluster id would refuse the data
            # ("Invalid cluster.id"), so a restart keeps the storage (and its SCRAM users).
            subprocess.run(
                [
                    *java,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(props),
                    *self._scram_users(),
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

    def kill(self) -> None:
        """SIGKILL, as a crashed node: no controlled shutdown, the logs recovered at start."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(30)

    @contextlib.contextmanager
    def stopped(self, crash: bool = False) -> Iterator[None]:
        """Down for the duration of the block (killed when `crash`), then up again on its
        data and ports, whatever the block raised."""
        if crash:
            self.kill()
        else:
            self.stop()
        try:
            yield
        finally:
            self.start()


# Kafka's protocol codes (org.apache.kafka.common.acl / resource).
_RESOURCE_TYPES = {"topic": 2, "group": 3}
_OPERATIONS = {"Read": 3, "Write": 4, "Create": 5, "Describe": 8}
_LITERAL, _ALLOW = 3, 3


async def grant(bootstrap: str, principal: str, rules: Iterable[tuple[str, str, str]]) -> None:
    """Allow `principal` (a SCRAM user name) each (resource type, literal name, operation),
    through the PLAINTEXT listener of a broker started with `secured`."""
    from aiokafka.admin import AIOKafkaAdminClient  # imported late: only needed here
    from aiokafka.protocol.admin import CreateAclsRequest

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for resource, name, operation in rules:
            request = CreateAclsRequest(
                _RESOURCE_TYPES[resource],
                name,
                _LITERAL,
                f"User:{principal}",
                "*",
                _OPERATIONS[operation],
                _ALLOW,
            )
            response = await admin._send_to_controller(request)
            for error_code, error_message in response.creation_responses:
                if error_code:
                    raise RuntimeError(f"CreateAcls {resource}:{name} {operation}: {error_message}")
    finally:
        await admin.close()


def _cluster_id() -> str:
    # StorageTool random-uuid would cost a JVM start; Kafka's cluster id is a url-safe
    # base64 of 16 random bytes, which we can make ourselves. Like Kafka's Uuid.randomUuid,
    # never one that starts with "-": the storage tool would read it as an option (1 in 64).
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


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
