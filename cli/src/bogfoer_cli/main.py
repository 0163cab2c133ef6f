"""`bogfoer`: the operator's command line.

    bogfoer reconcile --tenant nordlys-keramik --from 2026-11-01 --to 2026-11-30
    bogfoer reconcile --all --from 2026-11-01 --to 2026-11-30 --repair --json report.json
    bogfoer reconcile --all --days 31          # the 31 days up to yesterday (the CronJob)

Exit codes: 0 everything agrees; 1 differences found (repaired or not); 2 wrong usage;
3 Kafka, PostgreSQL or the settings could not be reached or read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console

from bogfoer_cli.reconcile.job import Request, run
from bogfoer_cli.reconcile.report import print_report
from bogfoer_cli.settings import ReconcileSettings

EXIT_AGREE, EXIT_DIFFERS, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

app = typer.Typer(
    help="Bogfør's operator command line.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Bogfør's operator command line (settings from BOGFOER_RECONCILE_*, see
    docs/operations.md)."""


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@app.command()
def reconcile(
    date_from: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD)")] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last day, included (YYYY-MM-DD)")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option("--days", help="Instead of --from/--to: the N days up to yesterday"),
    ] = None,
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", "-t", help="A tenant (repeatable)")
    ] = None,
    all_tenants: Annotated[
        bool, typer.Option("--all", help="Every tenant with settings on tenants.config.v1")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Re-drive what is missing or stuck and re-map what the settings fixed "
            "(through the normal pipeline); list what only a person can fix",
        ),
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here")
    ] = None,
    svg_path: Annotated[
        Path | None, typer.Option("--svg", help="Also save the printed report as a picture (SVG)")
    ] = None,
    stuck_after_hours: Annotated[
        float | None,
        typer.Option("--stuck-after", help="Hours before an unfinished posting is stuck"),
    ] = None,
) -> None:
    """Replay the topics, prove that Dinero, the ledger and the rules agree, repair what does not.

    Example: bogfoer reconcile --tenant nordlys-keramik --from 2026-11-01 --to 2026-11-30

    Exit codes: 0 all agree, 1 differences found, 2 wrong usage, 3 something unreachable.
    """
    if days is not None:
        if date_from or date_to or days < 1:
            raise typer.BadParameter("give --days N (N >= 1) or --from and --to, not both")
        last = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        first = last - dt.timedelta(days=days - 1)
    elif date_from and date_to:
        first, last = _date(date_from), _date(date_to)
    else:
        raise typer.BadParameter("give --from and --to (or --days)")
    if last < first:
        raise typer.BadParameter("--to is before --from")
    if bool(tenant) == all_tenants:
        raise typer.BadParameter("give --tenant T (one or more) or --all")
    console = Console(stderr=True)
    try:
        settings = ReconcileSettings()
    except ValidationError as exc:
        console.print(f"[red]Settings missing or wrong:[/] {exc}")
        raise typer.Exit(EXIT_UNREACHABLE) from exc
    if stuck_after_hours is not None:
        settings = settings.model_copy(update={"stuck_after_hours": stuck_after_hours})
    request = Request(tenant if tenant else None, first, last, repair)
    try:
        report = asyncio.run(run(settings, request, console, dt.datetime.now(dt.UTC)))
    except (OSError, KafkaError, asyncpg.PostgresError) as exc:
        console.print(f"[red]Could not reach or read Kafka or PostgreSQL:[/] {exc!r}")
        raise typer.Exit(EXIT_UNREACHABLE) from exc
    out = Console(record=svg_path is not None)
    print_report(report, out)
    if svg_path is not None:
        out.save_svg(str(svg_path), title="bogfoer reconcile")
    if json_path is not None:
        report.write_json(json_path)
    raise typer.Exit(EXIT_DIFFERS if report.differs() else EXIT_AGREE)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app()
