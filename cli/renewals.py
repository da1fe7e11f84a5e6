"""`om renewals reconcile`: the weekly renewal / subscription reconciliation, now.

Runs the same `activities.renewals.reconcile_and_apply` as the Schedule's
activity, directly against Salesforce (no Temporal needed), so an operator
can look before the Monday run or finish a run that failed. `--dry-run`
only reports; without it the fixes are written and the apply report is
printed. Rerunning is always safe: every fix is idempotent.

Mounted by cli/main.py with `register(app)`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import JsonOpt, console, emit, fail

if TYPE_CHECKING:
    from rich.progress import TaskID

    from domain.reconciliation import DiscrepancyRow, RenewalsRun

CSV_COLUMNS = ("code", "subscription_id", "opportunity_id", "message")


def register(app: typer.Typer) -> None:
    """Add `renewals reconcile` to the `om` app."""
    renewals_app = typer.Typer(
        help="Weekly renewal / subscription reconciliation.", no_args_is_help=True
    )
    renewals_app.command("reconcile")(reconcile)
    app.add_typer(renewals_app, name="renewals")


def reconcile(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report only; write nothing to Salesforce.")
    ] = False,
    as_json: JsonOpt = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write the discrepancies to this CSV file.")
    ] = None,
) -> None:
    """Compare subscriptions with their renewal opportunities and fix what differs."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from activities.renewals import reconcile_and_apply
    from cli.errors import describe_service_error
    from domain.errors import OmError
    from om.settings import load_settings

    settings = load_settings()
    # The bar goes to stderr so `--json` output stays parseable.
    bar_console = Console(stderr=True, highlight=False)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}"),
            TimeElapsedColumn(),
            console=bar_console,
            transient=True,
            disable=as_json or not bar_console.is_terminal,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(what: str, count: int) -> None:
                if what not in tasks:
                    tasks[what] = bar.add_task(
                        f"reading {what}" if what != "applied" else "applying", total=None
                    )
                bar.update(tasks[what], completed=count)

            run = reconcile_and_apply(settings, apply=not dry_run, progress=progress)
    except OmError as error:
        fail(describe_service_error(error, settings) or str(error))
    if csv_file is not None:
        try:
            _write_csv(csv_file, run.discrepancies)
        except OSError as error:
            fail(f"cannot write {csv_file}: {error}")
    emit(run, as_json, lambda: _render(run))


def _write_csv(path: Path, rows: list[DiscrepancyRow]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([getattr(row, c) or "" for c in CSV_COLUMNS])


def summary(run: RenewalsRun) -> str:
    counts = ", ".join(f"{code} {n}" for code, n in sorted(run.counts.items())) or "none"
    return (
        f"{run.mode}: {run.subscriptions_read} subscriptions, {run.renewals_read} renewals read; "
        f"{run.total} discrepancies ({counts})"
    )


def _render(run: RenewalsRun) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console(highlight=False)
    out.print(escape(summary(run)))
    if run.discrepancies:
        table = Table()
        for column in ("Code", "Subscription", "Opportunity", "Message"):
            table.add_column(column)
        for d in run.discrepancies:
            table.add_row(
                d.code, d.subscription_id or "", d.opportunity_id or "", escape(d.message)
            )
        out.print(table)
    applied = run.applied
    if applied is not None:
        out.print(
            f"applied: {len(applied.created)} renewals created, "
            f"{len(applied.already_present)} already present, "
            f"{applied.marked_duplicate} duplicates marked, "
            f"{applied.arr_basis_fixed} ARR bases and {applied.start_date_fixed} start dates "
            f"corrected, {applied.orphans_reported} orphans left for a person, "
            f"{applied.failed_count} failed ({applied.calls} batch calls)"
        )
        for record_id, error in applied.failed.items():
            out.print(f"  failed {record_id}: {escape(error)}")
