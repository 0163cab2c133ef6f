"""`make chaos [RUNS=20] [SEED=…]`: seeded chaos runs, each on infrastructure of its own.

Run n uses seed SEED+n-1 (SEED is random unless given, and printed): replay any run with
`make chaos SEED=<its seed> RUNS=1`. Exits 1 if any run found a difference.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

from bogfoer_devstack.chaos.plan import FULL, SMOKE, plan_run
from bogfoer_devstack.chaos.report import run_report, summary
from bogfoer_devstack.chaos.run import RunResult, run
from bogfoer_devstack.infra import local_infra

# The sandbox's and the poster's Dinero rate limit in these runs: faster than Dinero's 100
# a minute, so a run takes minutes, not tens of minutes.
RATE_LIMIT = 600


def say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="the first run's seed")
    parser.add_argument("--size", choices=["full", "smoke"], default="full")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the logs of passing runs")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1, 1_000_000)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bogfoer-chaos-"))
    size = FULL if args.size == "full" else SMOKE
    say(f"Bogfør chaos: {args.runs} run(s) from seed {seed} (replay one: make chaos SEED=<seed>")
    say(f"RUNS=1); logs in {workdir}")
    results: list[RunResult] = []
    for n in range(args.runs):
        plan = plan_run(seed + n, size)
        run_dir = workdir / f"run-{plan.seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        orders = sum(s.orders for s in plan.shops)
        say(
            f"\nrun {n + 1}/{args.runs}, seed {plan.seed}: {len(plan.shops)} shops, {orders} "
            f"orders; {', '.join(a.describe() for a in plan.actions)}"
        )
        try:
            with local_infra(run_dir, ("--rate-limit", str(RATE_LIMIT))) as infra:
                database = infra.postgres.create_database("chaos")
                result = run(plan, infra, database, run_dir, say, dinero_rate_limit=RATE_LIMIT)
        except Exception as exc:  # the infrastructure did not start or stop: a failed run
            result = RunResult(plan, run_dir, error=f"infrastructure: {type(exc).__name__}: {exc}")
        results.append(result)
        for line in run_report(result, n + 1, args.runs):
            say(line)
        if result.ok and not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    say("")
    for line in summary(results):
        say(line)
    return 0 if all(r.ok for r in results) else 1
