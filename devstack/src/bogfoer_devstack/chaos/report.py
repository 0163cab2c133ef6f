"""The tables a chaos run prints: per shop after each run, one row per run at the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bogfoer_devstack.chaos.run import RunResult


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Left-aligned text columns, right-aligned numbers."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], int) for row in rows) and rows for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if numeric[i] else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])]


def _ledger(states: Counter[str]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "-"


def _restart(result: RunResult, what: str) -> str:
    planned = [r for r in result.plan.restarts if r.what == what]
    done = [r for r in planned if r.describe() in result.faults_done]
    return ", ".join(f"{r.how} {r.down_for:.0f}s" for r in done) or "-"


def run_report(result: RunResult, number: int, of: int) -> list[str]:
    plan = result.plan
    verdict = "OK" if result.ok else "FAILED"
    lines = [
        f"run {number}/{of}, seed {plan.seed}: {verdict} in {result.seconds:.0f} s",
        f"  faults: {', '.join(result.faults_done) or 'none done'}",
        f"  Dinero: {plan.dinero.describe()}; fired: "
        + (", ".join(f"{n} {k}" for k, n in sorted(result.dinero_faults.items())) or "none"),
    ]
    rows = [
        [
            s.shop.name,
            f"{s.shop.settings['booking_mode']} on {s.shop.settings['trigger']}",
            s.shop.orders,
            s.postings,
            _ledger(s.ledger),
            s.comparison.documents,
            s.comparison.duplicates,
            s.comparison.missing,
            s.comparison.unexpected,
            len(s.dead_letters),
            f"{s.comparison.emails[1]}/{s.comparison.emails[0]}",
            "equal" if s.comparison.balance_equal else "DIFFERENT",
        ]
        for s in result.shops
    ]
    header = [
        "shop",
        "booking",
        "orders",
        "postings",
        "ledger",
        "documents",
        "duplicates",
        "missing",
        "unexpected",
        "dead letters",
        "e-mails",
        "trial balance",
    ]
    lines += ["  " + line for line in table(header, rows)]
    for shop in result.shops:
        for difference in shop.comparison.differences:
            lines.append(f"  {shop.tenant}: {difference}")
        for dead in shop.dead_letters:
            lines.append(
                f"  dead letter of {dead['tenant_id']} on {dead['topic']}: {dead['reason']}"
                f" ({str(dead.get('detail') or '')[:160]})"
            )
    if result.refused:
        lines.append(f"  refused by ingest: {', '.join(result.refused)}")
    if result.error:
        lines.append(f"  error: {result.error}")
    if not result.ok:
        lines.append(f"  logs: {result.workdir}")
    return lines


def summary(results: Sequence[RunResult]) -> list[str]:
    rows = []
    for n, r in enumerate(results, 1):
        kills = [k.service for k in r.plan.kills if k.describe() in r.faults_done]
        fired = r.dinero_faults
        rows.append(
            [
                n,
                r.plan.seed,
                len(r.plan.shops),
                sum(s.orders for s in r.plan.shops),
                ", ".join(kills) or "-",
                _restart(r, "kafka"),
                _restart(r, "postgres"),
                fired["error"],
                fired["drop_after_commit"],
                fired["hang"],
                sum(s.comparison.documents for s in r.shops),
                sum(s.comparison.duplicates for s in r.shops),
                sum(s.comparison.missing + s.comparison.unexpected for s in r.shops),
                sum(len(s.dead_letters) for s in r.shops),
                f"{sum(s.comparison.balance_equal for s in r.shops)}/{len(r.plan.shops)}",
                "OK" if r.ok else "FAILED",
            ]
        )
    header = [
        "run",
        "seed",
        "shops",
        "orders",
        "killed",
        "kafka",
        "postgres",
        "5xx",
        "drops",
        "hangs",
        "documents",
        "duplicates",
        "missing",
        "dead letters",
        "balances equal",
        "result",
    ]
    shops = [s for r in results for s in r.shops]
    failed = [r.plan.seed for r in results if not r.ok]
    totals = (
        f"{len(results)} runs, {sum(len(r.plan.kills) for r in results)} kills, "
        f"{sum(len(r.plan.restarts) for r in results)} restarts of Kafka or PostgreSQL, "
        f"{sum(sum(r.dinero_faults.values()) for r in results)} Dinero faults; "
        f"{sum(s.comparison.documents for s in shops)} documents, "
        f"{sum(s.comparison.duplicates for s in shops)} duplicates, "
        f"{sum(s.comparison.missing + s.comparison.unexpected for s in shops)} missing, "
        f"{sum(len(s.dead_letters) for s in shops)} dead letters, "
        f"{sum(s.comparison.balance_equal for s in shops)}/{len(shops)} trial balances equal"
    )
    verdict = f"FAILED: seeds {', '.join(map(str, failed))}" if failed else "all OK"
    return [*table(header, rows), "", f"{totals}: {verdict}"]
