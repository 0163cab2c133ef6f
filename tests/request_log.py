"""Reading the Dinero sandbox's request log the way Dinero counts calls: per organisation,
in a sliding window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any


def arrived(entry: dict[str, Any]) -> float:
    """When the sandbox received the call (POSIX seconds)."""
    return dt.datetime.fromisoformat(entry["at"]).timestamp()


def busiest_window(calls: Sequence[dict[str, Any]], window: float) -> int:
    """The most calls within any `window` seconds (Dinero's sliding window)."""
    times = sorted(arrived(e) for e in calls)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def refused(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls Dinero answered 429 (quota exceeded)."""
    return [e for e in calls if e["status"] == 429]
