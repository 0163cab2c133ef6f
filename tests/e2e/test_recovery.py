"""Every service resumes by itself after PostgreSQL or the Kafka broker restarts under it,
with no process restarted, and says it is not ready while it cannot make progress (the portal,
which has no Kafka, stays ready through a broker restart).

The services run as processes against a broker and a database server of their own
(`restartable_kafka`, `restartable_postgres`), which these tests stop and start again on
the same data and ports, as a failover or an upgrade would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import httpx
import pytest

from bogfoer_devstack.infra import Infra
from bogfoer_devstack.kafka import KafkaBroker
from bogfoer_devstack.postgres import Postgres
from bogfoer_devstack.sales import AT, captured, fee, goods, order, shipping, stripe_ref
from bogfoer_devstack.shop import Operator
from bogfoer_devstack.stack import SERVICES, Stack
from bogfoer_kit.kafka import ensure_topics
from bogfoer_kit.settings import ServiceSettings
from dinero_sandbox.process import SandboxHandle
from tests.integration.conftest import create_database, drop_database

# The first test also starts the stack; a broker restart alone can take half a minute on a
# busy machine.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(
    restartable_kafka: KafkaBroker,
    restartable_postgres: Postgres,
    e2e_sandbox: SandboxHandle,
    stripe_double_process: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The package's `stack`, on infrastructure these tests may restart."""
    asyncio.run(
        ensure_topics(ServiceSettings(KAFKA_BOOTSTRAP_SERVERS=restartable_kafka.bootstrap_servers))
    )
    database = asyncio.run(create_database(restartable_postgres.url))
    infra = Infra(restartable_kafka, restartable_postgres, e2e_sandbox, stripe_double_process)
    running = infra.stack(tmp_path_factory.mktemp("recovery"), database)
    try:
        yield running.start()
    finally:
        running.stop()
        asyncio.run(drop_database(restartable_postgres.url, database))


@pytest.fixture(scope="module")
def operator(stack: Stack, http: httpx.Client) -> Operator:
    return Operator(stack, http)


def _sale(tenant: Any, oid: str) -> None:
    """An order paid by card, with Stripe's fee: a contact, an invoice, a payment (the fee
    is booked with its payout, which is not in this test).
    Sent as a shop sends: a 503 (the broker is back, but a partition has no leader yet) is
    sent again after its Retry-After; anything else must be a 202."""
    placed = order(
        oid, lines=[goods("1", 10000), shipping(2500)], payments=[stripe_ref(f"pi_{oid}")]
    )
    for type_, source_id, data in (
        ("order.placed", f"{oid}-placed", placed),
        ("payment.captured", f"pi_{oid}", captured(f"pi_{oid}", oid, 12500, f"txn_{oid}")),
        ("payment.fee", f"pi_{oid}-fee", fee(f"pi_{oid}", 300, f"txn_{oid}")),
    ):
        deadline = time.monotonic() + 30
        while (response := tenant.shop.send(type_, source_id, AT, data)).status_code == 503:
            assert time.monotonic() < deadline, response.json()
            time.sleep(float(response.headers["Retry-After"]))
        assert response.status_code == 202, response.json()


def _readiness(stack: Stack, http: httpx.Client) -> dict[str, tuple[int, dict[str, Any]]]:
    def ask(name: str) -> tuple[int, dict[str, Any]]:
        response = http.get(f"{stack.url(name)}/health/ready", timeout=10)
        return response.status_code, response.json()

    with ThreadPoolExecutor(len(SERVICES)) as pool:  # each check may take seconds to fail
        return dict(zip(SERVICES, pool.map(ask, SERVICES), strict=True))


def _wait_readiness(
    stack: Stack,
    http: httpx.Client,
    what: str,
    wanted: Callable[[str, int, dict[str, Any]], bool],
) -> float:
    deadline = time.monotonic() + 45
    started = time.monotonic()
    answers: dict[str, tuple[int, dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        answers = _readiness(stack, http)
        if all(wanted(name, *answer) for name, answer in answers.items()):
            return time.monotonic() - started
        time.sleep(0.3)
    raise AssertionError(f"not every service {what}: {answers}")


def _not_ready_for(check: str) -> Callable[[str, int, dict[str, Any]], bool]:
    def named(name: str, status: int, body: dict[str, Any]) -> bool:
        if check == "kafka" and name == "portal":
            return status == 200  # the portal has no Kafka: onboarding goes on without it
        return status == 503 and body["checks"].get(check) is False

    return named


def _ready(name: str, status: int, body: dict[str, Any]) -> bool:
    return status == 200


def _books(sales: int) -> dict[int, int]:
    # 125,00 incl. 25 % VAT paid by card, per sale
    return {1000: -8000 * sales, 1350: -2000 * sales, 64000: -2500 * sales, 55010: 12500 * sales}


@pytest.mark.parametrize("what", ["postgres", "kafka"])
def test_every_service_resumes_after_a_restart_of(
    what: str,
    new_tenant: Any,
    operator: Operator,
    stack: Stack,
    http: httpx.Client,
    restartable_postgres: Postgres,
    restartable_kafka: KafkaBroker,
) -> None:
    """A sale booked before the outage; one on its way as it begins, every service saying
    it is not ready meanwhile; that sale booked once the outage ends, with nothing more
    arriving (nothing left behind); and the next sale booked too. No process restarted."""
    outage = restartable_postgres.stopped() if what == "postgres" else restartable_kafka.stopped()
    tenant = new_tenant(booking_mode="booked", trigger="order_placed")
    _sale(tenant, "S1")
    operator.wait_settled(tenant.tenant_id, expected=3, settled=("done",))
    _sale(tenant, "S2")
    with outage:
        _wait_readiness(stack, http, f"names {what}", _not_ready_for(what))
        time.sleep(2)  # the consumers, the outboxes and the poster's workers meet it
    took = _wait_readiness(stack, http, "is ready again", _ready)
    print(f"every service ready {took:.1f} s after {what} was back")  # noqa: T201
    operator.wait_settled(tenant.tenant_id, expected=6, timeout=60, settled=("done",))
    _sale(tenant, "S3")
    rows = operator.wait_settled(tenant.tenant_id, expected=9, timeout=60, settled=("done",))
    assert len(rows) == 9
    assert tenant.trial_balance() == _books(3)


def test_the_poster_is_not_ready_while_its_workers_cannot_make_progress(
    stack: Stack, http: httpx.Client
) -> None:
    # The database answers, but the poster's supervisor cannot read its queue.
    async def rename(old: str, new: str) -> None:
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute(f"ALTER TABLE poster.{old} RENAME TO {new}")
        finally:
            await conn.close()

    poster = f"{stack.url('poster')}/health/ready"
    asyncio.run(rename("postings", "postings_away"))
    try:
        deadline = time.monotonic() + 20
        while (answer := http.get(poster)).status_code == 200:
            assert time.monotonic() < deadline, answer.json()
            time.sleep(0.2)
        body = answer.json()
        assert answer.status_code == 503
        assert body["checks"]["postgres"] is True
        assert set(body["failing"]) == {"workers"}
        assert "UndefinedTableError" in body["failing"]["workers"]
    finally:
        asyncio.run(rename("postings_away", "postings"))
    _wait_readiness(stack, http, "is ready again", _ready)
