"""The four services the way production runs them: TLS + SCRAM to Kafka with ACLs, TLS to
PostgreSQL with a role per service, and an order still gets booked.

The broker (the devstack's Kafka with a SASL_SSL listener) knows one SCRAM user per service
with exactly the ACLs `bogfoer_contracts.topology` gives it, the ones the prod overlay's
KafkaUsers are rendered from: a missing ACL would stop a service here. PostgreSQL (Debian's
build: the embedded wheel has no TLS) refuses connections without TLS and gets its roles and
schemas from the CloudNativePG manifests in deploy/k8s/platform/postgres.yaml. The services
see only the TLS addresses, verify the throwaway CA, and, like production, only check that
the topics exist.
"""

from __future__ import annotations

import asyncio
import gc
import os
import pwd
import secrets
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from bogfoer_contracts.topics import POSTINGS_RESULTS, TENANTS_CONFIG
from bogfoer_contracts.topology import MAPPER, SERVICES
from bogfoer_deploy.render import K8S
from bogfoer_devstack.certs import ThrowawayCa
from bogfoer_devstack.kafka import KafkaBroker, SecuredListener, grant
from bogfoer_devstack.postgres import SYSTEM_USER, Postgres, debian_bin_dir
from bogfoer_devstack.sales import goods, order, shipping
from bogfoer_devstack.shop import Operator, Shop
from bogfoer_devstack.stack import Stack
from bogfoer_kit.kafka import client_options, ensure_topics
from bogfoer_kit.settings import ServiceSettings
from bogfoer_kit.tls import client_context
from dinero_sandbox.process import SandboxHandle


@dataclass
class SecuredInfra:
    ca: Path
    kafka: KafkaBroker
    kafka_passwords: dict[str, str]
    postgres: Postgres
    roles: dict[str, tuple[str, str]]  # service -> (role, password)

    @property
    def database_url(self) -> str:
        """What the services get: no credentials (PGUSER / PGPASSWORD), TLS by the CA."""
        return f"postgresql://127.0.0.1:{self.postgres.port}/{self.postgres.database}"


def _platform(kind: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((K8S / "platform" / "postgres.yaml").read_text())
    found: dict[str, Any] = next(d for d in docs if d["kind"] == kind)
    return found


async def _prepare_postgres(pg: Postgres, ca: ThrowawayCa) -> dict[str, tuple[str, str]]:
    """What CloudNativePG does for the cluster: TLS with its CA, TLS-only pg_hba, the managed
    roles and the Database's schemas owned by them (read from our manifests)."""
    server = ca.issue("postgres")
    pgdata = pg.data_dir / "pgdata"
    for source, name in ((server.certificate, "server.crt"), (server.private_key, "server.key")):
        shutil.copyfile(source, pgdata / name)
        (pgdata / name).chmod(0o600)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(pgdata / name, entry.pw_uid, entry.pw_gid)
    # The harness (postgres) keeps the local socket; TCP is TLS only, with passwords.
    (pgdata / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all postgres 127.0.0.1/32 trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
    )
    roles = {
        role["passwordSecret"]["name"].removeprefix("bogfoer-db-"): role["name"]
        for role in _platform("Cluster")["spec"]["managed"]["roles"]
    }
    passwords = {service: (role, secrets.token_urlsafe(18)) for service, role in roles.items()}
    conn = await asyncpg.connect(pg.url)
    try:
        for statement in (
            "ALTER SYSTEM SET ssl = on",
            "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
            "ALTER SYSTEM SET ssl_key_file = 'server.key'",
        ):
            await conn.execute(statement)
        for role, password in passwords.values():
            await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    conn = await asyncpg.connect(pg.url)  # the devstack's database, `bogfoer`
    try:
        for schema in _platform("Database")["spec"]["schemas"]:
            await conn.execute(f'CREATE SCHEMA "{schema["name"]}" AUTHORIZATION {schema["owner"]}')
    finally:
        await conn.close()
    return passwords


async def _prepare_kafka(broker: KafkaBroker) -> None:
    """What Strimzi's operators do: the topics (KafkaTopics) and each user's ACLs."""
    await ensure_topics(
        ServiceSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers})
    )
    for kafka in SERVICES:
        rules = [(a.resource, a.name, op) for a in kafka.acls() for op in a.operations]
        await grant(broker.bootstrap_servers, kafka.principal, rules)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredInfra]:
    folder = tmp_path_factory.mktemp("secured")
    ca = ThrowawayCa(folder / "ca")
    passwords = {kafka.principal: secrets.token_urlsafe(18) for kafka in SERVICES}
    keystore = ca.issue("kafka").keystore(folder / "ca" / "kafka-keystore.pem")
    broker = KafkaBroker(folder / "kafka", secured=SecuredListener(keystore, passwords))
    # Debian's server: the embedded wheel's is built without TLS.
    pg = Postgres(folder / "postgres", bin_dir=debian_bin_dir())
    try:
        broker.start()
        pg.start()
        roles = asyncio.run(_prepare_postgres(pg, ca))
        asyncio.run(_prepare_kafka(broker))
        yield SecuredInfra(ca.certificate, broker, passwords, pg, roles)
    finally:
        broker.stop()
        pg.stop()


@dataclass
class SecuredStack(Stack):
    """Each service with its own Kafka user and PostgreSQL role, over TLS only."""

    infra: SecuredInfra | None = None

    def env_for(self, name: str, port: int) -> dict[str, str]:
        assert self.infra is not None
        env = super().env_for(name, port)
        prefix = f"BOGFOER_{name.upper()}_"
        role, password = self.infra.roles[name]
        env |= {"DATABASE_CA_FILE": str(self.infra.ca), "PGUSER": role, "PGPASSWORD": password}
        if f"bogfoer-{name}" in self.infra.kafka_passwords:  # the portal has no Kafka
            env |= {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_CA_FILE": str(self.infra.ca),
                f"{prefix}KAFKA_USERNAME": f"bogfoer-{name}",
                f"{prefix}KAFKA_PASSWORD": self.infra.kafka_passwords[f"bogfoer-{name}"],
                f"{prefix}KAFKA_TOPICS": "verify",
            }
        return env


@pytest.fixture(scope="module")
def secured_stack(
    secured: SecuredInfra,
    e2e_sandbox: SandboxHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    running = SecuredStack(
        workdir=tmp_path_factory.mktemp("secured-stack"),
        kafka_bootstrap=secured.kafka.secured_bootstrap_servers,
        database_url=secured.database_url,
        dinero_url=e2e_sandbox.base_url,
        dinero_legacy_client_id=e2e_sandbox.legacy.client_id,
        dinero_legacy_client_secret=e2e_sandbox.legacy.client_secret,
        infra=secured,
    )
    try:
        yield running.start()
    finally:
        running.stop()


def test_an_order_is_booked_through_tls_scram_and_acls(
    secured: SecuredInfra, secured_stack: Stack, e2e_sandbox: SandboxHandle
) -> None:
    with httpx.Client(timeout=30) as http:
        org = http.post(
            f"{e2e_sandbox.base_url}/_sandbox/orgs",
            json={"name": "secured", "deposit_accounts": [{"number": 55010, "name": "Stripe"}]},
        ).json()
        tenant, secret = f"secured-{secrets.token_hex(3)}", secrets.token_urlsafe(24)
        operator = Operator(secured_stack, http)
        operator.onboard(
            tenant,
            hmac_secret=secret,
            dinero_api_key=org["api_key"],
            settings={
                "dinero_organization_id": org["id"],
                "cutover": "2026-01-01",
                "booking_mode": "booked",
                "trigger": "order_placed",
            },
        )
        placed = order("2001", lines=[goods("1", 12500, 2), shipping(5000)])
        response = Shop(secured_stack, http, tenant, secret).send(
            "order.placed", "order-2001-created", "2026-11-20T10:00:00+01:00", placed
        )
        assert response.status_code == 202, response.text
        rows = operator.wait_settled(tenant, expected=2)
    assert {r["kind"]: r["state"] for r in rows} == {"contact": "done", "invoice": "done"}
    balance = {k: v for k, v in e2e_sandbox.trial_balance(org["id"]).items() if v}
    assert balance == {53000: 30000, 1000: -20000, 1350: -4000, 64000: -6000}
    # Every service's connections to PostgreSQL are TLS, each as its own role.
    assert asyncio.run(_tls_sessions(secured)) == {role: True for role, _ in secured.roles.values()}


async def _tls_sessions(secured: SecuredInfra) -> dict[str, bool]:
    conn = await asyncpg.connect(secured.postgres.url)
    try:
        rows = await conn.fetch(
            "SELECT a.usename, bool_and(s.ssl) AS tls FROM pg_stat_activity a"
            " JOIN pg_stat_ssl s USING (pid) WHERE a.usename LIKE 'bogfoer_%' GROUP BY 1"
        )
    finally:
        await conn.close()
    return {r["usename"]: r["tls"] for r in rows}


def test_a_service_user_is_refused_outside_its_acls(secured: SecuredInfra) -> None:
    """The mapper's user reads its own topics, not the poster's results."""
    settings = _client_settings(secured, MAPPER.principal)

    async def read(topic: str, group: str) -> None:
        consumer = AIOKafkaConsumer(topic, group_id=group, **client_options(settings))
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=2000)
        finally:
            await consumer.stop()

    asyncio.run(read(TENANTS_CONFIG, MAPPER.subscription("config").group(MAPPER.principal)))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(read(POSTINGS_RESULTS, MAPPER.subscription("config").group(MAPPER.principal)))


def test_the_listener_refuses_a_wrong_password(secured: SecuredInfra) -> None:
    wrong_password = _client_settings(secured, MAPPER.principal, password="not-it")
    with pytest.raises(KafkaConnectionError):
        asyncio.run(ensure_topics(wrong_password, MAPPER))


def test_the_listener_refuses_an_unknown_ca(secured: SecuredInfra) -> None:
    other_ca = ThrowawayCa(secured.ca.parent.parent / "other-ca").certificate
    unknown_ca = _client_settings(secured, MAPPER.principal, ca=other_ca)
    with warnings.catch_warnings():
        # aiokafka leaves the socket of a failed TLS handshake to the garbage collector;
        # collect it here rather than let its ResourceWarning land in a later test.
        warnings.simplefilter("ignore", ResourceWarning)
        with pytest.raises(KafkaConnectionError):
            asyncio.run(ensure_topics(unknown_ca, MAPPER))
        gc.collect()


def test_postgres_refuses_a_connection_without_tls(secured: SecuredInfra) -> None:
    role, password = secured.roles["mapper"]
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        asyncio.run(_plain_connect(secured, role, password))
    # With the CA, the role connects.
    asyncio.run(_tls_connect(secured, role, password))


def _client_settings(
    secured: SecuredInfra, user: str, password: str | None = None, ca: Path | None = None
) -> ServiceSettings:
    return ServiceSettings.model_validate(
        {
            "KAFKA_BOOTSTRAP_SERVERS": secured.kafka.secured_bootstrap_servers,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_CA_FILE": str(ca or secured.ca),
            "kafka_username": user,
            "kafka_password": password or secured.kafka_passwords[user],
            "kafka_topics": "verify",
        }
    )


async def _plain_connect(secured: SecuredInfra, role: str, password: str) -> None:
    conn = await asyncpg.connect(secured.database_url, user=role, password=password, ssl=False)
    await conn.close()


async def _tls_connect(secured: SecuredInfra, role: str, password: str) -> None:
    conn = await asyncpg.connect(
        secured.database_url, user=role, password=password, ssl=client_context(str(secured.ca))
    )
    assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    await conn.close()
