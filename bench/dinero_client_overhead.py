"""dinero_client_overhead: calls per second through `DineroClient` against bare httpx GETs.

Setup: the Dinero sandbox as its own process on loopback (`start_sandbox`) with its rate
limit lifted (1,000,000 calls a window), and the client's own limiter lifted the same way,
so neither limiter is what we measure.

- measured: CALLS `OrganisationClient.deposit_accounts()` (GET /v1/{org}/accounts/deposit),
  CONCURRENCY at a time, through a `DineroClient` with an API-key tenant: per call the client
  gets the cached bearer token, takes a rate-limiter slot, sends, classifies the answer and
  parses it into pydantic models.
- baseline: the same GET with a bare `httpx.AsyncClient` and a token fetched once, decoding
  the JSON (what any caller would do at the least).

Ratio = baseline calls/s / client calls/s: the client's own overhead. Target ratio <= 1.5:
measured at about 1.1 here, because the sandbox's work dominates a call; more means the
client does something per call it should do once (a token fetch, a new connection, a
lock held across the request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from pydantic import SecretStr

from bench.common import Result, interleaved_rates, throughput_ratio
from bogfoer_dinero import DineroClient, DineroConfig, InMemoryCredentialStore
from dinero_sandbox.process import SandboxHandle, start_sandbox

CALLS = 600
CONCURRENCY = 4
REPEATS = 5
RUN_TIMEOUT_SECONDS = 60.0
TARGET = 1.5
TENANT = "bench-tenant"
UNLIMITED = 1_000_000


async def _fan_out(calls: int, one: Callable[[], Awaitable[None]]) -> int:
    remaining = iter(range(calls))

    async def worker() -> None:
        for _ in remaining:
            await one()

    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(CONCURRENCY))), RUN_TIMEOUT_SECONDS
    )
    return calls


async def _measure(sandbox: SandboxHandle) -> tuple[float, float]:
    org = sandbox.main_org
    config = DineroConfig(
        api_base_url=sandbox.api_base_url,
        connect_token_url=f"{sandbox.connect_base_url}/connect/token",
        legacy_token_url=f"{sandbox.authz_base_url}/dineroapi/oauth/token",
        legacy_client_id=sandbox.legacy.client_id,
        legacy_client_secret=SecretStr(sandbox.legacy.client_secret),
        rate_limit_requests=UNLIMITED,
        rate_limit_window_seconds=60.0,
        read_timeout_seconds=10.0,
    )
    token = await asyncio.to_thread(sandbox.password_token, org)
    url = f"{sandbox.api_base_url}/v1/{org}/accounts/deposit"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    params = {"fields": "AccountNumber,Name"}
    async with DineroClient.open(config, InMemoryCredentialStore()) as client:
        await client.auth.register_api_key(TENANT, sandbox.legacy.api_keys[org])
        organisation = client.organisation(TENANT, org)
        async with httpx.AsyncClient(timeout=10) as bare:

            async def bare_call() -> None:
                response = await bare.get(url, params=params, headers=headers)
                response.raise_for_status()
                response.json()

            async def client_call() -> None:
                await organisation.deposit_accounts()

            return await interleaved_rates(
                lambda: _fan_out(CALLS, bare_call),
                lambda: _fan_out(CALLS, client_call),
                REPEATS,
            )


def run() -> list[Result]:
    sandbox = start_sandbox("--rate-limit", str(UNLIMITED))
    try:
        baseline, measured = asyncio.run(_measure(sandbox))
    finally:
        sandbox.stop()
    return [
        Result(
            "dinero_client_overhead",
            "calls/s",
            baseline,
            measured,
            throughput_ratio(baseline, measured),
            TARGET,
            f"{CALLS} GET accounts/deposit, {CONCURRENCY} concurrent, median of {REPEATS}; "
            "baseline bare httpx with a token fetched once",
        )
    ]
