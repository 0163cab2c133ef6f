"""The reconcile report: a Rich table per tenant for people, JSON for machines."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bogfoer_cli.reconcile.findings import MEANING, Finding
from bogfoer_rules.totals import format_minor


@dataclass
class TenantReport:
    tenant: str
    organization_id: int | None
    events: int = 0
    expected: int = 0  # postings the rules derive in the range (contacts not counted)
    ledger: int = 0
    documents: int = 0  # our documents Dinero holds in the range
    dinero_calls: int = 0
    findings: list[Finding] = field(default_factory=list)
    trial_balance: list[tuple[int, int, int]] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None  # why the tenant could not be reconciled, if so

    @property
    def calls_per_1000(self) -> float:
        reconciled = max(self.expected, self.documents)
        return round(self.dinero_calls * 1000 / reconciled, 1) if reconciled else 0.0

    def differs(self) -> bool:
        return bool(self.findings) or self.note is not None


@dataclass
class Report:
    first: dt.date
    last: dt.date
    tenants: list[TenantReport] = field(default_factory=list)
    unreadable_events: int = 0

    def differs(self) -> bool:
        return any(t.differs() for t in self.tenants)

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "differs": self.differs(),
            "unreadable_events": self.unreadable_events,
            "tenants": [
                {
                    "tenant": t.tenant,
                    "organization_id": t.organization_id,
                    "events_replayed": t.events,
                    "postings_expected": t.expected,
                    "ledger_postings": t.ledger,
                    "dinero_documents": t.documents,
                    "dinero_calls": t.dinero_calls,
                    "dinero_calls_per_1000_documents": t.calls_per_1000,
                    "note": t.note,
                    "counts": dict(Counter(f.klass for f in t.findings)),
                    "findings": [asdict(f) for f in t.findings],
                    "trial_balance": [
                        {"account": a, "expected": e, "actual": h, "difference": h - e}
                        for a, e, h in t.trial_balance
                    ],
                    "repairs": t.repairs,
                }
                for t in self.tenants
            ],
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), indent=2, sort_keys=True) + "\n")


_STYLE = {"remap": "cyan", "retry": "cyan", "person": "yellow", "none": "dim"}


def _kr(amount: int | None) -> str:
    return "" if amount is None else format_minor(amount)


def print_report(report: Report, console: Console) -> None:
    for t in report.tenants:
        console.rule(f"[bold]{t.tenant}[/] (Dinero organisation {t.organization_id or '?'})")
        console.print(
            f"{report.first} .. {report.last}: {t.events} events replayed, {t.expected} postings "
            f"expected, {t.ledger} in the ledger, {t.documents} documents in Dinero; "
            f"{t.dinero_calls} Dinero calls ({t.calls_per_1000} per 1,000 documents)"
        )
        if t.note:
            console.print(f"[red]{t.note}[/]")
        if not t.findings:
            console.print("[green]No differences: Dinero, the ledger and the rules agree.[/]")
        else:
            table = Table(title=f"{len(t.findings)} difference(s)", show_lines=False)
            for column in ("class", "posting", "kind", "what", "repair"):
                table.add_column(column, overflow="fold")
            for f in sorted(t.findings, key=lambda f: (f.klass, f.posting_key or "")):
                table.add_row(
                    f.klass,
                    f.posting_key or (f"account {f.account}" if f.account else ""),
                    f.kind or "",
                    f.message,
                    f"[{_STYLE[f.repair]}]{f.repair}[/]",
                )
            console.print(table)
        moved = [row for row in t.trial_balance if row[1] != row[2]]
        if t.trial_balance:
            table = Table(title="Trial balance movement in the range (debit +, credit -, DKK)")
            for column in ("account", "expected", "in Dinero", "difference"):
                table.add_column(column, justify="right")
            for account, expected, actual in t.trial_balance:
                style = "red" if (account, expected, actual) in moved else ""
                table.add_row(
                    str(account),
                    _kr(expected),
                    _kr(actual),
                    _kr(actual - expected) if actual != expected else "",
                    style=style,
                )
            console.print(table)
        people = [f for f in t.findings if f.repair == "person"]
        if people:
            console.print("[bold yellow]Only a person can fix:[/]")
            for f in people:
                console.print(f"  - {f.posting_key or ''}: {f.message} ({MEANING[f.klass]})")
        if t.repairs:
            console.print(f"[cyan]Asked the pipeline for {len(t.repairs)} repair(s):[/]")
            for r in t.repairs:
                console.print(f"  - {r['action']} {r['posting_key']}")
    if report.unreadable_events:
        console.print(
            f"{report.unreadable_events} record(s) on the topic are not valid events "
            "(the mapper dead-lettered them; see the ledger's dead letters)."
        )
    verdict = "[red]Differences found.[/]" if report.differs() else "[green]All agree.[/]"
    console.print(verdict)
