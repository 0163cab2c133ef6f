"""Dinero's rate limit as the tests see it: a sandbox process with Dinero's minute shortened,
its organisations, and its request log read the way Dinero counts calls (per organisation,
in a sliding window)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from dinero_sandbox.process import SandboxHandle, start_sandbox


@contextmanager
def limited_sandbox(limit: int, window: float, log_dir: Path) -> Iterator[SandboxHandle]:
    """A sandbox answering 429 beyond `limit` calls per `window` seconds per organisation."""
    handle = start_sandbox(
        "--rate-limit", str(limit), "--rate-window-seconds", str(window), log_dir=log_dir
    )
    try:
        yield handle
    finally:
        handle.stop()


def organisation(sandbox: SandboxHandle, name: str) -> tuple[int, str]:
    """A new organisation with a Stripe deposit account (55010): its id and API key."""
    created = httpx.post(
        f"{sandbox.base_url}/_sandbox/orgs",
        json={"name": name, "deposit_accounts": [{"number": 55010, "name": "Stripe"}]},
        timeout=30,
    )
    created.raise_for_status()
    body = created.json()
    return int(body["id"]), str(body["api_key"])


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
