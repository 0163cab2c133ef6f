"""Dinero's request quota: N calls per window per (client id, organisation), sliding window."""

from __future__ import annotations

from collections import deque

from starlette.responses import PlainTextResponse


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._calls: dict[tuple[str, int], deque[float]] = {}

    def allow(self, client_id: str, org: int, now: float) -> bool:
        """Count the call if it fits; refused calls are not counted."""
        calls = self._calls.setdefault((client_id, org), deque())
        while calls and calls[0] <= now - self.window:
            calls.popleft()
        if len(calls) >= self.limit:
            return False
        calls.append(now)
        return True

    def reset(self) -> None:
        self._calls.clear()

    def quota_exceeded(self) -> PlainTextResponse:
        window = f"{self.window:g}s" if self.window != 60 else "1m"
        return PlainTextResponse(
            f"API calls quota exceeded! maximum admitted {self.limit} per {window}.",
            status_code=429,
        )
