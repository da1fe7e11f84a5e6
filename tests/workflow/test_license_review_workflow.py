"""LicenseReviewWorkflow on the time-skipping server: the real business-day
local activity (with a policy that makes today a holiday, or a working day)
and a stand-in review registered under the real activity name."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from activities.license_review import LicenseReviewActivities
from domain.calendar import CalendarPolicy
from domain.license_review import LicenseReviewReport
from domain.messages import ActivityName
from domain.models import Region
from om.settings import Settings
from tests.clock import clock_now, clock_today
from tests.replay.record import record_if_asked
from workflows.license_review import LicenseReviewWorkflow


def around_today() -> list[date]:
    """Yesterday to tomorrow in UTC: covers the region's local today."""
    today = clock_today()
    return [today + timedelta(days=d) for d in (-1, 0, 1)]


async def review_with(env, calendar: dict) -> tuple[LicenseReviewReport, list[Region], object]:
    settings = Settings(calendar=CalendarPolicy.model_validate({"regions": {"APAC": calendar}}))
    calls: list[Region] = []

    @activity.defn(name=ActivityName.LICENSE_REVIEW_RUN)
    async def run(region: Region) -> LicenseReviewReport:
        calls.append(region)
        return LicenseReviewReport.build(region, clock_now(), clock_today(), [])

    task_queue = f"license-review-{uuid.uuid4()}"
    policy = LicenseReviewActivities(settings, env.client)
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[LicenseReviewWorkflow],
        activities=[run, policy.business_day],
    ):
        handle = await env.client.start_workflow(
            LicenseReviewWorkflow.run, Region.APAC, id=task_queue, task_queue=task_queue
        )
        report = await handle.result()
    return report, calls, handle


async def test_holiday_skips_the_review_with_an_empty_report(isolated_time_skipping_env, request):
    report, calls, handle = await review_with(
        isolated_time_skipping_env, {"extra_closures": around_today()}
    )
    await record_if_asked(isolated_time_skipping_env.client, [handle.id], request.node.name)
    assert calls == []
    assert (report.region, report.business_day, report.items) == (Region.APAC, False, [])
    assert report.run_date in around_today()
    # The answer is recorded in history (a local activity marker), not recomputed on replay.
    history = await handle.fetch_history()
    assert any(e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED for e in history.events)


async def test_business_day_runs_the_review(isolated_time_skipping_env, request):
    report, calls, handle = await review_with(
        isolated_time_skipping_env, {"extra_working_days": around_today()}
    )
    await record_if_asked(isolated_time_skipping_env.client, [handle.id], request.node.name)
    assert calls == [Region.APAC]
    assert report.business_day is True
