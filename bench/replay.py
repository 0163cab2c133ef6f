"""replay: one million events of the bench stream through the reconciler's replay.

Workload: the stream of `mapper_decide` (two tenants, six VAT zones, payments, fees, partial
refunds, payouts) built in chunks until it holds 1,000,000 events, stamped and serialised as
on `sales.events.v1`, written once to a file. A child process then reads the file twice:

- baseline: `parse_event` on every event (what any consumer of the topic pays), once before
  the replay and once after it, averaged;
- measured: the reconciler's replay — each event routed to a bucket file on disk
  (`bogfoer_cli.reconcile.spool`), then every bucket replayed through the pure rules exactly
  as the mapper applies them (`replay.expected_postings`: parse, `decide`, the expected
  postings), one bucket's orders in memory at a time.

- `replay_1m` (time): the replay's events/s against parsing's events/s in the same child.
  Target cost ratio <= 12: measured at about 5-6.5 here (a parse, `decide` — most of it —,
  routing and the spool's disk round trip). The issue's bound, a million events in at most
  five minutes on this 2-core machine, is printed with it.
- `replay_memory` (the largest resident set during the replay, above the one before it):
  the same replay of the first 250,000 events against the replay of all 1,000,000, each in
  its own child. Target
  ratio <= 1.5: the peak holds one bucket's order states (a bucket over 256 kB is split
  again), not the stream, so four times the events must not mean anywhere near four times
  the memory.

Dinero calls per 1,000 reconciled documents are not measured here (no Dinero): the
end-to-end test reports them (`tests/e2e/test_reconcile.py`: three list calls for a month).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import Result, cost_ratio
from bench.mapper_decide import RECEIVED, configs, inbound_bodies
from bogfoer_contracts.events import SCHEMA_VERSION, parse_event
from bogfoer_contracts.ids import event_id

EVENTS = 1_000_000
SMALL = 250_000
CHUNK_ORDERS = 2_000
TIME_TARGET = 12.0
MEMORY_TARGET = 1.5
BUDGET_SECONDS = 300.0  # the bound for a million events on 2 cores
_RECORD = struct.Struct("<BI")  # tenant index, body length
_TENANTS = sorted(configs())


def canonical(tenant: str, body: bytes) -> bytes:
    """The envelope ingest stamps on a shop's body (`events.stamp`), written directly: the
    stream is a million events, and stamping through the models would take most of the
    benchmark's time. `tests/test_bench_replay.py` checks it equals `stamp`'s output."""
    inbound = json.loads(body)
    envelope = {
        "id": event_id(tenant, inbound["source"], inbound["source_event_id"]),
        "type": inbound["type"],
        "source": inbound["source"],
        "source_event_id": inbound["source_event_id"],
        "tenant_id": tenant,
        "occurred_at": inbound["occurred_at"],
        "received_at": RECEIVED.isoformat(),
        "schema_version": SCHEMA_VERSION,
        "backfill": False,
        "data": inbound["data"],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def write_stream(path: Path, events: int) -> None:
    """The bench stream, as on sales.events.v1, until it holds `events` events."""
    written = 0
    first = 0
    with path.open("wb") as out:
        while written < events:
            for tenant, body in inbound_bodies(CHUNK_ORDERS, first=first):
                raw = canonical(tenant, body)
                out.write(_RECORD.pack(_TENANTS.index(tenant), len(raw)))
                out.write(raw)
                written += 1
                if written == events:
                    break
            first += CHUNK_ORDERS


def read_stream(path: Path, events: int) -> Any:
    """(tenant, bytes) of the first `events` events of the file, streamed."""
    with path.open("rb") as source:
        for _ in range(events):
            head = source.read(_RECORD.size)
            if len(head) < _RECORD.size:
                return
            tenant, size = _RECORD.unpack(head)
            yield _TENANTS[tenant], source.read(size)


class _Peak:
    """The largest resident set seen, sampled as the replay goes (at every 10,000th event
    spooled and every bucket replayed): the high-water mark of the replay itself, unlike
    ru_maxrss, which the imports may already have set higher."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self._process.memory_info().rss
        self.peak = self.start

    def sample(self, *_: object) -> None:
        self.peak = max(self.peak, self._process.memory_info().rss)


def child(path: Path, events: int, parse_too: bool) -> dict[str, Any]:
    """One measurement in a fresh process: parse (optional), then replay; peak memory."""
    from bogfoer_cli.reconcile.replay import Replayed, expected_postings
    from bogfoer_cli.reconcile.spool import Spool

    cfg = configs()
    result: dict[str, Any] = {"events": events}
    parse_runs: list[float] = []

    def parse_all() -> None:
        started = time.perf_counter()
        for _, raw in read_stream(path, events):
            parse_event(raw)
        parse_runs.append(time.perf_counter() - started)

    if parse_too:
        parse_all()  # before the replay, and again after it: drift on a shared machine
    replayed = Replayed(settings={t: [(RECEIVED, cfg[t])] for t in cfg})
    end = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    gc.collect()
    memory = _Peak()
    started = time.perf_counter()
    postings = 0
    with Spool(directory=path.parent) as spool:
        for n, (tenant, raw) in enumerate(read_stream(path, events)):
            spool.add(tenant, 0, RECEIVED, raw)
            if n % 10_000 == 0:
                memory.sample()
        for _ in expected_postings(spool, replayed, end, lambda _: {}, on_bucket=memory.sample):
            postings += 1
    result["replay_seconds"] = time.perf_counter() - started
    if replayed.unreadable:
        raise RuntimeError(f"{replayed.unreadable} events of the stream did not parse")
    if parse_too:
        parse_all()  # ... hits the baseline as it hits the replay
        result["parse_seconds"] = sum(parse_runs) / len(parse_runs)
    result["postings"] = postings
    result["peak_bytes"] = memory.peak - memory.start
    return result


def _run_child(path: Path, events: int, parse_too: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.replay", "--child", str(path), str(events), str(parse_too)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bogfoer-bench-replay-") as tmp:
        stream = Path(tmp) / "stream.bin"
        started = time.monotonic()
        write_stream(stream, EVENTS)
        print(f"  stream of {EVENTS:,} events written in {time.monotonic() - started:.0f} s")
        full = _run_child(stream, EVENTS, parse_too=True)
        small = _run_child(stream, SMALL, parse_too=False)
    parse_rate = EVENTS / full["parse_seconds"]
    replay_rate = EVENTS / full["replay_seconds"]
    verdict = "within" if full["replay_seconds"] <= BUDGET_SECONDS else "OVER"
    return [
        Result(
            "replay_1m",
            "events/s",
            parse_rate,
            replay_rate,
            parse_rate / replay_rate,
            TIME_TARGET,
            f"{EVENTS:,} events -> {full['postings']:,} expected postings in "
            f"{full['replay_seconds']:.0f} s ({verdict} the {BUDGET_SECONDS:.0f} s bound); "
            "baseline parse_event of the same events in the same process",
        ),
        Result(
            "replay_memory",
            "bytes",
            small["peak_bytes"],
            full["peak_bytes"],
            cost_ratio(small["peak_bytes"], full["peak_bytes"]),
            MEMORY_TARGET,
            f"peak RSS of the replay above the process before it: {SMALL:,} events "
            f"(baseline) vs {EVENTS:,}",
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "True")))
    else:
        for row in run():
            print(row)
