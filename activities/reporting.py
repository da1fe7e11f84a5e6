"""The reporting projection as an activity, run by the
`om-reporting-projection` Schedule.

The projection (histories into the KPI store) is a client-side service
(`om.reporting.run_projection`) that `om kpi` runs too; the worker hands it
in, so this module stays a thin activity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from temporalio import activity

from domain.messages import ActivityName


class ReportingActivities:
    """`project` is the worker's bound `om.reporting.run_projection`."""

    def __init__(self, project: Callable[[], Awaitable[BaseModel]]) -> None:
        self._project = project

    @activity.defn(name=ActivityName.PROJECT_REPORTING)
    async def project(self) -> None:
        report = await self._project()
        activity.logger.info("reporting projection: %s", report.model_dump_json())
