"""What every benchmark shares: the result row, repetitions with a median, the table."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One row of the table.

    `ratio` is a *cost* ratio (measured cost / baseline cost, so higher is worse): for
    durations and bytes it is measured / baseline, for throughputs baseline / measured; such
    a row passes when `ratio <= target`. With `at_least`, `ratio` is a *speed* ratio
    (measured rate / baseline rate, higher is better) and the row passes when
    `ratio >= target`: how the issues state throughput targets ("at least 0.5 x").
    """

    name: str
    unit: str
    baseline: float
    measured: float
    ratio: float
    target: float
    note: str = ""
    at_least: bool = False

    @property
    def passed(self) -> bool:
        return self.ratio >= self.target if self.at_least else self.ratio <= self.target


def cost_ratio(baseline: float, measured: float) -> float:
    """measured / baseline, for costs (seconds, bytes)."""
    return measured / baseline if baseline > 0 else float("inf")


def throughput_ratio(baseline: float, measured: float) -> float:
    """baseline / measured, for rates (per second): how many times slower."""
    return baseline / measured if measured > 0 else float("inf")


def paired_speed_ratio(baselines: list[float], measured: list[float]) -> float:
    """The median of each repetition's measured / baseline rate, the two run back to back:
    on a machine other work loads in bursts, a burst hits one pair, not the ratio of two
    medians taken from different moments."""
    return statistics.median(m / b for b, m in zip(baselines, measured, strict=True))


def interleaved_seconds(
    baseline: Callable[[], object], measured: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median wall times of two workloads after one warm-up each, run alternately
    (b, m, b, m, ...) with a garbage collection before each run, so that drift on the
    machine and leftover garbage hit both alike."""
    baseline()
    measured()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((baseline, times[0]), (measured, times[1])):
            gc.collect()
            started = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


async def interleaved_rates(
    baseline: Callable[[], Awaitable[int]],
    measured: Callable[[], Awaitable[int]],
    repeats: int,
) -> tuple[float, float]:
    """Median rates (items per second) of two workloads after one warm-up each, run
    alternately (b, m, b, m, ...) so that drift on the machine hits both alike."""
    await baseline()
    await measured()
    rates: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((baseline, rates[0]), (measured, rates[1])):
            started = time.perf_counter()
            done = await fn()
            bucket.append(done / (time.perf_counter() - started))
    return statistics.median(rates[0]), statistics.median(rates[1])


def _fmt(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 1_048_576:.1f} MiB"
    if unit == "s":
        return f"{value * 1000:.1f} ms"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:,.0f} {unit}"


def table(results: list[Result]) -> str:
    header = ("benchmark", "baseline", "measured", "ratio", "target", "result")
    rows = [
        (
            r.name,
            _fmt(r.baseline, r.unit),
            _fmt(r.measured, r.unit),
            f"{r.ratio:.2f}",
            f"{'>=' if r.at_least else '<='} {r.target:.2f}",
            "PASS" if r.passed else "FAIL",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    notes = [f"  {r.name}: {r.note}" for r in results if r.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))
