"""`GET /reports/kpi`: the manager's reports for a period as JSON.

The same figures as the console's reports page and `om kpi --plot/--csv`
(`om.manager_reports.build_report`), for whoever may read the region:
managers and Order Management their own regions, auditors and Billing every
region (`domain.authorization.report_regions`). The reporting store is
opened once per app, on first use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from api.authz import ReportReader, parsed_body
from api.contract import json_body
from api.errors import error_responses
from domain.authorization import Forbidden, report_regions
from domain.kpi import Period, PeriodError
from domain.models import Region
from domain.policy import RosterUser
from domain.reports import ManagerReport, parse_period
from domain.simulate import Simulation, SimulationPolicy
from om.manager_reports import build_report, simulate_period
from om.reporting_store import ReportingStore

router = APIRouter(tags=["reports"])

PERIOD_HELP = (
    "A calendar quarter (2026Q4), a GitLab fiscal quarter (FY2027Q4 or FY27Q4) "
    "or a date range (2026-10-01..2026-12-31)"
)

PeriodQuery = Annotated[str, Query(description=PERIOD_HELP, examples=["2026Q4"])]
RegionQuery = Annotated[
    Region | None, Query(description="One region; every region you may read when absent")
]


def reporting_store(request: Request) -> ReportingStore:
    """The app's reporting store, opened on first use."""
    state = request.app.state
    store: ReportingStore | None = getattr(state, "reporting_store", None)
    if store is None:
        store = state.reporting_store = ReportingStore.from_settings(state.settings)
    return store


def scope(
    user: RosterUser, period: str, region: Region | None
) -> tuple[Period, tuple[Region, ...]]:
    """The period and regions of a report request, or the HTTP refusal."""
    try:
        regions = report_regions(user.role, user.regions, region)
    except Forbidden as error:
        raise HTTPException(403, str(error)) from None
    try:
        return parse_period(period), regions
    except PeriodError as error:
        raise HTTPException(422, f"period: {error}") from None


@router.get("/reports/kpi", response_model=ManagerReport, responses=error_responses(401, 403, 422))
def kpi_reports(
    request: Request,
    user: ReportReader,
    period: PeriodQuery,
    region: RegionQuery = None,
) -> ManagerReport:
    """The handbook's Key Reports and KPIs for a period: SLA per week with
    breaches, approval accuracy per month with Billing's rejections,
    rejections by reason and region, Closed Won, first response, CSAT,
    license delivery, escalations and the workload now."""
    chosen, regions = scope(user, period, region)
    settings = request.app.state.settings
    return build_report(reporting_store(request), settings, chosen, regions, datetime.now(UTC))


@router.post(
    "/reports/simulate",
    response_model=Simulation,
    responses=error_responses(401, 403, 422),
    openapi_extra=json_body(SimulationPolicy),
)
async def simulate(
    request: Request,
    user: ReportReader,
    period: PeriodQuery,
    region: RegionQuery = None,
) -> Simulation:
    """The period's recorded decisions under another calendar policy, per
    region beside the actual. Decision instants stay as recorded; only the
    clock changes. The body is read after the caller is authorized."""
    chosen, regions = scope(user, period, region)
    policy = await parsed_body(request, SimulationPolicy)
    # The simulation is CPU work: off the event loop, as a plain `def` route would be.
    return await run_in_threadpool(
        simulate_period, reporting_store(request), policy, chosen, regions
    )
