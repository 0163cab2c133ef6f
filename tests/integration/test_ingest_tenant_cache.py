"""Onboarding's tenant admin against the credentials cache of ingest's replicas (real
PostgreSQL): connecting a tenant's Stripe changes what the Stripe consumer and the backfill
runner read at once on the replica that did it, and within the refresh on another one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bogfoer_dinero.sealing import SecretSealer
from bogfoer_ingest.tenants import TenantCredentials, TenantDirectory
from bogfoer_kit.db import ServiceDatabase
from tests.integration.conftest import new_tenant

pytestmark = pytest.mark.integration
REFRESH = 0.2


@pytest.fixture
async def replicas(fresh_database: str) -> AsyncIterator[tuple[TenantDirectory, TenantDirectory]]:
    db = ServiceDatabase(fresh_database, "ingest", "bogfoer_ingest")
    pool = await db.open()
    sealer = SecretSealer(SecretStr(SecretSealer.generate_key()))
    one, other = (TenantDirectory(pool, sealer, REFRESH) for _ in range(2))
    await one.start()
    await other.start()
    try:
        yield one, other
    finally:
        await one.stop()
        await other.stop()
        await db.close()


async def test_connecting_stripe_reaches_every_replicas_cache(
    replicas: tuple[TenantDirectory, TenantDirectory],
) -> None:
    one, other = replicas
    tenant = new_tenant()
    await one.put(tenant, TenantCredentials(api_key=SecretStr("shop-key")))
    for replica in replicas:  # both remember the tenant without Stripe
        found = await replica.get(tenant)
        assert found is not None
        assert found.stripe_api_key is None

    await one.connect_stripe(tenant, "rk_test_new", "whsec_new", "we_1")
    here = await one.get(tenant)
    assert here is not None
    assert (here.stripe_api_key, here.stripe_webhook_secret) == ("rk_test_new", "whsec_new")
    assert await one.webhook_endpoint_id(tenant) == "we_1"
    started = time.monotonic()
    while (there := await other.get(tenant)) is None or there.stripe_api_key is None:
        assert time.monotonic() - started < 10 * REFRESH + 2, "the other replica kept no key"
        await asyncio.sleep(REFRESH / 4)
    assert there.stripe_webhook_secret == "whsec_new"

    await other.connect_stripe(tenant, "rk_test_again", "whsec_again", None)
    started = time.monotonic()
    while (back := await one.get(tenant)) is not None and back.stripe_api_key == "rk_test_new":
        assert time.monotonic() - started < 10 * REFRESH + 2, "the first replica kept the old key"
        await asyncio.sleep(REFRESH / 4)
    assert back is not None
    assert back.stripe_api_key == "rk_test_again"
    assert await one.webhook_endpoint_id(tenant) is None
