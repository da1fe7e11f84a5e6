"""`om licenses review` and `om licenses report`: the daily license delivery review.

`review` runs the review now, directly (the same code the Schedule's
activity runs, without waiting for the region's opening), stores the report
and prints it; Temporal is still asked whether an opportunity's approval
workflow is running, so a deal in flight is left to its workflow.
`report` prints the latest stored report of each region.

Mounted by cli/main.py with `register(app)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import JsonOpt, connect_temporal, console, emit, fail, region_option, run_async
from domain.regions import Region

if TYPE_CHECKING:
    from domain.license_review import LicenseReviewReport

RegionOpt = Annotated[Region | None, region_option("One region, any case (default: every region).")]


def register(app: typer.Typer) -> None:
    """Add `licenses review` and `licenses report` to the `om` app."""
    licenses_app = typer.Typer(help="Daily license delivery review.", no_args_is_help=True)
    licenses_app.command("review")(review)
    licenses_app.command("report")(report)
    app.add_typer(licenses_app, name="licenses")


def review(region: RegionOpt = None, as_json: JsonOpt = False) -> None:
    """Run the license delivery review now and store its report."""
    from activities.license_review import LicenseReview, LicenseReviewStore, approval_running_check
    from om.settings import load_settings

    settings = load_settings()
    regions = [region] if region else list(Region)

    async def work() -> list[LicenseReviewReport]:
        client = await connect_temporal(settings)
        reviewer = LicenseReview(
            settings, approval_running_check(client), store=LicenseReviewStore(settings.home)
        )
        return [await reviewer.run(r) for r in regions]

    _show(run_async(work), as_json)


def report(region: RegionOpt = None, as_json: JsonOpt = False) -> None:
    """Print the latest stored license review report(s)."""
    from activities.license_review import LicenseReviewStore
    from om.settings import load_settings

    settings = load_settings()
    try:
        reports = LicenseReviewStore(settings.home).latest(region)
    except (OSError, ValueError) as error:
        fail(f"cannot read the stored license review reports: {error}")
    if not reports:
        where = f"for {region.value} " if region else ""
        fail(f"no license review report stored {where}yet: run `om licenses review`")
    _show(reports, as_json)


def _show(reports: list[LicenseReviewReport], as_json: bool) -> None:
    emit(reports, as_json, lambda: _render(reports))


def summary(report: LicenseReviewReport) -> str:
    """One line per run: what a person acts on first."""
    day = report.run_date.isoformat() if report.run_date else report.run_at.date().isoformat()
    head = f"{report.region.value} {day} (run {report.run_at:%Y-%m-%d %H:%M} UTC)"
    if not report.business_day:
        return f"{head}: not a business day, nothing reviewed"
    return (
        f"{head}: {len(report.items)} reviewed, {len(report.delivered_today)} delivered, "
        f"{len(report.tickets_opened)} tickets opened, "
        f"{len(report.tickets_open_over_n_days)} open > {report.open_days_threshold} "
        f"business days, {len(report.failed)} failed"
    )


def _render(reports: list[LicenseReviewReport]) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console(highlight=False)
    for report in reports:
        out.print(escape(summary(report)))
        if report.items:
            late = set(report.tickets_open_over_n_days)
            table = Table()
            for column in ("Opportunity", "Name", "Closed", "Outcome", "Ticket", "Days open"):
                table.add_column(column)
            for item in report.items:
                days = "" if item.business_days_open is None else str(item.business_days_open)
                if item.opportunity_id in late:
                    days = f"[bold red]{days} (> {report.open_days_threshold})[/]"
                ticket = "" if item.ticket_id is None else f"{item.ticket_id} {item.ticket_status}"
                table.add_row(
                    item.opportunity_id,
                    escape(item.name),
                    item.close_date.isoformat() if item.close_date else "",
                    item.outcome,
                    ticket,
                    days,
                )
            out.print(table)
        for opportunity_id, error in report.failed.items():
            out.print(f"  failed {opportunity_id}: {escape(error)}")
