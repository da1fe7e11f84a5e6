"""The daily license delivery review of one region, its activities and its store.

Every Closed Won self-managed opportunity of the region closed in the last
30 days with no License_Delivery_Date__c is found by SOQL (so deals closed
outside our workflows are covered too) and checked against the license
service:

- delivered: the delivery date is written to Salesforce (idempotent: the
  same date every time, the one the approval workflow would write);
- not delivered and the opportunity's approval workflow is running: left to
  that workflow, which opens and follows its own ticket;
- otherwise: one Support ticket, found again on every later run. An open
  license ticket of the opportunity (the review's or a stopped workflow's)
  is reused; else one is created under the idempotency key
  `license-review-<opportunity id>`, so a retry whose answer was lost finds
  the first ticket instead of opening a second.

A failure that retrying cannot fix (an opportunity the license service does
not know) is recorded in the report and the run goes on; an outage fails the
activity, and Temporal retries the whole run, which is safe because every
step is idempotent.

The field names below belong in `activities.config.SalesforceFields` (a real
org's names differ); until then they are constants here.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.config import AdapterSettings
from activities.errors import NonRetryableError, as_activity_errors
from activities.license_service import LicenseServiceClient
from activities.salesforce import SalesforceAdapter, soql_quote
from activities.support_desk import SupportDeskClient
from domain.calendar import calendar_for
from domain.license_review import (
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_OPEN_DAYS_THRESHOLD,
    BusinessDayAnswer,
    BusinessDayRequest,
    LicenseReviewItem,
    LicenseReviewReport,
    business_day_answer,
    business_days_open,
    local_date,
    review_window_start,
)
from domain.messages import ActivityName, CrmUpdate, TicketRequest
from domain.models import Region
from domain.names import approval_workflow_id
from domain.policy import Role

# Denormalized Opportunity fields (see sandbox.schema); move to SalesforceFields.
DEPLOYMENT_FIELD = "Deployment__c"
OPPORTUNITY_REGION_FIELD = "OM_Region__c"
SELF_MANAGED = "self_managed"
CLOSED_WON = "Closed Won"
TICKET_KEY_PREFIX = "license-review-"
LICENSE_TAG = "license-delivery"
_DONE = frozenset({"solved", "closed"})

IsRunning = Callable[[str], Awaitable[bool]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def ticket_key(opportunity_id: str) -> str:
    """The review's idempotency key: one per opportunity, not per run, so
    every daily run lands on the same ticket."""
    return f"{TICKET_KEY_PREFIX}{opportunity_id}"


def approval_running_check(client: Client) -> IsRunning:
    """`is_running(opportunity_id)` asking Temporal about the approval workflow."""

    async def is_running(opportunity_id: str) -> bool:
        handle = client.get_workflow_handle(approval_workflow_id(opportunity_id))
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    return is_running


def candidates_soql(settings: AdapterSettings, region: Region, since: str) -> str:
    """Closed Won self-managed deals of `region` closed on or after `since`
    (a SOQL date literal, unquoted) without a license delivery date."""
    f = settings.salesforce.fields
    return (
        f"SELECT Id, Name, {f.close_date} FROM Opportunity "
        f"WHERE {f.stage} = {soql_quote(CLOSED_WON)} "
        f"AND {DEPLOYMENT_FIELD} = {soql_quote(SELF_MANAGED)} "
        f"AND {OPPORTUNITY_REGION_FIELD} = {soql_quote(region.value)} "
        f"AND {f.close_date} >= {since} "
        f"AND {f.license_delivery_date} = null "
        "ORDER BY Id"
    )


class LicenseReviewStore:
    """Reports as JSON files, `<home>/license-reviews/<region>/<run date>.json`:
    one per region and local day (a second run that day replaces the first),
    plain files the KPI work and `om licenses report` read without a server."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "license-reviews"

    def path_for(self, region: Region, run_date: str) -> Path:
        return self.root / Region(region).value / f"{run_date}.json"

    def save(self, report: LicenseReviewReport) -> Path:
        """Write atomically (temp file + rename): a reader never sees half a report."""
        run_date = (report.run_date or report.run_at.date()).isoformat()
        path = self.path_for(report.region, run_date)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            out.write(report.model_dump_json(indent=2))
        os.replace(tmp, path)
        return path

    def latest(self, region: Region | str | None = None) -> list[LicenseReviewReport]:
        """The latest report of `region` (zero or one), or of every region
        that has one when `region` is None, in region order."""
        regions = [Region(region)] if region is not None else list(Region)
        reports = []
        for r in regions:
            files = sorted((self.root / r.value).glob("*.json"))
            if files:
                reports.append(LicenseReviewReport.model_validate_json(files[-1].read_text()))
        return reports


class LicenseReview:
    """The review itself, as a plain async function of a region: the
    activity runs it for the Schedule, `om licenses review` runs it directly."""

    def __init__(
        self,
        settings: AdapterSettings,
        is_running: IsRunning,
        *,
        salesforce: SalesforceAdapter | None = None,
        licenses: LicenseServiceClient | None = None,
        desk: SupportDeskClient | None = None,
        store: LicenseReviewStore | None = None,
        open_days_threshold: int = DEFAULT_OPEN_DAYS_THRESHOLD,
        lookback_days: int = DEFAULT_LOOKBACK_DAYS,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.is_running = is_running
        self.salesforce = salesforce or SalesforceAdapter(settings.salesforce)
        self.licenses = licenses or LicenseServiceClient(settings.license_service)
        self.desk = desk or SupportDeskClient(settings.support_desk)
        self.store = store
        self.open_days_threshold = open_days_threshold
        self.lookback_days = lookback_days
        self.clock = clock

    async def run(self, region: Region) -> LicenseReviewReport:
        region = Region(region)
        now = self.clock()
        calendar = calendar_for(region, self.settings.calendar)
        since = review_window_start(calendar, now, self.lookback_days)
        soql = candidates_soql(self.settings, region, since.isoformat())
        # A year of deals in a large region can pass the Bulk API threshold.
        rows = await asyncio.to_thread(lambda: list(self.salesforce.query_large(soql)))
        items: list[LicenseReviewItem] = []
        failed: dict[str, str] = {}
        for row in rows:
            if activity.in_activity():
                activity.heartbeat(row["Id"])
            try:
                item = await self._review(region, row, now)
            except NonRetryableError as error:
                failed[row["Id"]] = str(error)
                continue
            if item.ticket_opened_at is not None:
                item.business_days_open = business_days_open(calendar, item.ticket_opened_at, now)
            items.append(item)
        report = LicenseReviewReport.build(
            region, now, local_date(calendar, now), items, self.open_days_threshold, failed
        )
        if self.store is not None:
            await asyncio.to_thread(self.store.save, report)
        return report

    async def _review(
        self, region: Region, row: dict[str, Any], now: datetime
    ) -> LicenseReviewItem:
        opportunity_id = str(row["Id"])
        close_date = row.get(self.settings.salesforce.fields.close_date)
        item = LicenseReviewItem(
            opportunity_id=opportunity_id,
            name=str(row.get("Name") or ""),
            close_date=close_date,
            outcome="left_to_workflow",
        )
        status = await self.licenses.check_delivery(opportunity_id)
        if status.delivered:
            # The approval workflow writes delivered_at's (UTC) date: the same here.
            delivered = (status.delivered_at or now).date()
            await asyncio.to_thread(
                self.salesforce.update_opportunity,
                CrmUpdate(opportunity_id=opportunity_id, license_delivery_date=delivered),
            )
            return item.model_copy(
                update={"outcome": "delivered", "license_delivery_date": delivered}
            )
        if await self.is_running(opportunity_id):
            return item
        return await self._ticket(region, item, now)

    async def _ticket(
        self, region: Region, item: LicenseReviewItem, now: datetime
    ) -> LicenseReviewItem:
        """Reuse the opportunity's open license ticket, else open one."""
        known = await self._license_tickets(item.opportunity_id)
        open_ones = [t for t in known if t["status"] not in _DONE]
        if open_ones:
            found = min(open_ones, key=lambda t: int(t["id"]))
            return self._with_ticket(item, "ticket_open", found, now)
        ticket = await self.desk.create_ticket(self._ticket_request(region, item))
        earlier = next((t for t in known if int(t["id"]) == ticket.id), None)
        if earlier is not None:
            # Our key's ticket exists but Support closed it undelivered: report it as is.
            return self._with_ticket(item, "ticket_open", {**earlier, "status": ticket.status}, now)
        return item.model_copy(
            update={
                "outcome": "ticket_opened",
                "ticket_id": ticket.id,
                "ticket_status": ticket.status,
                "ticket_opened_at": now,
            }
        )

    @staticmethod
    def _with_ticket(
        item: LicenseReviewItem, outcome: str, ticket: dict[str, Any], now: datetime
    ) -> LicenseReviewItem:
        opened = ticket.get("created_at")
        return item.model_copy(
            update={
                "outcome": outcome,
                "ticket_id": int(ticket["id"]),
                "ticket_status": str(ticket["status"]),
                "ticket_opened_at": (
                    datetime.fromisoformat(str(opened).replace("Z", "+00:00")) if opened else now
                ),
            }
        )

    async def _license_tickets(self, opportunity_id: str) -> list[dict[str, Any]]:
        """The opportunity's license-delivery tickets (Zendesk's list by
        external_id, which both the workflow and the review set)."""
        _, body = await self.desk.request(
            "GET", f"/api/v2/tickets.json?external_id={opportunity_id}"
        )
        tickets = body.get("tickets") if isinstance(body, dict) else None
        return [
            t for t in tickets or [] if isinstance(t, dict) and LICENSE_TAG in (t.get("tags") or [])
        ]

    def _ticket_request(self, region: Region, item: LicenseReviewItem) -> TicketRequest:
        """The same request on every run (nothing from the clock): the desk
        refuses a known idempotency key sent with a different body."""
        team = next(
            (
                u
                for u in self.settings.roster
                if u.role == Role.ORDER_MANAGEMENT and region in u.regions
            ),
            None,
        )
        closed = f", Closed Won on {item.close_date.isoformat()}" if item.close_date else ""
        return TicketRequest(
            opportunity_id=item.opportunity_id,
            idempotency_key=ticket_key(item.opportunity_id),
            subject=f"Manual license delivery needed: {item.name or item.opportunity_id}",
            body=(
                f"The daily license delivery review of {region.value} found no delivered "
                f"license for self-managed opportunity {item.opportunity_id} "
                f"({item.name}){closed}. Please deliver it manually; the review writes the "
                "License Delivery Date once the license service reports it delivered."
            ),
            requester_name=team.name if team else f"Order Management {region.value}",
            requester_email=team.email if team else "order-management@example.com",
        )


class LicenseReviewActivities:
    """The review's activities, registered on a Worker as bound methods:
    `license_review.run` (the review) and `license_review.business_day`
    (a policy answer the workflow records as a local activity)."""

    def __init__(
        self,
        settings: AdapterSettings,
        client: Client,
        open_days_threshold: int = DEFAULT_OPEN_DAYS_THRESHOLD,
    ) -> None:
        self.settings = settings
        self.review = LicenseReview(
            settings,
            approval_running_check(client),
            store=LicenseReviewStore(settings.home),
            open_days_threshold=open_days_threshold,
        )

    @activity.defn(name=ActivityName.LICENSE_REVIEW_RUN)
    @as_activity_errors
    async def run(self, region: Region) -> LicenseReviewReport:
        report = await self.review.run(region)
        if activity.in_activity():
            activity.logger.info(
                "license review %s: delivered %d, tickets opened %d, open over %d days %d",
                region,
                len(report.delivered_today),
                len(report.tickets_opened),
                report.open_days_threshold,
                len(report.tickets_open_over_n_days),
            )
        return report

    @activity.defn(name=ActivityName.LICENSE_REVIEW_BUSINESS_DAY)
    async def business_day(self, request: BusinessDayRequest) -> BusinessDayAnswer:
        """Whether the region works on its local date at `request.at`."""
        calendar = calendar_for(request.region, self.settings.calendar)
        return business_day_answer(calendar, request.region, request.at)

    def activities(self) -> list[Callable[..., Any]]:
        return [self.run, self.business_day]
