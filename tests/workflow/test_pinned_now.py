"""The round's plan and who may decide follow the real calendars at "now".

These tests use the default regional calendars (hours, cutoff, holidays,
time zones) and end-of-period cover as shipped, and derive what they expect
from the domain's answer for the instant the round was submitted. Run on
the wall clock they check today; `make test-dates` runs them again with the
server pinned to month and quarter ends, 16:29 and 16:31 in each region,
holidays and clock changes (tests/dates.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import Refused
from domain.models import Region
from domain.sla import plan_review_round
from tests.clock import pinned_instant
from tests.workflow.conftest import Harness, new_payload, wait_stage

SPECIALIST = {
    Region.AMER: "om.amer@example.com",
    Region.EMEA: "om.emea@example.com",
    Region.APAC: "om.apac@example.com",
}


async def test_the_server_runs_at_the_pinned_instant(harness: Harness):
    pinned = pinned_instant()
    if pinned is None:
        pytest.skip("no instant pinned (make test-dates pins one)")
    now = await harness.now()
    assert pinned <= now < pinned + timedelta(minutes=10)


@pytest.mark.parametrize("urgent", [False, True], ids=["normal", "urgent"])
async def test_round_plan_and_cover_are_the_calendars_answer_at_submission(
    harness: Harness, example_payload, urgent: bool
):
    harness.settings.cover_business_days = 2  # as shipped
    submitted_at = await harness.now()
    opp = await harness.submit(
        new_payload(example_payload, deployment="saas", urgent=urgent), submitted_at
    )
    expected = plan_review_round(
        Region.AMER,
        submitted_at,
        urgent=urgent,
        policy=harness.settings.calendar,
        cover_business_days=2,
    )
    status = await harness.status(opp.id)
    record = status.rounds[0]
    assert status.queue_region == expected.assigned_region
    assert (record.clock_start, record.sla_deadline) == (
        expected.clock_start,
        expected.sla_deadline,
    )
    assert status.sla_deadline == expected.sla_deadline

    # A specialist of a region that neither owns nor was handed the round:
    # refused, unless the end-of-period cover is on at the moment they decide.
    outsider = next(r for r in Region if r not in (Region.AMER, expected.assigned_region))
    deciding_at = await harness.now()
    cover = expected.cover_reason(deciding_at)
    if cover is None:
        with pytest.raises(Refused):
            await harness.approvals.decide(opp.id, SPECIALIST[outsider], "om", "approve")
        await harness.approvals.decide(
            opp.id, SPECIALIST[expected.assigned_region], "om", "approve"
        )
    else:
        await harness.approvals.decide(opp.id, SPECIALIST[outsider], "om", "approve")
    status = await wait_stage(harness, opp.id, "finance_review")
    if cover is not None:
        assert status.rounds[0].taken_because == cover
