"""Every path of OpportunityApprovalWorkflow on the time-skipping test server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import NotSubmitted, Refused, UnknownUser
from domain.models import Opportunity
from om.approvals import Approvals
from tests.clock import clock_today
from tests.workflow.conftest import (
    BILLING,
    OM,
    REP,
    new_payload,
    wait_stage,
)


async def test_saas_deal_approved_by_om_and_billing_completes(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    status = await harness.status(opp.id)
    assert (status.stage, status.round, status.region) == ("om_review", 1, "AMER")
    assert status.sla_deadline is not None

    receipt = await harness.approvals.decide(opp.id, OM, "om", "approve", comment="all good")
    assert receipt.round == 1
    await harness.approvals.decide(opp.id, BILLING, "finance", "approve")
    final = await harness.finish(opp.id)

    assert final.stage == "completed"
    assert final.close_date is not None
    assert harness.fakes.stages() == ["7-Closing", "Closed Won"]
    assert harness.fakes.crm_updates[0].locked is True
    assert harness.fakes.license_checks == 0
    actions = [h.action for h in final.history]
    assert actions == [
        "submitted",
        "om_review",
        "sla_clock",
        "booking_check",
        "finance_review",
        "sla_result",
        "closed_won",
        "close_date",
        "completed",
    ]
    assert final.history[4].actor == OM and final.history[6].actor == BILLING


async def test_reject_then_resubmit_runs_new_rounds_in_same_workflow(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    for round_ in (1, 2):
        await harness.approvals.decide(
            opp.id,
            OM,
            "om",
            "reject",
            reasons=["PO_MISSING", "order_form_missing"],
            comment=f"attach the PO (round {round_})",
        )
        status = await wait_stage(harness, opp.id, "rejected")
        assert status.round == round_
        with pytest.raises(Refused, match="not the owner"):
            await harness.approvals.rep_action(opp.id, "resubmit", "emma.rep@example.com")
        await harness.approvals.rep_action(opp.id, "resubmit", REP, comment="PO attached")
        status = await wait_stage(harness, opp.id, "om_review")
        assert status.round == round_ + 1

    posts = harness.fakes.chatter
    assert len(posts) == 2
    assert "PO_MISSING" in posts[0].body and "ORDER_FORM_MISSING" in posts[0].body
    assert "attach the PO (round 1)" in posts[0].body
    assert harness.fakes.stages() == [
        "7-Closing",
        "6-Awaiting Signature",
        "7-Closing",
        "6-Awaiting Signature",
        "7-Closing",
    ]
    rejected = [u for u in harness.fakes.crm_updates if u.approval_status == "Rejected"]
    assert all(u.locked is False for u in rejected)

    with pytest.raises(Refused, match="round 1 but round 3"):
        await harness.approvals.decide(opp.id, OM, "om", "approve", round_=1)
    await harness.approvals.decide(opp.id, OM, "om", "approve", round_=3)
    await wait_stage(harness, opp.id, "finance_review")


async def test_rep_recalls_pending_submission_and_resubmits(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.rep_action(opp.id, "recall", REP, comment="wrong quote")
    status = await wait_stage(harness, opp.id, "recalled")
    assert harness.fakes.crm_updates[-1].approval_status == "Recalled"
    with pytest.raises(Refused, match="no Order Management review is pending"):
        await harness.approvals.decide(opp.id, OM, "om", "approve")
    await harness.approvals.rep_action(opp.id, "resubmit", REP)
    status = await wait_stage(harness, opp.id, "om_review")
    assert status.round == 2


async def test_rejected_opportunity_closed_lost_ends_workflow(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.decide(
        opp.id, OM, "om", "reject", reasons=["OTHER"], comment="customer went quiet"
    )
    await wait_stage(harness, opp.id, "rejected")
    await harness.approvals.rep_action(opp.id, "close_lost", REP, comment="lost to competitor")
    final = await harness.finish(opp.id)
    assert final.stage == "closed_lost"
    assert harness.fakes.stages()[-1] == "Closed Lost"


async def test_finance_reject_returns_to_om_as_accuracy_miss(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    await wait_stage(harness, opp.id, "finance_review")
    await harness.approvals.decide(
        opp.id, BILLING, "finance", "reject", comment="PO currency is EUR"
    )
    status = await wait_stage(harness, opp.id, "om_review")
    assert status.round == 2 and status.finance_rejections == 1
    assert harness.fakes.stages() == ["7-Closing"]  # stays in 7-Closing
    assert "PO currency is EUR" in harness.fakes.chatter[0].body
    assert OM in harness.fakes.chatter[0].body
    assert any(h.action == "finance_rejected" for h in status.history)


async def test_self_managed_license_delivered_by_automation(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload))
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    await harness.approvals.decide(opp.id, BILLING, "finance", "approve")
    final = await harness.finish(opp.id)
    assert final.stage == "completed"
    assert str(final.license_delivery_date) == "2026-12-02"
    assert harness.fakes.crm_updates[-1].license_delivery_date == final.license_delivery_date
    assert harness.fakes.tickets == {}
    assert [h.action for h in final.history][-2:] == ["license_check", "completed"]


async def test_undelivered_license_opens_one_ticket_and_completes_when_delivered(
    harness, example_payload
):
    harness.fakes.deliver_after_checks = 3
    # Re-check every 0.2 s instead of daily: the test server's time skipping
    # (env.sleep) proved flaky on a loaded 2-core machine.
    harness.settings.license_recheck_interval = timedelta(seconds=0.2)
    opp = await harness.submit(new_payload(example_payload))
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    await harness.approvals.decide(opp.id, BILLING, "finance", "approve")
    ticketed = await wait_stage(harness, opp.id, "license_ticket")
    assert ticketed.support_ticket_id == 1000 and not harness.fakes.solved
    final = await wait_stage(harness, opp.id, "completed")
    assert final.stage == "completed"
    assert list(harness.fakes.tickets) == [f"opportunity-{opp.id}-1"]
    assert final.support_ticket_id == 1000
    assert harness.fakes.license_checks == 4
    assert [s.ticket_id for s in harness.fakes.solved] == [1000]
    assert "license_ticket" in [h.action for h in final.history]


@pytest.mark.parametrize(
    ("user", "stage", "why"),
    [
        ("auditor@example.com", "om", "read-only"),
        (BILLING, "om", "only Order Management"),
        ("om.emea@example.com", "om", "belongs to AMER"),
        (OM, "finance", "only Billing"),
        ("manager.amer@example.com", "om", "managers read reports and decide nothing"),
        ("manager.amer@example.com", "finance", "managers read reports and decide nothing"),
    ],
)
async def test_decision_from_wrong_person_is_refused_and_changes_nothing(
    harness, example_payload, user, stage, why
):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    before = await harness.status(opp.id)
    with pytest.raises(Refused, match=why):
        await harness.approvals.decide(opp.id, user, stage, "approve")
    assert await harness.status(opp.id) == before


async def test_a_manager_may_not_act_for_the_rep(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    before = await harness.status(opp.id)
    with pytest.raises(Refused, match="decide nothing"):
        await harness.approvals.rep_action(opp.id, "recall", "manager.amer@example.com")
    assert await harness.status(opp.id) == before


async def test_rep_may_not_decide_own_deal(harness, example_payload):
    payload = new_payload(example_payload, deployment="saas")
    payload["owner"] = {"id": "005X", "name": "OM as rep", "email": OM}
    opp = await harness.submit(payload)
    with pytest.raises(Refused, match="own deal"):
        await harness.approvals.decide(opp.id, OM, "om", "approve")


async def test_same_person_cannot_approve_at_both_stages(harness, example_payload):
    harness.settings.roster.append(
        harness.settings.roster[0].model_copy(update={"email": "om.billing@example.com"})
    )
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.decide(opp.id, "om.billing@example.com", "om", "approve")
    await wait_stage(harness, opp.id, "finance_review")
    # the same person acting with a Billing role is still refused
    harness.settings.roster[-1] = harness.settings.roster[-1].model_copy(update={"role": "billing"})
    with pytest.raises(Refused, match="both stages"):
        await harness.approvals.decide(opp.id, "om.billing@example.com", "finance", "approve")


async def test_second_decision_on_same_round_is_refused(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    with pytest.raises(Refused):
        await harness.approvals.decide(
            opp.id, OM, "om", "reject", reasons=["OTHER"], comment="changed my mind"
        )
    status = await wait_stage(harness, opp.id, "finance_review")
    assert [h.action for h in status.history].count("rejected") == 0


async def test_rejection_without_valid_reason_is_refused(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    with pytest.raises(Refused, match="NOT_A_CODE"):
        await harness.approvals.decide(
            opp.id, OM, "om", "reject", reasons=["NOT_A_CODE"], comment="x"
        )
    with pytest.raises(Refused, match="at least one reason"):
        await harness.approvals.decide(opp.id, OM, "om", "reject", comment="x")
    with pytest.raises(Refused, match="comment"):
        await harness.approvals.decide(opp.id, OM, "om", "reject", reasons=["PO_MISSING"])
    assert (await harness.status(opp.id)).stage == "om_review"
    assert harness.fakes.chatter == []


async def test_unknown_user_and_unknown_opportunity_are_clear_errors(harness):
    with pytest.raises(UnknownUser, match="nobody@example.com"):
        await harness.approvals.decide("006NOPE", "nobody@example.com", "om", "approve")
    with pytest.raises(NotSubmitted, match="006NOPE"):
        await harness.approvals.decide("006NOPE", OM, "om", "approve")
    with pytest.raises(NotSubmitted):
        await harness.status("006NOPE")


async def test_second_submit_of_running_workflow_changes_nothing(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    before = await harness.status(opp.id)
    workflow_id, started = await harness.approvals.submit(opp)
    assert (workflow_id, started) == (f"opportunity-{opp.id}", False)
    assert await harness.status(opp.id) == before


async def test_each_round_records_precheck_findings_in_status(harness, example_payload):
    payload = new_payload(example_payload, deployment="saas", tax_removed=True)
    opp = await harness.submit(payload)
    status = await harness.status(opp.id)
    assert [f.code for f in status.findings] == ["TAX_EXEMPT_CERTIFICATE_MISSING"]
    check = [h for h in status.history if h.action == "booking_check"]
    assert check[0].detail.startswith("TAX_EXEMPT_CERTIFICATE_MISSING")


async def test_auto_reject_on_findings_rejects_at_once_with_codes(harness, example_payload):
    harness.settings = harness.settings.model_copy(update={"auto_reject_on_findings": True})
    harness.approvals = Approvals(harness.env.client, harness.settings)
    payload = new_payload(example_payload, deployment="saas", tax_removed=True)
    opportunity = Opportunity.model_validate(payload)
    await harness.approvals.submit(opportunity)
    harness.started.append(f"opportunity-{opportunity.id}")
    status = await wait_stage(harness, opportunity.id, "rejected")
    rejected = [h for h in status.history if h.action == "rejected"]
    assert [h.actor for h in rejected] == ["pre-check"]
    assert "TAX_EXEMPT_CERTIFICATE_MISSING" in harness.fakes.chatter[0].body
    assert harness.fakes.stages() == ["7-Closing", "6-Awaiting Signature"]


async def test_billing_review_waits_until_15_days_before_far_start(harness, example_payload):
    start = clock_today() + timedelta(days=60)
    payload = new_payload(example_payload, deployment="saas")
    payload["quote"] = {
        **payload["quote"],
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=364)).isoformat(),
    }
    opp = await harness.submit(payload)
    status = await harness.status(opp.id)
    due = status.billing_review_due
    assert due is not None and due.date() == start - timedelta(days=15)
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    with pytest.raises(Refused, match="Billing reviews this opportunity from") as refused:
        await harness.approvals.decide(opp.id, BILLING, "finance", "approve")
    assert refused.value.kind == "conflict"
    assert (await harness.status(opp.id)).stage == "finance_review"


async def test_judgment_finding_must_be_acknowledged_before_approval(harness, example_payload):
    start = clock_today() - timedelta(days=40)
    payload = new_payload(example_payload, deployment="saas", type="add_on")
    payload["quote"] = {
        **payload["quote"],
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=364)).isoformat(),
    }
    opp = await harness.submit(payload)
    status = await harness.status(opp.id)
    assert [(f.code, f.severity) for f in status.findings] == [
        ("START_DATE_CONFIRMATION_NEEDED", "acknowledge")
    ]
    with pytest.raises(Refused, match="START_DATE_CONFIRMATION_NEEDED") as refused:
        await harness.approvals.decide(opp.id, OM, "om", "approve")
    assert refused.value.kind == "invalid"
    await harness.approvals.decide(
        opp.id, OM, "om", "approve", acknowledged=["START_DATE_CONFIRMATION_NEEDED"]
    )
    status = await wait_stage(harness, opp.id, "finance_review")
    approved = next(h for h in status.history if h.action == "finance_review")
    assert "acknowledged START_DATE_CONFIRMATION_NEEDED" in approved.detail


async def test_hard_findings_need_an_override_by_code_with_a_comment(harness, example_payload):
    payload = new_payload(example_payload, deployment="saas", tax_removed=True)
    payload["order_form"] = None
    opp = await harness.submit(payload)
    status = await harness.status(opp.id)
    hard = sorted(f.code for f in status.findings if f.severity == "hard")
    assert hard == ["ORDER_FORM_MISSING", "TAX_EXEMPT_CERTIFICATE_MISSING"]
    before = len(status.history)

    refusals = [
        ({}, "ORDER_FORM_MISSING, TAX_EXEMPT_CERTIFICATE_MISSING"),
        ({"overrides": ["ORDER_FORM_MISSING"], "comment": "signed on paper"}, "TAX_EXEMPT"),
        ({"overrides": hard, "comment": "  "}, "comment: an override"),
        ({"overrides": [*hard, "PO_MISSING"], "comment": "why"}, "PO_MISSING is not a hard"),
    ]
    for fields, reason in refusals:
        with pytest.raises(Refused, match=reason) as refused:
            await harness.approvals.decide(opp.id, OM, "om", "approve", **fields)
        assert refused.value.kind == "invalid"
    status = await harness.status(opp.id)
    assert (status.stage, len(status.history)) == ("om_review", before)

    receipt = await harness.approvals.decide(
        opp.id,
        OM,
        "om",
        "approve",
        overrides=["order_form_missing", "TAX_EXEMPT_CERTIFICATE_MISSING"],
        comment="order form signed on paper; certificate on file with Billing",
    )
    assert receipt.stage == "finance_review"
    status = await wait_stage(harness, opp.id, "finance_review")
    overridden = [h for h in status.history if h.action == "hard_findings_overridden"]
    assert [(h.actor, h.round) for h in overridden] == [(OM, 1)]
    assert overridden[0].detail == (
        "overrode ORDER_FORM_MISSING, TAX_EXEMPT_CERTIFICATE_MISSING (round 1): "
        "order form signed on paper; certificate on file with Billing"
    )
    assert status.rounds[0].overrides == hard


async def test_overriding_a_code_the_round_does_not_have_is_refused(harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    with pytest.raises(Refused, match="PO_MISSING is not a hard finding") as refused:
        await harness.approvals.decide(
            opp.id, OM, "om", "approve", overrides=["PO_MISSING"], comment="just in case"
        )
    assert refused.value.kind == "invalid"
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    await wait_stage(harness, opp.id, "finance_review")
