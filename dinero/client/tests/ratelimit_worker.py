"""One process calling Dinero through the PostgreSQL rate limiter (run by the limiter tests).

argv: a JSON object with the sandbox's addresses, the database URL, the limiter's
parameters and how many calls to make. Prints one JSON line: calls made, 429s seen, when
each call was sent (monotonic seconds) and how long it all took.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import asyncpg
from pydantic import SecretStr

from bogfoer_dinero import DineroClient, DineroConfig, InMemoryCredentialStore, RetryLater
from bogfoer_dinero.ratelimit_postgres import PostgresRateLimiter


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    pool = await asyncpg.create_pool(spec["database_url"], min_size=1, max_size=4)
    limiter = PostgresRateLimiter(
        pool, spec["limit"], spec["window"], holder=spec["holder"], share=spec["share"]
    )
    config = DineroConfig(
        api_base_url=spec["api"],
        legacy_token_url=spec["token_url"],
        legacy_client_id=spec["client_id"],
        legacy_client_secret=SecretStr(spec["client_secret"]),
        max_attempts=1,  # a 429 reaches us instead of being retried
    )
    rejected = 0
    sent: list[float] = []
    started = time.monotonic()
    async with DineroClient.open(config, InMemoryCredentialStore(), limiter=limiter) as dinero:
        await dinero.auth.register_api_key("tenant", spec["api_key"])
        org = dinero.organisation("tenant", spec["org"])

        async def call() -> None:
            nonlocal rejected
            try:
                await org.deposit_accounts()
                sent.append(time.monotonic())
            except RetryLater:
                rejected += 1

        for _ in range(spec["calls"] // 4):
            await asyncio.gather(*(call() for _ in range(4)))
    await pool.close()
    return {"calls": len(sent), "rejected": rejected, "seconds": time.monotonic() - started}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))  # noqa: T201
