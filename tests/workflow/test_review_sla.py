"""SLA checkpoints, breach escalation, urgent handoff and end-of-period cover.

The worker's calendar policy is replaced by round-the-clock calendars with a
2-second SLA, so the checkpoints fire in real time within the test; which
instants the real regional calendars produce is pinned in
tests/unit/test_calendar.py and tests/unit/test_sla.py.
"""

from __future__ import annotations

import asyncio
from datetime import time, timedelta

import pytest

from domain.calendar import CalendarPolicy, RegionHours
from domain.errors import Refused
from domain.messages import ApprovalStatus
from domain.models import Region
from tests.clock import clock_today
from tests.workflow.conftest import OM, Harness, new_payload, wait_stage

EMEA_OM = "om.emea@example.com"
APAC_OM = "om.apac@example.com"
SLA_SECONDS = 2.0


def round_the_clock(closed_days: tuple = ()) -> RegionHours:
    """Open all day every day (UTC) except on `closed_days`, with a 2 s SLA."""
    return RegionHours(
        time_zone="UTC",
        open=time(0),
        close=time(23, 59, 59, 999999),
        cutoff=time(23, 59, 59, 999998),
        workdays=(0, 1, 2, 3, 4, 5, 6),
        holiday_country=None,
        extra_closures=closed_days,
        sla_business_hours=SLA_SECONDS / 3600,
    )


def use_calendars(harness: Harness, **regions: RegionHours) -> None:
    """Give the worker's policy activities these calendars (others 24/7)."""
    hours = {r: regions.get(r.value, round_the_clock()) for r in Region}
    harness.settings.calendar = CalendarPolicy(regions=hours)


async def eventually(harness: Harness, opportunity_id: str, check, seconds: float = 10):
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        status = await harness.status(opportunity_id)
        if check(status) and status.pending_effects == 0:
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met; last status {status}")
        await asyncio.sleep(0.05)


async def test_warnings_at_50_and_75_percent_then_breach_escalates(harness, example_payload):
    use_calendars(harness)
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    status: ApprovalStatus = await eventually(harness, opp.id, lambda s: s.breached)

    actions = [h.action for h in status.history]
    assert actions.count("sla_warning") == 2 and actions.count("sla_breached") == 1
    assert status.rounds[0].warnings == ["warn_50", "warn_75"]
    assert status.rounds[0].breached is True
    sent = [(n.channel, n.text.split(":")[0]) for n in harness.fakes.notifications]
    assert sent[:2] == [("#om-amer-queue", opp.id + " (Acme Corp - Premium - 250 seats)")] * 2
    channels = [n.channel for n in harness.fakes.notifications]
    assert "#om-amer-managers" in channels
    assert {"#om-emea-queue", "#om-apac-queue"} <= set(channels)
    assert "50% of the review SLA used" in harness.fakes.notifications[0].text

    # A breached round is offered to every region: EMEA may take it.
    receipt = await harness.approvals.decide(opp.id, EMEA_OM, "om", "approve")
    assert receipt.stage == "finance_review"
    status = await eventually(harness, opp.id, lambda s: s.rounds[0].sla_met is not None)
    record = status.rounds[0]
    assert record.sla_met is False and record.decided_by == EMEA_OM
    assert record.taken_because == "SLA breached: escalated to every region"
    assert record.business_seconds_to_decision >= SLA_SECONDS
    approved = next(h for h in status.history if h.action == "finance_review")
    assert "taken by om.emea@example.com (EMEA): SLA breached" in approved.detail


async def test_decision_before_first_checkpoint_cancels_sla_timers(harness, example_payload):
    hours = round_the_clock().model_copy(update={"sla_business_hours": 30 / 3600})
    use_calendars(harness, AMER=hours)
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    status = await eventually(harness, opp.id, lambda s: s.rounds[0].sla_met is not None)
    assert status.rounds[0].sla_met is True
    assert status.rounds[0].business_seconds_to_decision < 30
    await asyncio.sleep(0.5)
    assert harness.fakes.notifications == []
    assert "sla_warning" not in [h.action for h in (await harness.status(opp.id)).history]


def _closed_around_today() -> tuple:
    today = clock_today()
    return tuple(today + timedelta(days=d) for d in (-1, 0, 1, 2))


async def test_urgent_submission_while_home_closed_is_handed_to_open_region(
    harness, example_payload
):
    closed = round_the_clock(_closed_around_today())
    use_calendars(harness, AMER=closed, APAC=closed)  # only EMEA is open
    opp = await harness.submit(new_payload(example_payload, deployment="saas", urgent=True))
    status = await eventually(harness, opp.id, lambda s: s.queue_region is not None)
    assert status.queue_region == Region.EMEA
    handoff = [h for h in status.history if h.action == "handoff"]
    assert handoff and "offered to EMEA: urgent; AMER closed, EMEA open now" in handoff[0].detail

    with pytest.raises(Refused, match="belongs to AMER"):
        await harness.approvals.decide(opp.id, APAC_OM, "om", "approve")
    await harness.approvals.decide(opp.id, EMEA_OM, "om", "approve")
    status = await wait_stage(harness, opp.id, "finance_review")
    assert status.rounds[0].taken_because.startswith("handoff to EMEA")


async def test_non_urgent_submission_waits_for_its_home_region(harness, example_payload):
    closed = round_the_clock(_closed_around_today())
    use_calendars(harness, AMER=closed, APAC=closed)
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    status = await harness.status(opp.id)
    assert status.queue_region == Region.AMER
    with pytest.raises(Refused, match="belongs to AMER"):
        await harness.approvals.decide(opp.id, EMEA_OM, "om", "approve")


async def test_end_of_period_cover_lets_any_region_take_the_queue(harness, example_payload):
    use_calendars(harness, AMER=round_the_clock().model_copy(update={"sla_business_hours": 1}))
    # Every day of a month is within its last 31 business days: cover is on now.
    harness.settings.cover_business_days = 31
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.decide(opp.id, APAC_OM, "om", "approve")
    status = await wait_stage(harness, opp.id, "finance_review")
    assert status.rounds[0].taken_because in ("end of month cover", "end of quarter cover")
    assert status.om_approver == APAC_OM
