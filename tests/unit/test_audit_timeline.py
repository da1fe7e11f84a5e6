"""The audit timeline is read from recorded workflow histories alone.

The histories in tests/histories are re-recorded by `make record-histories`
(new opportunity ids and times each time), so expectations here come from
the paths the recording tests take, not from ids or instants.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from domain.calendar import calendar_for
from domain.timefmt import local_label
from om.audit import (
    BUSINESS_TIME,
    CHATTER,
    CLOSE_DATE,
    CRM_UPDATE,
    DECISION,
    FINANCE_REVIEW,
    LICENSE_CHECK,
    PRE_CHECK,
    REFUSALS_NOTE,
    REP_ACTION,
    REVIEW_ROUND,
    RUN_CONTINUED,
    SLA_TIMER,
    SUBMITTED,
    TICKET,
    TICKET_SOLVED,
    TIMER,
    UPDATE_REFUSED,
    WORKFLOW_END,
    AuditError,
    Timeline,
    build_timeline,
)
from tests.replay.record import recorded_histories

HISTORIES = Path(__file__).parents[1] / "histories"
OM = "om.amer@example.com"
BILLING = "billing@example.com"
REP = "riley.rep@example.com"


def load(name: str) -> dict[str, Any]:
    return json.loads((HISTORIES / name).read_text())


def timeline_of(name: str | dict[str, Any]) -> Timeline:
    data = load(name) if isinstance(name, str) else name
    return build_timeline(WorkflowHistory.from_json("opportunity-under-audit", data))


def test_approved_saas_deal_shows_both_decisions_close_date_and_crm_writes():
    timeline = timeline_of("test_saas_deal_approved_by_om_and_billing_completes.json")

    assert timeline.status == "completed" and timeline.stage == "completed"
    assert timeline.workflow_id == "opportunity-under-audit"
    assert timeline.opportunity_id.startswith("006")
    assert [e.kind for e in timeline.of_kind(SUBMITTED, DECISION, FINANCE_REVIEW)] == [
        SUBMITTED,
        DECISION,
        FINANCE_REVIEW,
    ]
    submitted = timeline.entries[0]
    assert submitted.kind == SUBMITTED and submitted.data["owner"] == REP

    (round_1,) = timeline.of_kind(REVIEW_ROUND)
    assert round_1.round == 1 and round_1.region == "AMER"
    assert round_1.data["reason"] == "submitted for approval"
    assert round_1.data["sla_deadline"] > round_1.data["clock_start"]
    assert [c["kind"] for c in round_1.data["checkpoints"]] == ["warn_50", "warn_75", "breach"]
    assert "deadline" in round_1.summary

    (pre_check,) = timeline.of_kind(PRE_CHECK)
    assert pre_check.summary == "booking pre-check: no findings"

    (om,) = timeline.of_kind(DECISION)
    assert (om.actor, om.role, om.region, om.round) == (OM, "order_management", "AMER", 1)
    assert om.data["action"] == "approve" and om.data["comment"] == "all good"
    assert om.data["receipt"]["stage"] == "finance_review"
    assert "approved round 1: all good" in om.summary

    (billing,) = timeline.of_kind(FINANCE_REVIEW)
    assert (billing.actor, billing.role, billing.region) == (BILLING, "billing", "AMER/EMEA/APAC")
    assert "Billing approved" in billing.summary

    (business,) = timeline.of_kind(BUSINESS_TIME)
    assert business.round == 1 and business.data["sla_met"] is True

    (close,) = timeline.of_kind(CLOSE_DATE)
    assert close.data["rule"] and close.data["explanation"]
    assert f"rule {close.data['rule']}" in close.summary
    crm = [e.data["input"] for e in timeline.of_kind(CRM_UPDATE)]
    assert crm[0]["stage"] == "7-Closing" and crm[0]["locked"] is True
    assert crm[-1]["stage"] == "Closed Won"
    # The close date the rule chose is the one written to the CRM.
    assert crm[-1]["close_date"] == close.data["close_date"]
    assert timeline.entries[-1].kind == WORKFLOW_END

    # Entries are in history order.
    ids = [e.event_id for e in timeline.entries]
    assert ids == sorted(ids)


def test_times_are_utc_and_the_home_regions_local_time():
    timeline = timeline_of("test_saas_deal_approved_by_om_and_billing_completes.json")
    tz = calendar_for(timeline.region).tz

    assert timeline.time_zone == str(tz)
    for entry in timeline.entries:
        assert entry.at_utc.utcoffset().total_seconds() == 0
        assert entry.at_local == entry.at_utc
        assert entry.at_local.tzinfo == tz
    # The round's deadline is shown in the region's clock (named by region and
    # offset, not an abbreviation Manila shares) and in UTC.
    (round_1,) = timeline.of_kind(REVIEW_ROUND)
    deadline = datetime.fromisoformat(round_1.data["sla_deadline"])
    local = local_label(deadline, timeline.region, clock="%Y-%m-%d %H:%M")
    assert f"deadline {local}, {deadline.astimezone(UTC):%H:%M} UTC" in round_1.summary


def test_reject_and_resubmit_rounds_name_actors_reasons_and_comments():
    timeline = timeline_of("test_reject_then_resubmit_runs_new_rounds_in_same_workflow.json")

    rounds = timeline.of_kind(REVIEW_ROUND)
    assert [r.round for r in rounds] == [1, 2, 3]
    assert [r.data["reason"] for r in rounds] == [
        "submitted for approval",
        "resubmitted by the rep",
        "resubmitted by the rep",
    ]
    decisions = timeline.of_kind(DECISION)
    assert [(d.actor, d.data["action"], d.round) for d in decisions] == [
        (OM, "reject", 1),
        (OM, "reject", 2),
        (OM, "approve", 3),
    ]
    assert "PO_MISSING" in decisions[0].data["reasons"]
    assert "PO_MISSING" in decisions[0].summary
    assert decisions[0].data["comment"] in decisions[0].summary
    resubmits = timeline.of_kind(REP_ACTION)
    assert [(r.actor, r.role, r.round) for r in resubmits] == [(REP, "rep", 2), (REP, "rep", 3)]
    assert all("resubmitted" in r.summary for r in resubmits)
    assert len(timeline.of_kind(CHATTER)) == 2
    assert [b.round for b in timeline.of_kind(BUSINESS_TIME)] == [1, 2, 3]

    markdown = timeline.to_markdown()
    assert markdown.count(OM) >= 3 and REP in markdown
    assert "PO_MISSING" in markdown
    assert "resubmitted by the rep" in markdown


def test_finance_rejection_opens_a_new_round_and_names_the_accuracy_miss():
    timeline = timeline_of("test_finance_reject_returns_to_om_as_accuracy_miss.json")

    (billing,) = timeline.of_kind(FINANCE_REVIEW)
    assert billing.data["action"] == "reject"
    assert billing.data["accuracy_miss_for"] == OM
    assert "back to Order Management" in billing.summary
    rounds = timeline.of_kind(REVIEW_ROUND)
    assert [r.data["reason"] for r in rounds] == [
        "submitted for approval",
        "Billing rejected round 1",
    ]


def test_undelivered_license_shows_checks_ticket_rechecks_and_solution():
    timeline = timeline_of(
        "test_undelivered_license_opens_one_ticket_and_completes_when_delivered.json"
    )

    (ticket,) = timeline.of_kind(TICKET)
    ticket_id = ticket.data["ticket_id"]
    assert isinstance(ticket_id, int)
    assert f"Support ticket {ticket_id} opened" in ticket.summary
    (solved,) = timeline.of_kind(TICKET_SOLVED)
    assert solved.data["ticket_id"] == ticket_id
    checks = timeline.of_kind(LICENSE_CHECK)
    assert len(checks) >= 2
    assert [c.data["result"]["delivered"] for c in checks] == [False] * (len(checks) - 1) + [True]
    assert "delivered" in checks[-1].summary
    rechecks = timeline.of_kind(TIMER)
    assert rechecks and all("license re-check" in t.summary for t in rechecks)
    assert timeline.of_kind(CRM_UPDATE)[-1].data["input"]["license_delivery_date"]
    assert f"Support ticket {ticket_id}" in timeline.to_markdown()


def test_sla_warnings_breach_and_cross_region_decision():
    timeline = timeline_of("test_warnings_at_50_and_75_percent_then_breach_escalates.json")

    assert [t.data["checkpoint"] for t in timeline.of_kind(SLA_TIMER)] == [
        "warn_50",
        "warn_75",
        "breach",
    ]
    assert "breached" in timeline.of_kind(SLA_TIMER)[-1].summary
    (decision,) = timeline.of_kind(DECISION)
    assert decision.actor == "om.emea@example.com" and decision.region == "EMEA"
    assert decision.data["taken_because"] == "SLA breached: escalated to every region"
    (business,) = timeline.of_kind(BUSINESS_TIME)
    assert business.data["sla_met"] is False and "SLA missed" in business.summary


def test_urgent_handoff_is_shown_on_the_round_and_the_decision():
    timeline = timeline_of("test_urgent_submission_while_home_closed_is_handed_to_open_region.json")

    (round_1,) = timeline.of_kind(REVIEW_ROUND)
    assert round_1.region != "AMER"
    assert round_1.data["handoff_reason"] and "handed off" in round_1.summary
    (decision,) = timeline.of_kind(DECISION)
    assert decision.data["taken_because"].startswith(f"handoff to {round_1.region}")


def test_automatic_precheck_rejection_is_inferred_from_recorded_facts():
    timeline = timeline_of("test_auto_reject_on_findings_rejects_at_once_with_codes.json")

    (pre_check,) = timeline.of_kind(PRE_CHECK)
    codes = [f["code"] for f in pre_check.data["findings"] if f["severity"] == "hard"]
    assert codes
    (decision,) = timeline.of_kind(DECISION)
    assert decision.actor == "pre-check" and decision.data["inferred"] is True
    assert decision.data["reasons"] == codes
    assert any("automatic pre-check" in note for note in timeline.notes)
    assert timeline.stage == "rejected" and timeline.status == "running"
    assert any("still running" in note for note in timeline.notes)


def test_history_recorded_before_the_review_plan_reads_its_legacy_clock():
    timeline = timeline_of(
        "before-review-plan/test_reject_then_resubmit_runs_new_rounds_in_same_workflow.json"
    )

    rounds = timeline.of_kind(REVIEW_ROUND)
    assert [r.round for r in rounds] == [1, 2, 3]
    assert all(r.data["sla_deadline"] and "checkpoints" not in r.data for r in rounds)
    assert [d.data["action"] for d in timeline.of_kind(DECISION)] == ["reject", "reject", "approve"]
    assert not timeline.of_kind(BUSINESS_TIME)  # not measured before the patch
    assert any("before the review-plan-v1 patch" in note for note in timeline.notes)


def test_markdown_mentions_decisions_rule_deadlines_and_the_refusal_note():
    timeline = timeline_of("test_saas_deal_approved_by_om_and_billing_completes.json")
    markdown = timeline.to_markdown()
    (close,) = timeline.of_kind(CLOSE_DATE)
    (round_1,) = timeline.of_kind(REVIEW_ROUND)

    assert markdown.startswith(f"# Audit timeline: opportunity {timeline.opportunity_id}")
    assert OM in markdown and BILLING in markdown
    assert close.data["close_date"] in markdown and close.data["rule"] in markdown
    assert round_1.summary in markdown
    assert REFUSALS_NOTE in timeline.notes and REFUSALS_NOTE in markdown
    assert timeline.time_zone in markdown
    # One table row per entry.
    assert sum(1 for line in markdown.splitlines() if line.startswith("| ")) == (
        len(timeline.entries) + 1
    )


def test_timeline_json_round_trips():
    timeline = timeline_of("test_self_managed_license_delivered_by_automation.json")
    assert Timeline.model_validate_json(timeline.model_dump_json()) == timeline


@pytest.mark.parametrize(
    "path",
    recorded_histories("OpportunityApprovalWorkflow"),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_every_recorded_history_renders(path: Path):
    timeline = timeline_of(json.loads(path.read_text()))
    first = timeline.entries[0]
    if first.kind == RUN_CONTINUED:  # a later run of a workflow that continued as new
        assert first.run == first.data["run"] > 1
        assert any("continues run" in note for note in timeline.notes)
    else:
        assert first.kind == SUBMITTED
        assert timeline.of_kind(REVIEW_ROUND)
    assert REFUSALS_NOTE in timeline.notes


def chain(name: str) -> list[WorkflowHistory]:
    """The runs of a recorded workflow that continued as new, oldest first."""
    paths = sorted(
        HISTORIES.glob(f"{name}.run*.json"), key=lambda p: int(p.stem.rsplit(".run", 1)[1])
    )
    return [
        WorkflowHistory.from_json(name, json.loads(p.read_text()))
        for p in [*paths, HISTORIES / f"{name}.json"]
    ]


def test_the_runs_of_a_continued_workflow_read_as_one_timeline():
    runs = chain("test_sla_checkpoints_fire_once_each_in_the_runs_that_follow")
    assert len(runs) > 2
    timeline = build_timeline(runs)

    assert timeline.runs == [r.run_id for r in runs] and timeline.status == "completed"
    assert timeline.event_count == sum(len(r.events) for r in runs)
    assert timeline.entries[0].kind == SUBMITTED
    assert [e.data["run"] for e in timeline.of_kind(RUN_CONTINUED)] == list(range(2, len(runs) + 1))
    assert [e.run for e in timeline.entries] == sorted(e.run for e in timeline.entries)
    checkpoints = [(e.data["checkpoint"], e.round) for e in timeline.of_kind(SLA_TIMER)]
    assert checkpoints == [("warn_50", 1), ("warn_75", 1), ("breach", 1)]
    (decision,) = timeline.of_kind(DECISION)
    assert decision.round == 1 and "SLA breached" in decision.summary  # the plan came from run 1
    assert any("continued as new" in note for note in timeline.notes)
    rows = timeline.to_markdown().splitlines()
    assert any(row.endswith("| 2:1 |") for row in rows)  # run 2's first event

    # A run read alone takes its starting point from its input: the same entries.
    for number, run in enumerate(runs, 1):
        assert build_timeline(run).entries == [e for e in timeline.entries if e.run == number]


def test_update_refused_inside_its_handler_is_shown_as_refused():
    """Two decisions in one workflow task both pass their validators; the
    handler refuses the second. That refusal IS in history: show it."""
    data = load("test_saas_deal_approved_by_om_and_billing_completes.json")
    completed = next(
        e
        for e in data["events"]
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED"
    )
    attrs = completed["workflowExecutionUpdateCompletedEventAttributes"]
    attrs["outcome"] = {"failure": {"message": "round 1 was already decided"}}

    timeline = timeline_of(data)

    (refused,) = timeline.of_kind(UPDATE_REFUSED)
    assert refused.actor == OM
    assert "round 1 was already decided" in refused.summary
    assert "nothing changed" in refused.summary


def test_a_history_of_another_workflow_type_is_refused():
    data = load("test_saas_deal_approved_by_om_and_billing_completes.json")
    data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] = (
        "RenewalReconciliationWorkflow"
    )
    with pytest.raises(AuditError, match="not an OpportunityApprovalWorkflow"):
        timeline_of(data)
