"""Intake: read opportunities from the CRM and start their workflows.

`om submit` does this for one id; `om dev` does it for the demo data on its
first start, as if each rep had clicked Submit for Approval; the poller
(`om intake poll`, and the `om-intake-poll` Schedule) does it for every
opportunity awaiting approval in Salesforce whose callout was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from activities.salesforce import SalesforceAdapter, soql_quote
from domain.errors import OmError
from domain.messages import PollReport
from domain.models import Opportunity
from domain.names import approval_workflow_id
from om.approvals import Approvals
from om.settings import Settings

AWAITING_STAGE = "7-Closing"
AWAITING_STATUS = "In Progress"


SubmittedAt = Callable[[Opportunity], datetime | None]
"""When an opportunity counts as submitted; None: now (the demo backdates one)."""


async def submit_from_crm(
    approvals: Approvals, opportunity_id: str, submitted_at: SubmittedAt | None = None
) -> tuple[str, bool]:
    """Read one opportunity from Salesforce and start (or find) its workflow."""
    adapter = SalesforceAdapter(approvals.settings.salesforce)
    opportunity = await asyncio.to_thread(adapter.read_opportunity, opportunity_id)
    return await approvals.submit(opportunity, submitted_at(opportunity) if submitted_at else None)


async def _ids_in_stage(settings: Settings, stage: str, status: str | None = None) -> list[str]:
    fields = settings.salesforce.fields
    soql = f"SELECT Id FROM Opportunity WHERE {fields.stage} = {soql_quote(stage)}"
    if status is not None:
        soql += f" AND {fields.approval_status} = {soql_quote(status)}"
    adapter = SalesforceAdapter(settings.salesforce)
    rows = await asyncio.to_thread(adapter.query, soql + " ORDER BY Id")
    return [row["Id"] for row in rows]


async def poll_once(approvals: Approvals) -> PollReport:
    """Start a workflow for every opportunity awaiting approval in Salesforce
    (7-Closing, In Progress) that has none running: a lost callout delays a
    submission by one poll interval, never loses it."""
    report = PollReport()
    for opportunity_id in await _ids_in_stage(approvals.settings, AWAITING_STAGE, AWAITING_STATUS):
        report.awaiting += 1
        if await approvals.is_running(approval_workflow_id(opportunity_id)):
            report.already_running += 1
            continue
        try:
            _, started = await submit_from_crm(approvals, opportunity_id)
        except OmError as error:
            report.failed[opportunity_id] = str(error)
            continue
        if started:
            report.started.append(opportunity_id)
        else:
            report.already_running += 1
    return report


async def submit_all(
    approvals: Approvals,
    settings: Settings,
    stage: str = "6-Awaiting Signature",
    submitted_at: SubmittedAt | None = None,
) -> int:
    """Submit every CRM opportunity in `stage`; returns how many were started."""
    started = 0
    for opportunity_id in await _ids_in_stage(settings, stage):
        try:
            _, new = await submit_from_crm(approvals, opportunity_id, submitted_at)
        except OmError as error:
            print(f"om dev: {opportunity_id} not submitted: {error}")
            continue
        started += new
    return started
