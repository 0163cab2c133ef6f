"""The rate limit shared through PostgreSQL: two processes calling one organisation stay
within Dinero's limit together (no 429), and a holder with a share leaves the rest."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from bogfoer_dinero.ratelimit_postgres import PostgresRateLimiter
from dinero_sandbox.process import SandboxHandle

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("ratelimit_worker.py")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[asyncpg.Record]]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    await PostgresRateLimiter.create_schema(created)
    try:
        yield created
    finally:
        await created.close()


def test_two_processes_share_one_organisations_limit_without_a_429(
    dinero_sandbox_factory: Callable[..., SandboxHandle],
    database_url: str,
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    # Dinero's limit scaled down: 20 calls per 2 s per (client id, organisation).
    sandbox = dinero_sandbox_factory("--rate-limit", "20", "--rate-window-seconds", "2")
    org = sandbox.main_org
    spec = {
        "database_url": database_url,
        "api": sandbox.api_base_url,
        "token_url": f"{sandbox.authz_base_url}/dineroapi/oauth/token",
        "client_id": sandbox.legacy.client_id,
        "client_secret": sandbox.legacy.client_secret,
        "api_key": sandbox.legacy.api_keys[org],
        "org": org,
        "limit": 20,
        "window": 2.0,
        "share": 1.0,
        "calls": 32,
    }
    workers = [
        subprocess.Popen(  # noqa: S603 - our own worker script
            [sys.executable, str(WORKER), json.dumps(spec | {"holder": holder})],
            stdout=subprocess.PIPE,
        )
        for holder in ("poster-a", "poster-b")
    ]
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=90)
        assert worker.returncode == 0
        results.append(json.loads(out))
    assert [r["rejected"] for r in results] == [0, 0]
    assert [r["calls"] for r in results] == [32, 32]
    statuses = [r["status"] for r in sandbox.requests() if r.get("org") == org]
    assert 429 not in statuses
    # 64 calls at 20 per 2 s need at least three windows after the first 20: the limit was
    # shared, not doubled.
    assert max(r["seconds"] for r in results) >= 3 * 2.0


async def test_a_holder_with_a_share_leaves_the_rest_of_the_limit_to_the_poster(
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    key = ("client", uuid.uuid4().hex)
    poster = PostgresRateLimiter(pool, 20, 60.0, holder="poster")
    reconcile = PostgresRateLimiter(pool, 20, 60.0, holder="reconcile", share=0.25)
    taken: list[str] = []

    async def take(limiter: PostgresRateLimiter, n: int) -> None:
        for _ in range(n):
            async with asyncio.timeout(0.3):
                async with limiter.slot(key):
                    taken.append(limiter.holder)

    await take(reconcile, 5)  # its share: a quarter of 20
    with pytest.raises(TimeoutError):
        await take(reconcile, 1)
    await take(poster, 15)  # the poster still has the other 15
    with pytest.raises(TimeoutError):
        await take(poster, 1)
    # Slots are rows: another process (a new limiter on another pool) sees the same budget.
    assert await poster.used(key) == {"reconcile": 5, "poster": 15}
    assert taken.count("reconcile") == 5


async def test_a_429_holds_every_process_for_the_wait(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    key = ("client", uuid.uuid4().hex)
    first = PostgresRateLimiter(pool, 20, 60.0, holder="poster-a")
    second = PostgresRateLimiter(pool, 20, 60.0, holder="poster-b")
    await first.hold(key, 30)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3), second.slot(key):
            pass


async def test_a_reserved_share_of_the_limit_is_left_to_calls_outside_bogfoer(
    pool: asyncpg.Pool[asyncpg.Record],
) -> None:
    key = ("client", uuid.uuid4().hex)
    poster = PostgresRateLimiter(pool, 20, 60.0, holder="poster", reserved_share=0.1)
    reconcile = PostgresRateLimiter(
        pool, 20, 60.0, holder="reconcile", share=0.5, reserved_share=0.1
    )

    async def take(limiter: PostgresRateLimiter, n: int) -> None:
        for _ in range(n):
            async with asyncio.timeout(0.3), limiter.slot(key):
                pass

    await take(reconcile, 9)  # half of the 18 ours may use
    with pytest.raises(TimeoutError):
        await take(reconcile, 1)
    await take(poster, 9)
    with pytest.raises(TimeoutError):
        await take(poster, 1)  # 2 of 20 stay free: the bookkeeper's
    assert await poster.used(key) == {"reconcile": 9, "poster": 9}
