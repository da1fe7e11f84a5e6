"""The console's reports page: the manager's Key Reports and KPIs as charts.

Charts are SVG drawn on the server (`om.charts`, pygal) and inlined in the
page, each with its numbers in a table beside it and a CSV download, so
nothing needs JavaScript or a CDN. The period is a calendar quarter, a
fiscal quarter or a date range; the region one the reader may read, or all
of theirs. The simulator form posts a policy JSON and shows the actual and
the simulated SLA figures side by side.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.console.shared import (
    PREFIX,
    InlineError,
    first,
    page,
    signed_form,
    signed_in,
    to_login,
)
from api.reports import PERIOD_HELP, reporting_store
from domain.authorization import Forbidden, report_regions
from domain.kpi import Period, PeriodError, quarter_period
from domain.models import Region
from domain.policy import RosterUser
from domain.reports import parse_period
from domain.simulate import SAME_DECISIONS, SimulationPolicy
from om.charts import LISTS, charts
from om.manager_reports import build_report, simulate_period

router = APIRouter(prefix=PREFIX, include_in_schema=False)

LIST_ROWS = 100
"""Rows a page lists of breaches, Billing rejections, long-open tickets and
reviews due today (a bad quarter has hundreds; the CSV has them all)."""
EXAMPLE_POLICY = (
    '{"calendar": {"regions": {"AMER": {"sla_business_hours": 10, "cutoff": "16:00"}}}}'
)


def _default_period(now: datetime) -> str:
    return quarter_period(f"{now.year}Q{(now.month - 1) // 3 + 1}").label


def _scope(
    user: RosterUser, period_text: str, region_text: str
) -> tuple[Period | None, tuple[Region, ...], InlineError | None]:
    region: Region | None = None
    if region_text:
        try:
            region = Region(region_text)
        except ValueError:
            return (
                None,
                (),
                InlineError(422, f"unknown region {region_text!r}: use AMER, EMEA or APAC"),
            )
    try:
        regions = report_regions(user.role, user.regions, region)
    except Forbidden as error:
        return None, (), InlineError(403, str(error))
    try:
        return parse_period(period_text), regions, None
    except PeriodError as error:
        return None, regions, InlineError(422, f"period: {error}")


def _render(
    request: Request,
    user: RosterUser,
    period_text: str,
    region_text: str,
    policy_text: str = "",
    simulation: Any = None,
    error: InlineError | None = None,
) -> Response:
    period, regions, refused = _scope(user, period_text, region_text)
    error = error or refused
    report, drawn = None, []
    if period is not None and refused is None:
        report = build_report(
            reporting_store(request), request.app.state.settings, period, regions, datetime.now(UTC)
        )
        drawn = charts(report)
    return page(
        request,
        "reports.html",
        user,
        status_code=error.status if error else 200,
        error=error,
        report=report,
        charts=drawn,
        period=period_text,
        region=region_text,
        regions=[r.value for r in Region],
        period_help=PERIOD_HELP,
        policy_text=policy_text or EXAMPLE_POLICY,
        simulation=simulation,
        same_decisions=SAME_DECISIONS,
        list_rows=LIST_ROWS,
    )


@router.get("/reports")
def reports(request: Request) -> Response:
    user = signed_in(request)
    if user is None:
        return to_login(request)
    query = request.query_params
    period = (query.get("period") or "").strip() or _default_period(datetime.now(UTC))
    return _render(request, user, period, (query.get("region") or "").strip().upper())


@router.get("/reports/{name}.csv")
def report_csv(request: Request, name: str) -> Response:
    """One chart's table as CSV, for the same period and region as the page."""
    user = signed_in(request)
    if user is None:
        return to_login(request)
    query = request.query_params
    period_text = (query.get("period") or "").strip() or _default_period(datetime.now(UTC))
    period, regions, refused = _scope(
        user, period_text, (query.get("region") or "").strip().upper()
    )
    if refused is not None or period is None:
        status = refused.status if refused else 422
        return Response(
            refused.message if refused else "bad period", status, media_type="text/plain"
        )
    report = build_report(
        reporting_store(request), request.app.state.settings, period, regions, datetime.now(UTC)
    )
    found = next((c for c in charts(report) if c.name == name), None)
    if name in LISTS:
        found = LISTS[name](report)
    if found is None:
        return Response(f"no chart named {name!r}", 404, media_type="text/plain")
    filename = f"{name}-{period.label}.csv".replace(" ", "_").replace("/", "-")
    return Response(
        found.csv(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/reports/simulate")
async def simulate(request: Request) -> Response:
    """The simulator form: a policy JSON over the page's period and region."""
    checked = await signed_form(request)
    if isinstance(checked, Response):
        return checked
    user, form = checked
    period_text, region_text = first(form, "period"), first(form, "region").upper()
    policy_text = first(form, "policy")
    try:
        policy = SimulationPolicy.model_validate(json.loads(policy_text or "{}"))
    except json.JSONDecodeError as error:
        failure = InlineError(422, f"policy: not JSON ({error.msg} at line {error.lineno})")
        return _render(request, user, period_text, region_text, policy_text, error=failure)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        failure = InlineError(422, f"policy: {where}: {problem['msg']}")
        return _render(request, user, period_text, region_text, policy_text, error=failure)
    period, regions, refused = _scope(user, period_text, region_text)
    if refused is not None or period is None:
        return _render(request, user, period_text, region_text, policy_text)
    result = simulate_period(reporting_store(request), policy, period, regions)
    return _render(request, user, period_text, region_text, policy_text, simulation=result)
