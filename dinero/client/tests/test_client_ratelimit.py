"""The per-organisation limiter: never more than `limit` request starts in any window."""

from __future__ import annotations

import asyncio
import time

import httpx
from dinero_client_harness import CONFIG, make_harness

from bogfoer_dinero.ratelimit import RateLimiter


def max_in_any_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    return max(sum(1 for u in starts if t <= u < t + window) for t in starts)


async def run(limiter: RateLimiter, key: object, n: int, work: float = 0.0) -> list[float]:
    starts: list[float] = []

    async def one() -> None:
        async with limiter.slot(key):
            starts.append(time.monotonic())
            await asyncio.sleep(work)

    await asyncio.gather(*(one() for _ in range(n)))
    return starts


async def test_no_window_ever_holds_more_than_the_limit_and_the_rate_is_reached() -> None:
    limiter = RateLimiter(5, 0.3)
    began = time.monotonic()
    starts = await run(limiter, ("isv", 1), 15, work=0.01)
    elapsed = time.monotonic() - began
    assert max_in_any_window(starts, 0.3) == 5
    # 15 requests = three bursts of 5, one window (+ the request's own time) apart.
    assert 0.6 <= elapsed < 0.9


async def test_a_token_returns_one_window_after_its_response_not_its_request() -> None:
    limiter = RateLimiter(2, 0.2)
    starts = await run(limiter, "k", 4, work=0.15)
    starts.sort()
    # The third request waits for the first response (0.15 s) plus a window (0.2 s).
    assert starts[2] - starts[0] >= 0.35


async def test_organisations_do_not_share_a_bucket() -> None:
    limiter = RateLimiter(3, 5.0)
    await run(limiter, ("isv", 1), 3)
    began = time.monotonic()
    await run(limiter, ("isv", 2), 3)
    assert time.monotonic() - began < 0.1
    assert limiter.available(("isv", 1)) == 0
    assert limiter.available(("isv", 2)) == 0
    assert limiter.available(("other-client", 1)) == 3


async def test_hold_stops_the_bucket_after_a_429() -> None:
    limiter = RateLimiter(100, 1.0)
    await limiter.hold("k", 0.2)
    began = time.monotonic()
    await run(limiter, "k", 1)
    assert time.monotonic() - began >= 0.19


async def test_a_failed_request_still_spends_its_token() -> None:
    limiter = RateLimiter(1, 5.0)
    try:
        async with limiter.slot("k"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert limiter.available("k") == 0


async def test_a_call_naming_no_organisation_is_counted_per_tenant() -> None:
    # GET /v1/organizations names no organisation: it is in no organisation's budget, and
    # not in one budget for the whole client id either (every tenant's charts waited there).
    h = make_harness(_organisations)
    for tenant in ("t1", "t2"):
        await h.auth().exchange_code(tenant, "the-code", "https://app.test/cb", code_verifier="v")
    client_id = CONFIG.connect_client_id
    limiter = h.client.limiter
    assert isinstance(limiter, RateLimiter)
    full = limiter.limit
    await h.client.organisations("t1")
    await h.client.organisations("t2")
    assert limiter.available((client_id, "tenant", "t1")) == full - 1
    assert limiter.available((client_id, "tenant", "t2")) == full - 1
    assert limiter.available((client_id, None)) == full
    assert limiter.available((client_id, 7)) == full


async def _organisations(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=[{"Id": 7, "Name": "Demo ApS", "IsPro": True}])
