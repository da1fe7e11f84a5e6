"""The daily license delivery review against the real sandbox: Salesforce
REST over TLS (SOQL and updates through simple-salesforce), the license
service and the support desk through the real adapters. "Is the approval
workflow running?" is asked of a real Temporal server (the time-skipping
one), where a workflow started with no worker polling stays RUNNING.

Assertions name only the opportunities each test seeds: the sandbox is
shared with other tests, whose deals may be Closed Won too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from activities.license_review import (
    LicenseReview,
    LicenseReviewActivities,
    LicenseReviewStore,
    approval_running_check,
)
from activities.salesforce import SalesforceAdapter
from activities.support_desk import SupportDeskClient
from domain.messages import CrmUpdate, TicketRequest
from domain.models import Region
from om.settings import Settings

TODAY = datetime.now(UTC).date()


def close_won(adapter: SalesforceAdapter, opportunity_id: str, days_ago: int) -> date:
    closed = TODAY - timedelta(days=days_ago)
    adapter.update_opportunity(
        CrmUpdate(opportunity_id=opportunity_id, stage="Closed Won", close_date=closed)
    )
    return closed


def crm(adapter: SalesforceAdapter, opportunity_id: str) -> dict[str, Any]:
    [row] = adapter.query(
        f"SELECT Id, License_Delivery_Date__c FROM Opportunity WHERE Id = '{opportunity_id}'"
    )
    return row


async def tickets_of(desk: SupportDeskClient, opportunity_id: str) -> list[dict[str, Any]]:
    _, body = await desk.request("GET", f"/api/v2/tickets.json?external_id={opportunity_id}")
    return body["tickets"]


def items_by_id(report) -> dict[str, Any]:
    return {item.opportunity_id: item for item in report.items}


@pytest.fixture
def reviewer(om_settings: Settings, time_skipping_env, tmp_path):
    def make(**options: Any) -> LicenseReview:
        return LicenseReview(
            om_settings,
            approval_running_check(time_skipping_env.client),
            store=LicenseReviewStore(tmp_path),
            **options,
        )

    return make


async def test_review_writes_dates_opens_one_ticket_and_ignores_the_rest(
    reviewer, seed_opportunity, salesforce_adapter, support_desk_client, example_payload, tmp_path
):
    delivered = seed_opportunity(delivered_license=True)
    undelivered = seed_opportunity()
    old = seed_opportunity()
    emea = seed_opportunity(account={**example_payload["account"], "region": "EMEA"})
    saas = seed_opportunity(deployment="saas")
    not_won = seed_opportunity()
    for opportunity_id in (delivered, undelivered, emea, saas):
        close_won(salesforce_adapter, opportunity_id, days_ago=2)
    close_won(salesforce_adapter, old, days_ago=40)

    first = await reviewer().run(Region.AMER)

    found = items_by_id(first)
    assert not {old, emea, saas, not_won} & found.keys()
    assert found[delivered].outcome == "delivered"
    assert crm(salesforce_adapter, delivered)["License_Delivery_Date__c"] == (
        found[delivered].license_delivery_date.isoformat()
    )
    ticket = found[undelivered]
    assert (ticket.outcome, ticket.business_days_open) == ("ticket_opened", 0)
    assert delivered in first.delivered_today and undelivered in first.tickets_opened
    assert crm(salesforce_adapter, undelivered)["License_Delivery_Date__c"] is None

    # The next day's run finds the same ticket; the delivered deal is no longer selected.
    second = await reviewer().run(Region.AMER)
    again = items_by_id(second)
    assert delivered not in again
    assert (again[undelivered].outcome, again[undelivered].ticket_id) == (
        "ticket_open",
        ticket.ticket_id,
    )
    assert undelivered not in second.tickets_opened
    assert [t["id"] for t in await tickets_of(support_desk_client, undelivered)] == [
        ticket.ticket_id
    ]

    # Stored for the KPI work, one file per region and local day.
    [stored] = LicenseReviewStore(tmp_path).latest(Region.AMER)
    assert items_by_id(stored)[undelivered].outcome == "ticket_open"

    # The region filter works both ways.
    assert emea in items_by_id(await reviewer().run(Region.EMEA))


async def test_ticket_open_longer_than_n_business_days_is_reported(
    reviewer, seed_opportunity, salesforce_adapter
):
    opportunity_id = seed_opportunity()
    close_won(salesforce_adapter, opportunity_id, days_ago=1)
    opened = await reviewer().run(Region.AMER)
    assert opportunity_id in opened.tickets_opened

    later = datetime.now(UTC) + timedelta(days=14)
    report = await reviewer(clock=lambda: later, open_days_threshold=3).run(Region.AMER)
    item = items_by_id(report)[opportunity_id]
    assert item.outcome == "ticket_open" and item.business_days_open > 3
    assert opportunity_id in report.tickets_open_over_n_days
    strict = await reviewer(clock=lambda: later, open_days_threshold=30).run(Region.AMER)
    assert opportunity_id not in strict.tickets_open_over_n_days


async def test_running_approval_workflow_keeps_the_deal(
    reviewer, seed_opportunity, salesforce_adapter, support_desk_client, time_skipping_env
):
    opportunity_id = seed_opportunity()
    close_won(salesforce_adapter, opportunity_id, days_ago=3)
    # A workflow with this id and nobody polling its task queue: RUNNING.
    handle = await time_skipping_env.client.start_workflow(
        "OpportunityApprovalWorkflow",
        id=f"opportunity-{opportunity_id}",
        task_queue=f"nobody-{uuid.uuid4()}",
    )
    try:
        report = await reviewer().run(Region.AMER)
    finally:
        await handle.terminate("test over")
    assert items_by_id(report)[opportunity_id].outcome == "left_to_workflow"
    assert await tickets_of(support_desk_client, opportunity_id) == []

    # Terminated (not running any more): now the review opens the ticket.
    after = await reviewer().run(Region.AMER)
    assert items_by_id(after)[opportunity_id].outcome == "ticket_opened"


async def test_open_ticket_of_a_stopped_workflow_is_reused(
    reviewer, seed_opportunity, salesforce_adapter, support_desk_client
):
    opportunity_id = seed_opportunity()
    close_won(salesforce_adapter, opportunity_id, days_ago=5)
    workflows_ticket = await support_desk_client.create_ticket(
        TicketRequest(
            opportunity_id=opportunity_id,
            idempotency_key=f"opportunity-{opportunity_id}-1",
            subject="Manual license delivery needed",
            body="Automation did not deliver the license.",
            requester_name="Riley Rep",
            requester_email="riley.rep@example.com",
        )
    )
    report = await reviewer().run(Region.AMER)
    item = items_by_id(report)[opportunity_id]
    assert (item.outcome, item.ticket_id) == ("ticket_open", workflows_ticket.id)
    assert len(await tickets_of(support_desk_client, opportunity_id)) == 1


async def test_license_unknown_to_the_service_is_reported_not_fatal(
    om_settings, seed_opportunity, salesforce_adapter, time_skipping_env, tmp_path
):
    """The activity entry point, with a license service that knows no one."""
    opportunity_id = seed_opportunity()
    close_won(salesforce_adapter, opportunity_id, days_ago=1)
    settings = om_settings.model_copy(update={"home": tmp_path})
    activities = LicenseReviewActivities(settings, time_skipping_env.client)

    class Unknown:
        async def check_delivery(self, opportunity_id: str):
            from activities.errors import OpportunityNotFound

            raise OpportunityNotFound(opportunity_id, "the license service")

    activities.review.licenses = Unknown()  # type: ignore[assignment]
    report = await activities.run(Region.AMER)
    assert "license service" in report.failed[opportunity_id]
    assert (tmp_path / "license-reviews" / "AMER").is_dir()
