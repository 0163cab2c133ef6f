"""The whole pipeline as separate processes: real Kafka, real PostgreSQL, the Dinero
sandbox, the Stripe double, and ingest, mapper, poster, ledger and the portal each started
with `python -m`."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Playwright, sync_playwright

from bogfoer_contracts.topics import key_for
from bogfoer_devstack.offsets import records_to_end
from bogfoer_devstack.shop import Operator, Shop
from bogfoer_devstack.stack import Stack
from dinero_sandbox.process import SandboxHandle, start_sandbox
from tests.e2e.browser import CHROMIUM

_tenant_numbers = itertools.count(1)


@pytest.fixture(scope="package")
def e2e_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    # Its own sandbox process: other tests reset the shared one between tests.
    handle = start_sandbox(log_dir=tmp_path_factory.mktemp("e2e-sandbox"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="package")
def stack(
    kafka_bootstrap: str,
    database_url: str,
    e2e_sandbox: SandboxHandle,
    stripe_double_process: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    running = Stack(
        workdir=tmp_path_factory.mktemp("stack"),
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        dinero_url=e2e_sandbox.base_url,
        stripe_url=stripe_double_process,
        dinero_legacy_client_id=e2e_sandbox.legacy.client_id,
        dinero_legacy_client_secret=e2e_sandbox.legacy.client_secret,
        dinero_connect_client_id=e2e_sandbox.connect.client_id,
        dinero_connect_client_secret=e2e_sandbox.connect.client_secret,
        # The ops pages call a posting open this long "stuck" (an hour in production).
        extra_env={
            "BOGFOER_LEDGER_STUCK_AFTER_SECONDS": "3",
            # A summary tenant's day (long over: the sales are of November) closes once its
            # sales stopped arriving for this long (ten minutes in production).
            "BOGFOER_POSTER_SUMMARY_QUIET_SECONDS": "3",
            "BOGFOER_POSTER_SUMMARY_CHECK_SECONDS": "1",
        },
    )
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture(scope="package")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def operator(stack: Stack, http: httpx.Client) -> Operator:
    return Operator(stack, http)


@dataclass
class Tenant:
    tenant_id: str
    org_id: int
    shop: Shop
    sandbox: SandboxHandle
    config: dict[str, Any]
    api_key: str
    stripe_webhook_secret: str
    stripe_api_key: str

    def trial_balance(self) -> dict[int, int]:
        return {k: v for k, v in self.sandbox.trial_balance(self.org_id).items() if v != 0}


@pytest.fixture
def new_tenant(
    stack: Stack, operator: Operator, e2e_sandbox: SandboxHandle, http: httpx.Client
) -> Any:
    """Make a tenant with its own fresh Dinero organisation (so its books are its own)."""

    def make(**settings: Any) -> Tenant:
        tenant_id = f"t{next(_tenant_numbers)}-{secrets.token_hex(3)}"
        created = http.post(
            f"{e2e_sandbox.base_url}/_sandbox/orgs",
            json={"name": tenant_id, "deposit_accounts": [{"number": 55010, "name": "Stripe"}]},
        ).json()
        secret = secrets.token_urlsafe(24)
        whsec = f"whsec_{secrets.token_hex(16)}"
        stripe_key = f"rk_test_{tenant_id}"
        body = {"dinero_organization_id": created["id"], "cutover": "2026-01-01", **settings}
        config = operator.onboard(
            tenant_id,
            hmac_secret=secret,
            dinero_api_key=created["api_key"],
            settings=body,
            stripe_webhook_secret=whsec,
            stripe_api_key=stripe_key,
        )
        shop = Shop(stack, http, tenant_id, secret)
        return Tenant(
            tenant_id,
            created["id"],
            shop,
            e2e_sandbox,
            config,
            created["api_key"],
            whsec,
            stripe_key,
        )

    return make


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    assert Path(CHROMIUM).exists(), "make test installs Debian's chromium; it is missing"
    with sync_playwright() as pw:
        yield pw


def kafka_records(bootstrap: str, topic: str, tenant_id: str) -> list[Any]:
    """Every record of a tenant on a topic so far (aiokafka ConsumerRecords)."""
    records = asyncio.run(records_to_end(bootstrap, topic))
    return [r for r in records if r.key == key_for(tenant_id)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent.name == "e2e":
            item.add_marker(pytest.mark.e2e)
