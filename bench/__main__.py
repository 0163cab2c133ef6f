"""`python -m bench [name ...]`: run the benchmarks (all by default), print the table, exit 1
when a ratio misses its target."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bench import (
    dinero_calls,
    dinero_client_overhead,
    ingest_batch,
    ingest_http,
    kafka_paths,
    mapper_decide,
    pipeline_memory,
    poster_share,
    reconcile_dinero,
    replay,
)
from bench.common import Result, table

BENCHMARKS: dict[str, Callable[[], list[Result]]] = {
    "mapper_decide": mapper_decide.run,
    "replay": replay.run,
    "reconcile_dinero": reconcile_dinero.run,
    "dinero_client_overhead": dinero_client_overhead.run,
    "ingest_http": ingest_http.run,
    "ingest_batch": ingest_batch.run,
    "kafka_paths": kafka_paths.run,
    "dinero_calls": dinero_calls.run,
    "poster_share": poster_share.run,
    "pipeline_memory": pipeline_memory.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(BENCHMARKS)}; default: all")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    results: list[Result] = []
    for name in args.names or BENCHMARKS:
        started = time.monotonic()
        print(f"running {name} ...", flush=True)
        results += BENCHMARKS[name]()
        print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    print()
    print(table(results))
    failed = [r.name for r in results if not r.passed]
    if failed:
        print(f"\nFAIL: {', '.join(failed)} missed the target ratio")
        return 1
    print("\nevery ratio is within its target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
