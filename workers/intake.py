"""Intake: read opportunities from the CRM and start their workflows.

`om submit` does this for one id; `om dev` does it for the demo data on its
first start, as if each rep had clicked Submit for Approval.
"""

from __future__ import annotations

import asyncio

from domain.errors import OmError
from domain.settings import Settings
from workers.approvals import Approvals


async def submit_from_crm(approvals: Approvals, opportunity_id: str) -> tuple[str, bool]:
    """Read one opportunity from Salesforce and start (or find) its workflow."""
    from activities.salesforce import SalesforceAdapter

    adapter = SalesforceAdapter(approvals.settings.salesforce)
    opportunity = await asyncio.to_thread(adapter.read_opportunity, opportunity_id)
    return await approvals.submit(opportunity)


async def submit_all(
    approvals: Approvals, settings: Settings, stage: str = "6-Awaiting Signature"
) -> int:
    """Submit every CRM opportunity in `stage`; returns how many were started."""
    from activities.salesforce import SalesforceAdapter

    adapter = SalesforceAdapter(settings.salesforce)
    rows = await asyncio.to_thread(
        adapter.query, f"SELECT Id FROM Opportunity WHERE StageName = '{stage}' ORDER BY Id"
    )
    started = 0
    for row in rows:
        try:
            _, new = await submit_from_crm(approvals, row["Id"])
        except OmError as error:
            print(f"om dev: {row['Id']} not submitted: {error}")
            continue
        started += new
    return started
