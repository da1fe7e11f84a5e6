"""`om salesforce doctor`: check the connected org against what the project needs.

Mounted by cli/main.py with `register(app)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from cli.common import JsonOpt, emit, fail, settings_or_fail

if TYPE_CHECKING:
    from om.salesforce_doctor import DoctorReport

_LABELS = {
    "present": "ok",
    "missing": "MISSING",
    "wrong_type": "WRONG TYPE",
    "no_access": "NO ACCESS",
}


def register(app: typer.Typer) -> None:
    """Add `salesforce doctor` to the `om` app."""
    salesforce_app = typer.Typer(help="The connected Salesforce org.", no_args_is_help=True)
    salesforce_app.command("doctor")(doctor)
    app.add_typer(salesforce_app, name="salesforce")


def doctor(as_json: JsonOpt = False) -> None:
    """Sign in with the configured settings, describe the objects the project
    uses and print one line per required field or permission; exit 1 when
    anything is missing, of the wrong type or not accessible."""
    from activities.errors import AdapterError
    from om.salesforce_doctor import run_doctor

    settings = settings_or_fail()
    try:
        report = run_doctor(settings.salesforce)
    except AdapterError as error:
        fail(f"salesforce doctor: {error}")
    emit(report, as_json, lambda: _show(report))
    if not report.ok:
        raise typer.Exit(1)


def _show(report: DoctorReport) -> None:
    width = max(len(c.item) for c in report.checks)
    for check in report.checks:
        typer.echo(f"{_LABELS[check.status]:<10} {check.item:<{width}}  {check.detail}")
    problems = sum(c.status != "present" for c in report.checks)
    typer.echo(
        "all required fields and permissions are present"
        if report.ok
        else f"{problems} problem(s): deploy the metadata (sf project deploy start -d salesforce) "
        "and assign the OM_Integration permission set"
    )
