"""Per-organisation rate limiting, so that in steady state we never earn a 429 ourselves.

Dinero allows `limit` requests per `window` (100 a minute) per (client id, organisation). A
classic token bucket that holds `limit` tokens and refills continuously admits up to twice
the limit in one window, which a window counter on Dinero's side answers with 429. This
bucket therefore returns each spent token only one full window after the response to the
request that spent it arrived. Dinero saw that request before we saw its response, and sees
the next one after we send it, so no window of length `window` on Dinero's side can ever hold
more than `limit` of our requests, however it counts. In steady state the achieved rate is
`limit` per (`window` + one round trip).

Every call counts: look-ups, retries and token-less reads alike. This limiter is per
process (tests, tools); `ratelimit_postgres.PostgresRateLimiter` keeps the same budget in
PostgreSQL, shared by every poster replica and the reconciler. Both are a `Limiter`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Limiter", "RateLimiter"]


class Limiter(Protocol):
    """What the client needs of a rate limiter: a slot per call, and a hold after a 429."""

    def slot(self, key: Hashable) -> AbstractAsyncContextManager[None]:
        """Hold one request's token for `key` while the request is in flight."""
        ...

    async def hold(self, key: Hashable, seconds: float) -> None:
        """Dinero said 429 anyway: admit nothing more for `key` for `seconds`."""
        ...


@dataclass
class _Bucket:
    in_flight: int = 0
    #: Monotonic times at which spent tokens come back, oldest first.
    returns: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    #: FIFO queue of waiters: only the head waits for a token.
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    released: asyncio.Event = field(default_factory=asyncio.Event)


class RateLimiter:
    def __init__(
        self,
        limit: int = 100,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[Hashable, _Bucket] = {}

    def _bucket(self, key: Hashable) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
        return bucket

    def available(self, key: Hashable) -> int:
        bucket = self._bucket(key)
        self._prune(bucket, self._clock())
        return self.limit - bucket.in_flight - len(bucket.returns)

    @staticmethod
    def _prune(bucket: _Bucket, now: float) -> None:
        while bucket.returns and bucket.returns[0] <= now:
            bucket.returns.popleft()

    async def _acquire(self, bucket: _Bucket) -> None:
        async with bucket.turn:
            while True:
                now = self._clock()
                self._prune(bucket, now)
                if now < bucket.blocked_until:
                    await self._sleep(bucket.blocked_until - now)
                    continue
                if bucket.in_flight + len(bucket.returns) < self.limit:
                    bucket.in_flight += 1
                    return
                bucket.released.clear()
                timeout = bucket.returns[0] - now if bucket.returns else None
                with suppress(TimeoutError):
                    await asyncio.wait_for(bucket.released.wait(), timeout)

    def _release(self, bucket: _Bucket) -> None:
        bucket.in_flight -= 1
        bucket.returns.append(self._clock() + self.window)
        bucket.released.set()

    @asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        """Hold one request's token for `key` while the request is in flight."""
        bucket = self._bucket(key)
        await self._acquire(bucket)
        try:
            yield
        finally:
            self._release(bucket)

    async def hold(self, key: Hashable, seconds: float) -> None:
        """Dinero said 429 anyway: admit nothing more for `key` for `seconds`."""
        bucket = self._bucket(key)
        bucket.blocked_until = max(bucket.blocked_until, self._clock() + seconds)
