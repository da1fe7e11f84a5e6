"""`om kpi` and `om kpi csat import`: the handbook's KPIs without a spreadsheet.

`om kpi` first brings the reporting store up to date from Temporal (the
projection of om.reporting; `--no-sync` skips it, e.g. when Temporal is
down or the store is fed by the scheduled projection), then computes every
KPI for the period (domain.kpi) and prints a table per KPI with its target
and whether it is met; `--json` prints the same report as data.

Mounted by cli/main.py with `register(app)`. The reporting store
(SQLAlchemy), the KPI arithmetic and rich are imported by the commands.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cli.common import (
    RegionOpt,
    connect_temporal,
    console,
    emit,
    fail,
    json_flag,
    run_async,
)
from domain.regions import Region

if TYPE_CHECKING:
    from rich.table import Table

    from domain.kpi import Figure, KpiReport, KpiTargets, Period
    from om.reporting import ProjectionReport
    from om.reporting_store import ReportingStore
    from om.settings import Settings

T = TypeVar("T")
JsonOpt = Annotated[bool, json_flag("Print JSON instead of tables.")]

kpi_app = typer.Typer(
    help="The handbook's KPIs, from the reporting store (synced from Temporal first).",
    invoke_without_command=True,
)
csat_app = typer.Typer(help="Regional CSAT survey responses.", no_args_is_help=True)
kpi_app.add_typer(csat_app, name="csat")


def register(app: typer.Typer) -> None:
    """Add `kpi` (and `kpi csat import`) to the `om` app."""
    app.add_typer(kpi_app, name="kpi")
    app.command("simulate")(simulate)


# ---- shared ---------------------------------------------------------------------------


def _store_call(settings: Settings, work: Callable[[ReportingStore], T]) -> T:
    """Open the reporting store, run `work`, close it; a database that cannot be
    reached or a bad URL is one clear line, with any password hidden."""
    import sqlalchemy as sa

    from om.reporting_store import ReportingStore, reporting_url

    url = reporting_url(settings)
    try:
        shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        fail(f"reporting store: {url!r} is not a SQLAlchemy URL (OM_REPORTING_URL)")
    try:
        with ReportingStore(url) as store:
            return work(store)
    except sa.exc.SQLAlchemyError as error:
        fail(f"reporting store {shown}: {str(error).splitlines()[0]}")
    except ImportError as error:  # the URL's database driver, e.g. psycopg for PostgreSQL
        fail(f"reporting store {shown}: its database driver is not installed ({error})")
    raise AssertionError("unreachable")


async def _sync(store: ReportingStore) -> ProjectionReport:
    from domain.errors import Unavailable
    from om.reporting import project_all
    from om.settings import load_settings

    try:
        client = await connect_temporal(load_settings())
    except Unavailable as error:
        raise Unavailable(f"{error}; or report from the store as it is with --no-sync") from error
    return await project_all(client, store)


def _targets(settings: Settings, region: Region | None) -> KpiTargets:
    """The published targets, with the approval SLA from the calendar policy
    (the longest regional SLA when no region is chosen and they differ)."""
    from domain.kpi import KpiTargets

    regions = [region] if region else list(Region)
    hours = max(settings.calendar.hours_for(r).sla_business_hours for r in regions)
    return KpiTargets(sla_business_hours=hours)


# ---- om kpi ------------------------------------------------------------------------------


@kpi_app.callback()
def kpi(
    ctx: typer.Context,
    start: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD)."),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, inclusive (YYYY-MM-DD)."),
    ] = None,
    quarter: Annotated[
        str | None,
        typer.Option(
            "--quarter",
            help="Calendar quarter, e.g. 2026Q4 = Oct-Dec; FY2027Q4 for GitLab's fiscal "
            "quarter (Nov-Jan).",
        ),
    ] = None,
    fiscal: Annotated[
        bool,
        typer.Option("--fiscal", help="Read --quarter as a GitLab fiscal quarter.", metavar=""),
    ] = False,
    region: RegionOpt = None,
    no_sync: Annotated[
        bool,
        typer.Option(
            "--no-sync", help="Report from the store as it is; do not read Temporal.", metavar=""
        ),
    ] = False,
    as_json: JsonOpt = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also write each report chart as SVG into this folder."),
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option("--csv", help="Also write each report chart's table as CSV into this folder."),
    ] = None,
) -> None:
    """KPIs for a period: approval SLA, first response, accuracy, rejections,
    Closed Won, license delivery and regional CSAT, each against its target.

    A review round counts in the period of its SLA clock start; without a
    period, everything recorded is reported.
    """
    if ctx.invoked_subcommand is not None:
        return
    from domain.kpi import PeriodError, date_period, kpi_report, quarter_period
    from om.settings import load_settings

    if quarter and (start or end):
        fail("give either --quarter or --from/--to, not both")
    if fiscal and not quarter:
        fail("--fiscal reads --quarter as a fiscal quarter: give --quarter too")
    try:
        period = (
            quarter_period(quarter, fiscal)
            if quarter
            else date_period(start.date() if start else None, end.date() if end else None)
        )
    except PeriodError as error:
        fail(str(error))
    settings = load_settings()

    def work(store: ReportingStore) -> KpiReport:
        if not no_sync:
            synced = run_async(lambda: _sync(store))
            _print_sync(synced, as_json)
        rounds = store.review_rounds(period.start, period.end, region)
        if plot is not None or csv_dir is not None:
            _write_charts(store, settings, period, region, plot, csv_dir)
        return kpi_report(rounds, store.csat(), period, region, _targets(settings, region))

    report = _store_call(settings, work)
    emit(report, as_json, lambda: print_report(report))


def _write_charts(
    store: ReportingStore,
    settings: Settings,
    period: Period,
    region: Region | None,
    plot: Path | None,
    csv_dir: Path | None,
) -> None:
    """The manager's report charts (the console's reports page) as files:
    `<chart>.svg` into `plot`, `<chart>.csv` into `csv_dir`."""
    from om.charts import charts
    from om.manager_reports import build_report

    regions = (region,) if region else tuple(Region)
    drawn = charts(build_report(store, settings, period, regions, datetime.now(UTC)))
    for folder, suffix in ((plot, "svg"), (csv_dir, "csv")):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for chart in drawn:
                text = chart.svg if suffix == "svg" else chart.csv()
                (folder / f"{chart.name}.{suffix}").write_text(text, encoding="utf-8")
        except OSError as error:
            fail(
                f"cannot write the {suffix.upper()} files into {folder}: {error.strerror or error}"
            )
        typer.echo(f"wrote {len(drawn)} {suffix.upper()} files into {folder}", err=True)


def _print_sync(synced: ProjectionReport, as_json: bool) -> None:
    """One line on what the projection did (stderr: stdout stays the report)."""
    typer.echo(
        f"synced from Temporal: {synced.listed} approval workflow runs, "
        f"{synced.projected} read, {synced.unchanged} closed and unchanged, "
        f"{synced.transitions_added} new transitions"
        + (f", {len(synced.failed)} failed" if synced.failed else ""),
        err=True,
    )
    for run, why in synced.failed.items():
        typer.echo(f"  not projected: {run}: {why}", err=True)


# ---- rendering --------------------------------------------------------------------------


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "hours":
        return f"{value:.2f} business h"
    return f"{value:.1f} days"


def _target(figure: Figure) -> str:
    if figure.target is None:
        return figure.note or "no target"
    return ("≥ " if figure.higher_is_better else "≤ ") + _value(figure.target, figure.unit)


def _status(figure: Figure) -> str:
    if figure.met is None:
        return "n/a" if figure.target is not None else ""
    return "[green]met[/green]" if figure.met else "[red]missed[/red]"


def _figures(title: str, rows: list[tuple[str, Figure]], caption: str = "") -> Table:
    from rich.table import Table

    grid = Table("figure", "value", "target", "status", "basis", title=title, title_justify="left")
    for label, figure in rows:
        grid.add_row(
            label,
            _value(figure.value, figure.unit),
            _target(figure),
            _status(figure),
            str(figure.basis),
        )
    if caption:
        grid.caption, grid.caption_justify = caption, "left"
    return grid


def _or_none(grid: Table) -> Table:
    """An empty breakdown says so instead of showing a bare header."""
    if not grid.row_count:
        grid.add_row("(none in this period)", *[""] * (len(grid.columns) - 1))
    return grid


def print_report(report: KpiReport) -> None:
    """A Rich table per KPI, each figure with its target and met / missed."""
    from rich.markup import escape
    from rich.table import Table

    out = console(width=200, highlight=False, soft_wrap=True)
    where = f", region {report.region}" if report.region else ", all regions"
    out.print(
        f"[bold]KPIs for {escape(report.period)}[/bold]{where}: {report.rounds} review rounds"
    )
    sla = report.sla
    out.print(
        _figures(
            "Approval SLA (Order Management review rounds)",
            [
                ("decided within the SLA", sla.share_within),
                ("median time to decision", sla.median_hours),
                ("p90 time to decision", sla.p90_hours),
            ],
            f"{sla.decided} decided ({sla.within} within the SLA), {sla.pending} pending "
            f"({sla.pending_breached} breached), {sla.unmeasured} without recorded business time",
        )
    )
    out.print(
        _figures(
            "First response",
            [("average, first round", report.first_response.average_hours)],
        )
    )
    accuracy = report.accuracy
    out.print(
        _figures(
            "Approval accuracy",
            [("1 - Billing rejections / approvals", accuracy.accuracy)],
            f"{accuracy.om_approvals} approvals sent to Billing, {accuracy.finance_rejections} "
            f"rejected by Billing, {accuracy.awaiting_billing} awaiting Billing",
        )
    )
    overrides = report.overrides
    grid = Table(
        "specialist",
        "overridden approvals",
        title=f"Hard-finding overrides ({overrides.approvals} approvals; "
        f"{overrides.billing_rejected} later rejected by Billing, "
        f"{overrides.awaiting_billing} awaiting Billing)",
        title_justify="left",
    )
    for specialist, count in overrides.by_specialist.items():
        grid.add_row(escape(specialist), str(count))
    if overrides.by_code:
        grid.caption = "codes overridden: " + ", ".join(
            f"{i.code} ({i.count})" for i in overrides.by_code
        )
        grid.caption_justify = "left"
    out.print(_or_none(grid))
    rejections = report.rejections
    grid = Table(
        "reason code",
        "rejections",
        title=f"Opportunity Rejections ({rejections.rejections} by Order Management, "
        f"{rejections.automatic} automatic)",
        title_justify="left",
    )
    for item in rejections.by_reason:
        grid.add_row(item.code, str(item.count))
    out.print(_or_none(grid))
    grid = Table("region", "top reasons", title="Top rejection reasons per region")
    grid.title_justify = "left"
    for region, top in rejections.top_by_region.items():
        grid.add_row(region, ", ".join(f"{i.code} ({i.count})" for i in top))
    if rejections.billing_rejections:
        grid.caption = f"Billing rejected {rejections.billing_rejections}: " + ", ".join(
            f"{i.code} ({i.count})" for i in rejections.billing_by_reason
        )
        grid.caption_justify = "left"
    out.print(_or_none(grid))
    won = report.closed_won
    grid = Table("region / specialist", "Closed Won", title=f"Closed Won ({won.total})")
    grid.title_justify = "left"
    for region, count in won.by_region.items():
        grid.add_row(region, str(count))
    for specialist, count in won.by_specialist.items():
        grid.add_row(f"  {escape(specialist)}", str(count))
    out.print(_or_none(grid))
    lic = report.license_delivery
    out.print(
        _figures(
            "License delivery (self-managed Closed Won)",
            [
                ("delivered automatically", lic.automatic_share),
                ("median days Closed Won to delivery", lic.median_days_to_delivery),
            ],
            f"{lic.closed_won_self_managed} deals: {lic.delivered_automatically} automatic, "
            f"{lic.with_ticket} with a Support ticket, {lic.awaiting} awaiting; "
            f"{lic.tickets_opened} tickets opened",
        )
    )
    grid = Table(
        "region",
        "responses",
        *report.csat.overall.answers,
        "rating",
        "target",
        "status",
        title="Regional CSAT: (Excellent + Good + Neutral) / all",
        title_justify="left",
    )
    for region, csat in [*report.csat.by_region.items(), ("all", report.csat.overall)]:
        grid.add_row(
            region,
            str(csat.responses),
            *(str(n) for n in csat.answers.values()),
            _value(csat.rating.value, "share") if csat.responses else "no responses",
            _target(csat.rating),
            _status(csat.rating),
        )
    out.print(grid)
    for note in report.notes:
        out.print(f"note: {escape(note)}")


# ---- om kpi csat import ----------------------------------------------------------------------


@csat_app.command("import")
def csat_import(
    file: Annotated[Path, typer.Argument(help="CSV with columns region, quarter, response.")],
    as_json: JsonOpt = False,
) -> None:
    """Import CSAT survey responses; a bad row stops the import (nothing is stored)
    and names its line and column. Importing the same file again adds nothing.

    Answers: Excellent, Good, Neutral, Poor, Very Poor (any case); regions AMER,
    EMEA, APAC; quarters like 2026Q4 or FY2027Q4; other columns are ignored.
    A sample survey export: docs/examples/csat-2026Q4.csv in the repository."""
    from domain.kpi import CsatImportError, parse_csat_csv
    from om.settings import load_settings

    try:
        raw = file.read_bytes()
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror or error}")
    try:
        responses = parse_csat_csv(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text; save the survey export as CSV UTF-8")
    except CsatImportError as error:
        fail(f"{file}: {error}; nothing imported")
    source = hashlib.sha256(raw).hexdigest()
    now = datetime.now(UTC)
    added = _store_call(load_settings(), lambda store: store.add_csat(responses, source, now))
    result = {
        "file": str(file),
        "sha256": source,
        "responses": len(responses),
        "added": added,
        "already_imported": len(responses) - added,
    }
    emit(
        result,
        as_json,
        f"imported {added} CSAT responses from {file}"
        + (f" ({result['already_imported']} already imported)" if added < len(responses) else ""),
    )


# ---- om simulate ----------------------------------------------------------------------------


def simulate(
    policy_file: Annotated[
        Path,
        typer.Option(
            "--policy",
            help='Policy JSON: {"calendar": {"regions": {"AMER": {"sla_business_hours": 10, '
            '"cutoff": "16:00", "time_zone": ..., "open": ..., "close": ..., '
            '"extra_closures": [...]}}}, "cover_business_days": 2}; only what differs.',
        ),
    ],
    period_text: Annotated[
        str,
        typer.Option(
            "--period", help="2026Q4 (calendar), FY2027Q4 (fiscal) or 2026-10-01..2026-12-31."
        ),
    ],
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-evaluate a period's recorded rounds under another policy: per region,
    SLA attainment, breaches and median business hours, actual and simulated.

    Decision instants stay as recorded; only the clock changes. Reads the
    reporting store as it is (run `om kpi` first to sync it from Temporal)."""
    import json

    from pydantic import ValidationError

    from cli.common import describe_validation_error
    from domain.kpi import PeriodError
    from domain.reports import parse_period
    from domain.simulate import SimulationPolicy
    from om.manager_reports import simulate_period
    from om.settings import load_settings

    try:
        period = parse_period(period_text)
    except PeriodError as error:
        fail(f"--period: {error}")
    try:
        raw = json.loads(policy_file.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"cannot read {policy_file}: {error.strerror or error}")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        fail(f"{policy_file}: not JSON ({error})")
    try:
        policy = SimulationPolicy.model_validate(raw)
    except ValidationError as error:
        fail(f"{policy_file}: " + describe_validation_error(error, "policy"))
    regions = (region,) if region else tuple(Region)
    result = _store_call(
        load_settings(), lambda store: simulate_period(store, policy, period, regions)
    )
    emit(result, as_json, lambda: _print_simulation(result))


def _print_simulation(result: Any) -> None:
    from rich.table import Table

    out = console(width=160, highlight=False, soft_wrap=True)
    grid = Table(
        "region",
        "decided",
        "attainment actual",
        "attainment simulated",
        "breaches actual",
        "breaches simulated",
        "median h actual",
        "median h simulated",
        title=f"Policy simulation for {result.period}",
        title_justify="left",
    )
    for r in result.regions:
        grid.add_row(
            r.region,
            str(r.simulated.decided),
            _value(r.actual.attainment, "share"),
            _value(r.simulated.attainment, "share"),
            str(r.actual.breaches),
            str(r.simulated.breaches),
            _value(r.actual.median_hours, "hours"),
            _value(r.simulated.median_hours, "hours"),
        )
    out.print(_or_none(grid))
    if result.skipped:
        out.print(f"{result.skipped} decided rounds without a recorded submission were left out")
    out.print(f"note: {result.note}")
