"""pipeline_memory's verdict (`flatness`) and its input (`inbound_stream`): pure code, the
run itself is `python -m bench pipeline_memory`."""

from __future__ import annotations

import json

import pytest

from bench import pipeline_memory
from bench.common import Result
from bench.pipeline_memory import (
    TARGET,
    TENANT_COPIES,
    Sample,
    flatness,
    inbound_stream,
)

MIB = 1_048_576
TOTAL = 1_000_000


def run_of(rss_at: dict[int, int], idle: list[int] | None = None) -> list[Sample]:
    """Samples every 5,000 records, the resident set from `rss_at(done)`; then samples of
    a process that has finished and idles (its RSS as given)."""
    samples = [Sample(i * 1.0, done, rss) for i, (done, rss) in enumerate(rss_at.items())]
    end = samples[-1].seconds
    samples += [Sample(end + 1 + i, TOTAL, rss) for i, rss in enumerate(idle or [])]
    return samples


def verdict(samples: list[Sample]) -> Result:
    found = flatness(samples, TOTAL)
    return Result("m", "bytes", found.baseline, found.measured, found.ratio, TARGET)


def test_a_warm_up_and_a_breathing_heap_are_flat() -> None:
    # Grows from 60 to 100 MiB over the first 10 %, then swings by 8 MiB with the poll.
    series = {
        done: (60 + 40 * done // 100_000) * MIB
        if done < 100_000
        else (100 + (8 if (done // 5_000) % 2 else 0)) * MIB
        for done in range(0, TOTAL + 1, 5_000)
    }
    found = flatness(run_of(series), TOTAL)
    assert found.ratio == pytest.approx(1.0, abs=0.09)
    assert verdict(run_of(series)).passed


def test_a_leak_of_a_hundred_bytes_an_event_fails() -> None:
    series = {done: 100 * MIB + 100 * done for done in range(0, TOTAL + 1, 5_000)}
    found = flatness(run_of(series), TOTAL)
    assert found.per_event == pytest.approx(100, rel=0.01)
    assert found.ratio > TARGET
    assert not verdict(run_of(series)).passed


def test_samples_after_the_end_do_not_count() -> None:
    # Idle at the end while the other service catches up: neither a freed heap nor a
    # late burst outvotes the samples taken while the records went through.
    series = dict.fromkeys(range(0, TOTAL + 1, 5000), 100 * MIB)
    assert flatness(run_of(series, idle=[10 * MIB] * 500), TOTAL).ratio == 1.0
    assert flatness(run_of(series, idle=[500 * MIB] * 500), TOTAL).ratio == 1.0


def test_too_few_samples_say_so() -> None:
    series = {0: 100 * MIB, 500_000: 100 * MIB, TOTAL: 100 * MIB}
    with pytest.raises(ValueError, match="no sample between 20% and 30%"):
        flatness(run_of(series), TOTAL)


def test_the_stream_is_the_asked_count_over_every_tenant_without_a_repeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline_memory, "CHUNK_ORDERS", 20)  # about 110 events a chunk
    records = list(inbound_stream(1_000))  # several chunks, so every tenant copy
    assert len(records) == 1_000
    tenants = {key for key, _ in records}
    assert len(tenants) == 2 * TENANT_COPIES
    ids = {(key, json.loads(body)["source_event_id"]) for key, body in records}
    assert len(ids) == len(records)  # nothing ingest or the mapper could drop as seen
