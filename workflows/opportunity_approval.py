"""OpportunityApprovalWorkflow: one durable workflow per submitted opportunity.

The handbook's cycle as a state machine (workflow id `opportunity-<id>`):

    submitted -> om_review --approve--> finance_review --approve--> closed_won
                   |  ^ \\--reject--> rejected --resubmit--/       |
                   |  |  \\--recall--> recalled --resubmit--/       |
                   |  \\---- finance reject (new round) ----/       v
                   |                         self_managed: license_check -> completed
                   |                                        \\-> license_ticket -> completed
    rejected / recalled --close_lost--> closed_lost          saas: completed

Orchestration and state only: every side effect is an activity called by
name, time comes from `workflow.now()`, and values that depend on data that
changes between releases (holiday calendars, bookings policy) come from local
activities so replay reads them from history instead of recomputing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.authorization import NotYet, ReviewState, check_decision, check_rep_action
    from domain.messages import (
        ActivityName,
        Actor,
        ApprovalInput,
        ApprovalStatus,
        BookingCheckRequest,
        BusinessTimeRequest,
        CarriedState,
        ChatterPost,
        CloseDate,
        CloseDateRequest,
        CrmUpdate,
        Decision,
        DecisionReceipt,
        LicenseStatus,
        Notification,
        RepAction,
        ReviewClock,
        ReviewClockRequest,
        ReviewPlanRequest,
        RoundRecord,
        SolveTicket,
        Ticket,
        TicketRequest,
    )
    from domain.models import TERMINAL_STAGES, Deployment, HistoryEntry, Region, Stage
    from domain.names import APPROVAL_WORKFLOW_TYPE
    from domain.policy import Role
    from domain.queue import priority_token, review_token
    from domain.reasons import REASON_MESSAGES, parse_reason_codes
    from domain.requirements import Finding
    from domain.sla import CHECKPOINT_WORDS, ReviewPlan, SlaCheckpoint
    from workflows import search_attributes as sa

# Patch id of the SLA plan, checkpoints, handoff/cover and search attributes
# (docs/architecture.md, "Business calendars and the 12-business-hour SLA").
# Histories recorded before it replay the earlier behaviour.
REVIEW_PLAN_PATCH = "review-plan-v1"
# Patch id of continue-as-new: a run whose history has grown past the
# threshold starts afresh from its state (docs/architecture.md).
CONTINUE_AS_NEW_PATCH = "continue-as-new"
# Patch id of the hard-finding override: an OM approval of a round with hard
# pre-check findings must override each by code, with a comment. Histories
# recorded before it approved such rounds without one, and replay so.
HARD_FINDING_OVERRIDE_PATCH = "hard-finding-override"
# Patch id of the queue-row search attribute (OmReview: round, pre-check
# counts, clock start, Billing's date, handoff reason). Upserting it is a
# command, so histories recorded before it replay without it.
QUEUE_ROW_PATCH = "queue-row-v1"

# CRM values written at each transition (Salesforce picklist values).
CRM_SUBMITTED = {"stage": "7-Closing", "approval_status": "In Progress", "locked": True}
CRM_REJECTED = {"stage": "6-Awaiting Signature", "approval_status": "Rejected", "locked": False}
CRM_RECALLED = {"stage": "6-Awaiting Signature", "approval_status": "Recalled", "locked": False}
CRM_CLOSED_LOST = {"stage": "Closed Lost", "approval_status": "Closed", "locked": False}
CRM_CLOSED_WON = {"stage": "Closed Won", "approval_status": "Approved", "locked": True}

# Stages the workflow leaves by itself, without waiting for a person.
_AUTOMATIC_STAGES = frozenset({Stage.CLOSED_WON, Stage.LICENSE_CHECK, Stage.LICENSE_TICKET})
# Stages a run may continue as new in: each waits (for a person, or between
# license re-checks) with nothing half-done; the stages left at once are not.
_WAITING_STAGES = frozenset(
    {Stage.OM_REVIEW, Stage.REJECTED, Stage.RECALLED, Stage.FINANCE_REVIEW, Stage.LICENSE_TICKET}
)
# History entries a continued run carries at most (about 250 bytes each, so
# the new run's input stays far below the 2 MB payload limit); the older ones
# are summed up in one entry and stay in the earlier runs' event histories.
_CARRIED_HISTORY_ENTRIES = 1000
_HISTORY_TRIMMED = "earlier_history"

# Transient faults (5xx, rate limits, expired sessions) are retried for as
# long as it takes; adapters mark bad data non-retryable.
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
_TIMEOUT = timedelta(seconds=60)
_POLICY_TIMEOUT = timedelta(seconds=10)


@workflow.defn(name=APPROVAL_WORKFLOW_TYPE)
class OpportunityApprovalWorkflow:
    """Carries one opportunity from submission to booked (and licensed)."""

    @workflow.init
    def __init__(self, inp: ApprovalInput) -> None:
        self._opp = inp.opportunity
        self._submitted_at = inp.submitted_at
        self._recheck = timedelta(seconds=inp.license_recheck_seconds)
        self._auto_reject = inp.auto_reject_on_findings
        self._findings: list[Finding] = []
        self._stage = Stage.SUBMITTED
        self._round = 0
        self._round_started_at = inp.submitted_at
        self._clock: ReviewClock | None = None
        self._om_approver: str | None = None
        self._effects: list[tuple[Callable[[Any], Awaitable[None]], Any]] = []
        self._close: CloseDate | None = None
        self._license_delivery_date: date | None = None
        self._ticket_id: int | None = None
        self._finance_rejections = 0
        self._history: list[HistoryEntry] = []
        self._v2 = False
        self._queue_row = False
        self._plan: ReviewPlan | None = None
        self._rounds: list[RoundRecord] = []
        self._fired: set[str] = set()
        self._breached = False
        self._channels = inp.channels
        self._local_activities = 0
        """Policy local activities in flight; Updates wait while any runs."""
        self._continue_after = inp.continue_as_new_after_events
        self._run = 1
        if inp.carried is not None:
            self._resume(inp.carried)

    def _resume(self, carried: CarriedState) -> None:
        """Take up where the previous run stopped (it continued as new)."""
        self._run = carried.run
        self._v2 = carried.review_plan
        self._stage = carried.stage
        self._round = carried.round
        self._round_started_at = carried.round_started_at
        self._clock = carried.clock
        self._plan = carried.plan
        self._findings = list(carried.findings)
        self._om_approver = carried.om_approver
        self._close = carried.close
        self._license_delivery_date = carried.license_delivery_date
        self._ticket_id = carried.ticket_id
        self._finance_rejections = carried.finance_rejections
        self._fired = set(carried.fired)
        self._breached = carried.breached
        self._rounds = [r.model_copy() for r in carried.rounds]
        self._history = list(carried.history)

    # ---- the cycle -------------------------------------------------------
    #
    # Messages from people (the Updates below) change the stage at once, in
    # their handler, so a second message sees the new stage and is refused;
    # the side effects each transition needs (CRM writes, Chatter posts,
    # recorded policy answers) are queued and carried out here, in order.

    @workflow.run
    async def run(self, inp: ApprovalInput) -> ApprovalStatus:
        if inp.carried is None:
            self._v2 = workflow.patched(REVIEW_PLAN_PATCH)
            self._queue_row = self._v2 and workflow.patched(QUEUE_ROW_PATCH)
            self._note(
                "intake", "submitted", f"{self._opp.name} ({self._opp.account.region.value})"
            )
            await self._crm(**CRM_SUBMITTED)
            self._begin_round("submitted for approval")
        else:
            # A continued run: the round is open (or decided) already, its CRM
            # write and plan are in the earlier run. Only the search attributes
            # are set again, so this run answers the queue on its own.
            self._queue_row = self._v2 and workflow.patched(QUEUE_ROW_PATCH)
            self._publish()
        acted = False  # this run has done something (a run never continues on arrival)
        while self._effects or self._stage not in TERMINAL_STAGES:
            if acted and self._continue_as_new_due():
                # Updates accepted in this task finish first; one may queue
                # side effects, which are carried out here before switching.
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._quiet():
                    workflow.continue_as_new(inp.model_copy(update={"carried": self._carry()}))
            acted = True
            try:
                await workflow.wait_condition(
                    lambda: bool(self._effects) or self._stage in _AUTOMATIC_STAGES,
                    timeout=self._until_next_checkpoint(),
                )
            except TimeoutError:
                continue  # an SLA checkpoint is due: the next pass fires it
            if self._effects:
                effect, payload = self._effects[0]
                await effect(payload)
                self._effects.pop(0)  # only now: `pending_effects` counts it until done
            elif self._stage == Stage.CLOSED_WON:
                self._enter(
                    Stage.LICENSE_CHECK
                    if self._opp.deployment == Deployment.SELF_MANAGED
                    else Stage.COMPLETED,
                    "workflow",
                    "closed won",
                )
            elif self._stage == Stage.LICENSE_CHECK:
                await self._license_check()
            elif self._stage == Stage.LICENSE_TICKET:
                await self._license_ticket()
        return self.status()

    # ---- continue-as-new ----------------------------------------------------
    #
    # A deal that bounces between the rep and Order Management for months, or
    # waits long for a license, adds events every round and every re-check.
    # Past a threshold the run starts afresh with its state as input.

    def _quiet(self) -> bool:
        """Nothing half-done: no side effect queued, no policy answer being
        recorded, and a stage that waits."""
        return not self._effects and not self._local_activities and self._stage in _WAITING_STAGES

    def _continue_as_new_due(self) -> bool:
        """Whether to continue as new now: quiet, the history long enough, and
        the workflow patched. The patch is asked last, only when everything
        else says switch: replaying a history recorded before it, the answer
        there is False (and stays False for that workflow), so it replays as
        it was recorded."""
        if not self._quiet():
            return False
        info = workflow.info()
        limit = self._continue_after
        long_enough = info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() >= limit
        )
        return long_enough and workflow.patched(CONTINUE_AS_NEW_PATCH)

    def _carry(self) -> CarriedState:
        """The state the next run starts from."""
        return CarriedState(
            run=self._run + 1,
            previous_run_id=workflow.info().run_id,
            review_plan=self._v2,
            stage=self._stage,
            round=self._round,
            round_started_at=self._round_started_at,
            clock=self._clock,
            plan=self._plan,
            findings=list(self._findings),
            om_approver=self._om_approver,
            close=self._close,
            license_delivery_date=self._license_delivery_date,
            ticket_id=self._ticket_id,
            finance_rejections=self._finance_rejections,
            fired=sorted(self._fired),
            breached=self._breached,
            rounds=[r.model_copy() for r in self._rounds],
            history=_trimmed(self._history),
        )

    # ---- the SLA of an Order Management review round ------------------------

    def _until_next_checkpoint(self) -> timedelta | None:
        """Fire the SLA checkpoints that are due; the wait until the next one.

        Only while Order Management review is pending: a decision, recall or
        a new round wakes the loop, which cancels the pending timer.
        """
        plan = self._plan
        if plan is None or self._stage != Stage.OM_REVIEW or self._effects:
            return None
        now = workflow.now()
        pending = [c for c in plan.checkpoints if c.kind not in self._fired]
        due = [c for c in pending if c.at <= now]
        if due:
            # Only the furthest one is announced: a round planned after its
            # deadline (a late resume) escalates once instead of three times.
            self._fired.update(c.kind for c in due)
            self._fire_checkpoint(due[-1])
            return None
        return pending[0].at - now if pending else None

    def _fire_checkpoint(self, checkpoint: SlaCheckpoint) -> None:
        plan = self._plan
        assert plan is not None
        record = self._rounds[-1]
        deadline = plan.sla_deadline.isoformat()
        queue_region = plan.assigned_region
        key = f"round-{self._round}-{checkpoint.kind}"
        if checkpoint.kind != "breach":
            record.warnings.append(checkpoint.kind)
            used = CHECKPOINT_WORDS[checkpoint.kind]
            self._note("workflow", "sla_warning", f"{used} of the SLA used; deadline {deadline}")
            self._notify(
                self._channels.queue[queue_region],
                f"{self._opp.id} ({self._opp.name}): {used} of the review SLA used, "
                f"deadline {deadline}.",
                key,
            )
            return
        self._breached = record.breached = True
        self._note(
            "workflow",
            "sla_breached",
            f"deadline {deadline} passed without a decision; escalated to the "
            f"{queue_region.value} manager and offered to every region",
        )
        self._notify(
            self._channels.manager[queue_region],
            f"SLA breached: {self._opp.id} ({self._opp.name}) has no Order Management "
            f"decision; the deadline was {deadline}.",
            key,
        )
        for region in Region:
            if region != queue_region:
                self._notify(
                    self._channels.queue[region],
                    f"Breached {queue_region.value} review {self._opp.id} ({self._opp.name}) "
                    "may be taken by any region.",
                    f"{key}-{region.value}",
                )
        self._publish()

    def _notify(self, channel: str, text: str, key: str) -> None:
        self._effects.append(
            (
                self._send,
                Notification(
                    channel=channel,
                    text=text,
                    idempotency_key=f"{workflow.info().workflow_id}-{key}",
                    opportunity_id=self._opp.id,
                ),
            )
        )

    async def _send(self, notification: Notification) -> None:
        await workflow.execute_activity(
            ActivityName.NOTIFY,
            notification,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )

    def _publish(self) -> None:
        """Search attributes for queues and the Temporal UI (patched workflows)."""
        if not self._v2:
            return
        plan = self._plan
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.OM_STAGE.value_set(self._stage.value),
            sa.OM_REGION.value_set(self._opp.account.region.value),
            sa.OM_QUEUE_REGION.value_set(
                (plan.assigned_region if plan else self._opp.account.region).value
            ),
            sa.OM_PRIORITY.value_set(
                priority_token(
                    self._opp.urgent,
                    self._opp.quote.start_date,
                    self._opp.amount,
                    self._round_started_at,
                )
            ),
            sa.OM_BREACHED.value_set(self._breached),
            sa.OM_URGENT.value_set(self._opp.urgent),
            sa.OM_AMOUNT.value_set(float(self._opp.amount)),
            sa.OM_ASSIGNEE.value_set(self._om_approver or ""),
        ]
        if plan is not None:
            updates.append(sa.OM_SLA_DEADLINE.value_set(plan.sla_deadline))
        if self._queue_row:
            # -1: the round's pre-check has not answered yet (or an old round).
            checked = self._clock is not None
            hard = sum(f.severity == "hard" for f in self._findings) if checked else -1
            judgment = sum(f.severity != "hard" for f in self._findings) if checked else -1
            updates.append(
                sa.OM_REVIEW.value_set(
                    review_token(
                        self._round,
                        hard,
                        judgment,
                        plan.clock_start if plan else None,
                        plan.billing_review_due if plan else None,
                        plan.handoff_reason if plan else None,
                    )
                )
            )
        workflow.upsert_search_attributes(updates)

    def _begin_round(self, why: str) -> None:
        self._round += 1
        # The first round's clock starts at submission (intake time); later
        # rounds when they begin.
        first = self._round == 1 and self._v2
        self._round_started_at = self._submitted_at if first else workflow.now()
        self._clock = None
        self._plan = None
        self._fired = set()
        self._breached = False
        self._om_approver = None
        self._rounds.append(
            RoundRecord(
                round=self._round,
                opened_at=self._round_started_at,
                reason=why,
                home_region=self._opp.account.region,
            )
        )
        self._enter(Stage.OM_REVIEW, "workflow", f"round {self._round}: {why}")
        self._findings = []
        self._effects.append((self._open_round, (self._round, self._round_started_at)))

    async def _open_round(self, args: tuple[int, datetime]) -> None:
        """Record the round's SLA clock and pre-check findings in history."""
        round_, started_at = args
        plan: ReviewPlan | None = None
        if self._v2:
            plan = await self._policy(
                ActivityName.PLAN_REVIEW_ROUND,
                ReviewPlanRequest(
                    region=self._opp.account.region,
                    submitted_at=started_at,
                    urgent=self._opp.urgent,
                    opportunity=self._opp,
                    first_submitted_at=self._submitted_at,
                ),
                result_type=ReviewPlan,
            )
            clock = ReviewClock(clock_start=plan.clock_start, sla_deadline=plan.sla_deadline)
        else:
            clock = await self._policy(
                ActivityName.REVIEW_CLOCK,
                ReviewClockRequest(region=self._opp.account.region, submitted_at=started_at),
                result_type=ReviewClock,
            )
        findings = await self._policy(
            ActivityName.BOOKING_CHECK,
            BookingCheckRequest(opportunity=self._opp, submitted_at=self._submitted_at),
            result_type=list[Finding],
        )
        self._note(
            "workflow",
            "sla_clock",
            f"round {round_}: SLA clock starts {clock.clock_start.isoformat()}, "
            f"deadline {clock.sla_deadline.isoformat()}",
        )
        self._note(
            "pre-check",
            "booking_check",
            "; ".join(f"{f.code} ({f.field})" for f in findings) or "no findings",
        )
        if plan is not None and plan.handoff_reason:
            self._note(
                "workflow",
                "handoff",
                f"round {round_} offered to {plan.assigned_region.value}: {plan.handoff_reason}",
            )
        if round_ != self._round:
            return  # a newer round began meanwhile; it records its own
        self._clock, self._findings, self._plan = clock, findings, plan
        record = self._rounds[-1]
        record.clock_start, record.sla_deadline = clock.clock_start, clock.sla_deadline
        if plan is not None:
            record.assigned_region = plan.assigned_region
            record.handoff_reason = plan.handoff_reason
        self._publish()
        hard = [f.code for f in findings if f.severity == "hard"]
        if self._auto_reject and hard and self._stage == Stage.OM_REVIEW:
            self._apply_decision(
                Decision(
                    actor=Actor(
                        email="pre-check",
                        role=Role.ORDER_MANAGEMENT,
                        regions=[self._opp.account.region],
                    ),
                    stage="om",
                    action="reject",
                    reasons=list(dict.fromkeys(hard)),
                    comment="The automatic pre-check found missing booking requirements; "
                    "fix them and resubmit.",
                    round=round_,
                )
            )

    # Transitions, applied by the Update handlers -------------------------------

    def _apply_decision(self, decision: Decision) -> None:
        who = decision.actor.email
        if decision.stage == "om":
            taken = self._close_om_round(decision)
            suffix = f" ({taken})" if taken else ""
        if decision.stage == "om" and decision.action == "approve":
            self._om_approver = who
            overridden = sorted({c.strip().upper() for c in decision.overrides if c.strip()})
            if overridden:
                self._rounds[-1].overrides = overridden
                self._note(
                    who,
                    "hard_findings_overridden",
                    f"overrode {', '.join(overridden)} (round {self._round}): {decision.comment}",
                )
            self._enter(
                Stage.FINANCE_REVIEW,
                who,
                "Order Management approved"
                + (f": {decision.comment}" if decision.comment else "")
                + (
                    f" (acknowledged {', '.join(decision.acknowledged)})"
                    if decision.acknowledged
                    else ""
                )
                + suffix,
            )
        elif decision.stage == "om":
            codes = ", ".join(c.value for c in parse_reason_codes(decision.reasons))
            self._enter(Stage.REJECTED, who, f"rejected [{codes}]: {decision.comment}{suffix}")
            self._effects.append((self._after_om_reject, decision))
        elif decision.action == "approve":
            self._enter(
                Stage.CLOSED_WON,
                who,
                "Billing approved" + (f": {decision.comment}" if decision.comment else ""),
            )
            self._effects.append((self._after_closed_won, decision))
        else:
            # The deal stays in 7-Closing and goes back to Order Management of
            # the same region; it counts against approval accuracy.
            self._finance_rejections += 1
            om_approver = self._om_approver or "Order Management"
            self._note(
                who,
                "finance_rejected",
                f"Billing rejected: {decision.comment} (accuracy miss for {om_approver})",
            )
            self._effects.append((self._after_finance_reject, (decision, om_approver)))
            self._begin_round(f"Billing rejected round {self._round}")

    def _close_om_round(self, decision: Decision) -> str | None:
        """Record who decided the round, and why when outside the home region;
        measure the business time it took (patched workflows)."""
        record = self._rounds[-1]
        record.outcome = "approved" if decision.action == "approve" else "rejected"
        record.decided_at = workflow.now()
        record.decided_by = decision.actor.email
        if self._opp.account.region not in decision.actor.regions:
            record.taken_because = self._cover_reason() or "cover"
        if self._v2 and record.clock_start is not None:
            self._effects.append((self._measure_round, record))
        return (
            f"taken by {decision.actor.email} "
            f"({'/'.join(r.value for r in decision.actor.regions)}): {record.taken_because}"
            if record.taken_because
            else None
        )

    async def _measure_round(self, record: RoundRecord) -> None:
        assert record.clock_start is not None and record.decided_at is not None
        seconds = await self._policy(
            ActivityName.BUSINESS_TIME,
            BusinessTimeRequest(
                region=record.assigned_region or record.home_region,
                start=record.clock_start,
                end=max(record.clock_start, record.decided_at),
            ),
            result_type=float,
        )
        record.business_seconds_to_decision = seconds
        record.sla_met = (
            record.sla_deadline is not None and record.decided_at <= record.sla_deadline
        )
        self._note(
            "workflow",
            "sla_result",
            f"round {record.round}: decided after {seconds / 3600:.2f} business hours; SLA "
            + ("met" if record.sla_met else "missed"),
        )

    def _cover_reason(self) -> str | None:
        """Why a specialist outside the home region may decide now, or None."""
        plan = self._plan
        if plan is None:
            return None
        if self._breached:
            return "SLA breached: escalated to every region"
        reason = plan.cover_reason(workflow.now())
        if reason:
            return reason
        if plan.assigned_region != plan.home_region:
            return f"handoff to {plan.assigned_region.value} ({plan.handoff_reason})"
        return None

    def _apply_rep_action(self, action: str, rep: RepAction) -> None:
        who = rep.actor.email
        if action == "recall":
            if self._stage == Stage.OM_REVIEW:
                self._rounds[-1].outcome = "recalled"
            self._enter(Stage.RECALLED, who, rep.comment or "recalled by the rep")
            self._effects.append((self._crm_effect, CRM_RECALLED))
        elif action == "close_lost":
            self._enter(Stage.CLOSED_LOST, who, rep.comment or "closed lost / cancelled")
            self._effects.append((self._crm_effect, CRM_CLOSED_LOST))
        else:
            self._note(who, "resubmitted", rep.comment)
            self._effects.append((self._crm_effect, CRM_SUBMITTED))
            self._begin_round("resubmitted by the rep")

    # Side effects, carried out by the run loop ----------------------------------

    async def _crm_effect(self, fields: dict[str, object]) -> None:
        await self._crm(**fields)

    async def _after_om_reject(self, decision: Decision) -> None:
        await self._crm(**CRM_REJECTED)
        lines = [
            f"Order Management rejected this opportunity (round {decision.round}).",
            *(
                f"- {code.value}: {REASON_MESSAGES[code]}"
                for code in parse_reason_codes(decision.reasons)
            ),
            f"Comment from {decision.actor.email}: {decision.comment}",
        ]
        await self._chatter("\n".join(lines), f"om-reject-{decision.round}")

    async def _after_finance_reject(self, args: tuple[Decision, str]) -> None:
        decision, om_approver = args
        await self._chatter(
            f"Billing rejected this opportunity (round {decision.round}); "
            f"@{self._opp.owner.email} and @{om_approver} please fix and re-review.\n"
            f"Comment from {decision.actor.email}: {decision.comment}",
            f"finance-reject-{decision.round}",
        )

    async def _after_closed_won(self, decision: Decision) -> None:
        self._close = await self._policy(
            ActivityName.CLOSE_DATE,
            CloseDateRequest(
                opportunity=self._opp, submitted_at=self._submitted_at, approved_at=workflow.now()
            ),
            result_type=CloseDate,
        )
        self._note(
            "workflow",
            "close_date",
            f"{self._close.close_date.isoformat()} ({self._close.rule}: {self._close.explanation})",
        )
        await self._crm(**CRM_CLOSED_WON, close_date=self._close.close_date)

    async def _license_check(self) -> None:
        status = await self._check_license()
        if status.delivered:
            await self._record_delivery(status, "delivered by automation")
            return
        sold_to = self._opp.quote.sold_to
        ticket = await workflow.execute_activity(
            ActivityName.CREATE_TICKET,
            TicketRequest(
                opportunity_id=self._opp.id,
                idempotency_key=f"{workflow.info().workflow_id}-{self._round}",
                subject=f"Manual license delivery needed: {self._opp.name}",
                body=(
                    f"Automation did not deliver the license for opportunity {self._opp.id} "
                    f"({self._opp.name}), Closed Won. Please deliver it manually to the "
                    f"Sold To contact of the primary quote {self._opp.quote.number}: "
                    f"{sold_to.name} <{sold_to.email}>."
                ),
                requester_name=self._opp.owner.name,
                requester_email=self._opp.owner.email,
            ),
            result_type=Ticket,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )
        self._ticket_id = ticket.id
        self._enter(
            Stage.LICENSE_TICKET,
            "workflow",
            f"license not delivered; Support ticket {ticket.id} opened",
        )

    async def _license_ticket(self) -> None:
        await workflow.sleep(self._recheck)
        status = await self._check_license()
        if not status.delivered:
            return
        if self._ticket_id is not None:
            await workflow.execute_activity(
                ActivityName.SOLVE_TICKET,
                SolveTicket(
                    ticket_id=self._ticket_id,
                    comment="License delivery confirmed by the license service.",
                ),
                start_to_close_timeout=_TIMEOUT,
                retry_policy=_RETRY,
            )
        await self._record_delivery(status, f"delivered; ticket {self._ticket_id} resolved")

    async def _check_license(self) -> LicenseStatus:
        status: LicenseStatus = await workflow.execute_activity(
            ActivityName.CHECK_LICENSE,
            self._opp.id,
            result_type=LicenseStatus,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )
        return status

    async def _record_delivery(self, status: LicenseStatus, why: str) -> None:
        delivered = (status.delivered_at or workflow.now()).date()
        self._license_delivery_date = delivered
        await self._crm(license_delivery_date=delivered)
        self._enter(Stage.COMPLETED, "workflow", f"license {why} on {delivered.isoformat()}")

    # ---- messages from people ---------------------------------------------

    @workflow.update
    async def decide(self, decision: Decision) -> DecisionReceipt:
        """An Order Management or Billing decision on the pending round."""
        # Two updates delivered in one workflow task both pass their
        # validators before either handler runs: check again here.
        enforce = self._override_rule_applies(decision)
        self._refuse_unless(lambda: self._check_decision(decision, enforce))
        decided_round = self._round
        self._apply_decision(decision.model_copy(update={"round": decided_round}))
        verb = "approved" if decision.action == "approve" else "rejected"
        return DecisionReceipt(
            round=decided_round,
            stage=self._stage.value,
            message=f"{decision.stage} review {verb} (round {decided_round}); "
            f"now {self._stage.value}",
        )

    @decide.validator
    def _validate_decide(self, decision: Decision) -> None:
        self._refuse_while_recording()
        self._check_decision(decision)

    def _check_decision(self, decision: Decision, override_rule: bool = True) -> None:
        check_decision(decision, self._review_state(override_rule))

    def _hard_codes(self) -> frozenset[str]:
        return frozenset(f.code for f in self._findings if f.severity == "hard")

    def _override_rule_applies(self, decision: Decision) -> bool:
        """Whether the handler holds an OM approval to the override rule.

        The validator always does (validators never run on replay). The
        handler runs on replay too, so it asks the patch, and only for an
        approval the rule concerns: a history recorded before the rule, which
        approved a round with hard findings without an override, replays as
        it was recorded.
        """
        concerned = (
            decision.stage == "om"
            and decision.action == "approve"
            and bool(self._hard_codes() or decision.overrides)
        )
        return concerned and workflow.patched(HARD_FINDING_OVERRIDE_PATCH)

    @workflow.update
    async def resubmit(self, rep: RepAction) -> DecisionReceipt:
        return self._accept_rep_action("resubmit", rep)

    @resubmit.validator
    def _validate_resubmit(self, rep: RepAction) -> None:
        self._refuse_while_recording()
        check_rep_action("resubmit", rep.actor, self._review_state())

    @workflow.update
    async def recall(self, rep: RepAction) -> DecisionReceipt:
        return self._accept_rep_action("recall", rep)

    @recall.validator
    def _validate_recall(self, rep: RepAction) -> None:
        self._refuse_while_recording()
        check_rep_action("recall", rep.actor, self._review_state())

    @workflow.update
    async def close_lost(self, rep: RepAction) -> DecisionReceipt:
        return self._accept_rep_action("close_lost", rep)

    @close_lost.validator
    def _validate_close_lost(self, rep: RepAction) -> None:
        self._refuse_while_recording()
        check_rep_action("close_lost", rep.actor, self._review_state())

    @workflow.query
    def status(self) -> ApprovalStatus:
        return ApprovalStatus(
            opportunity_id=self._opp.id,
            name=self._opp.name,
            stage=self._stage.value,
            round=self._round,
            region=self._opp.account.region,
            urgent=self._opp.urgent,
            amount=self._opp.amount,
            quote_start_date=self._opp.quote.start_date,
            submitted_at=self._submitted_at,
            round_started_at=self._round_started_at,
            sla_deadline=self._clock.sla_deadline if self._clock else None,
            om_approver=self._om_approver,
            close_date=self._close.close_date if self._close else None,
            license_delivery_date=self._license_delivery_date,
            support_ticket_id=self._ticket_id,
            finance_rejections=self._finance_rejections,
            findings=list(self._findings),
            pending_effects=len(self._effects),
            queue_region=self._plan.assigned_region if self._plan else self._opp.account.region,
            billing_review_due=self._plan.billing_review_due if self._plan else None,
            breached=self._breached,
            rounds=[r.model_copy() for r in self._rounds],
            history=list(self._history),
            opportunity=self._opp,
            run=self._run,
        )

    # ---- helpers --------------------------------------------------------------

    def _review_state(self, override_rule: bool = True) -> ReviewState:
        plan = self._plan
        cover: frozenset[Region] = frozenset()
        if plan is not None and (self._breached or plan.cover_reason(workflow.now())):
            cover = frozenset(Region)
        elif plan is not None:
            cover = frozenset({plan.assigned_region})
        return ReviewState(
            stage=self._stage,
            round=self._round,
            region=self._opp.account.region,
            owner_email=self._opp.owner.email,
            om_approver=self._om_approver,
            cover_regions=cover,
            needs_acknowledgement=frozenset(
                f.code for f in self._findings if f.severity == "acknowledge"
            ),
            needs_override=self._hard_codes() if override_rule else frozenset(),
            billing_review_due=plan.billing_review_due if plan else None,
            now=workflow.now(),
        )

    def _refuse_while_recording(self) -> None:
        """Turn an Update away while a policy local activity runs.

        A local activity can outlast the workflow task's heartbeat; the
        server then hands new Updates to the worker inside the same task,
        and one accepted there is recorded between the local activities'
        markers, where replay cannot place it (docs/architecture.md, "Decisions while a
        round opens"). Refused in the validator, the Update leaves no trace
        in history and the client sends it again (`om.approvals`).
        Validators do not run on replay, so this changes no recorded history.
        """
        if self._local_activities:
            raise NotYet(
                "the opportunity is between steps (recording its SLA plan, booking check "
                "or close date); nothing changed, send it again in a moment"
            )

    async def _policy(self, name: str, request: Any, result_type: Any) -> Any:
        """A policy answer (calendar, booking rules), recorded as a local activity."""
        self._local_activities += 1
        try:
            return await workflow.execute_local_activity(
                name, request, result_type=result_type, start_to_close_timeout=_POLICY_TIMEOUT
            )
        finally:
            self._local_activities -= 1

    @staticmethod
    def _refuse_unless(check: Callable[[], None]) -> None:
        """Run a validator inside a handler, failing the Update with its reason."""
        try:
            check()
        except ValueError as refused:
            raise ApplicationError(
                str(refused), type=type(refused).__name__, non_retryable=True
            ) from refused

    def _accept_rep_action(self, action: str, rep: RepAction) -> DecisionReceipt:
        self._refuse_unless(lambda: check_rep_action(action, rep.actor, self._review_state()))
        self._apply_rep_action(action, rep)
        return DecisionReceipt(
            round=self._round,
            stage=self._stage.value,
            message=f"{action} accepted; now {self._stage.value} (round {self._round})",
        )

    def _note(self, actor: str, action: str, detail: str = "") -> None:
        self._history.append(
            HistoryEntry(
                at=workflow.now(), actor=actor, action=action, detail=detail, round=self._round
            )
        )

    def _enter(self, stage: Stage, actor: str, detail: str) -> None:
        self._stage = stage
        self._note(actor, stage.value, detail)
        self._publish()

    async def _crm(self, **fields: object) -> None:
        await workflow.execute_activity(
            ActivityName.UPDATE_OPPORTUNITY,
            CrmUpdate(opportunity_id=self._opp.id, **fields),
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )

    async def _chatter(self, body: str, key: str) -> None:
        await workflow.execute_activity(
            ActivityName.POST_CHATTER,
            ChatterPost(
                opportunity_id=self._opp.id,
                body=body,
                idempotency_key=f"{workflow.info().workflow_id}-{key}",
            ),
            result_type=str,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )


def _trimmed(history: list[HistoryEntry]) -> list[HistoryEntry]:
    """At most `_CARRIED_HISTORY_ENTRIES` entries: the newest, after one that
    counts the older ones (adding to the count an earlier trim left)."""
    if len(history) <= _CARRIED_HISTORY_ENTRIES:
        return list(history)
    earlier = 0
    if history[0].action == _HISTORY_TRIMMED:
        earlier = int(history[0].detail.split(" ", 1)[0]) - 1
    keep = history[-(_CARRIED_HISTORY_ENTRIES - 1) :]
    dropped = len(history) - len(keep) + earlier
    return [
        HistoryEntry(
            at=keep[0].at,
            actor="workflow",
            action=_HISTORY_TRIMMED,
            detail=f"{dropped} earlier entries are in the event histories of the "
            "earlier runs (om audit shows them)",
            round=keep[0].round,
        ),
        *keep,
    ]
