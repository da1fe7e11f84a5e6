"""Messages between workflows and activities, and between clients and workflows.

Workflows call activities by name (see `ActivityName`), passing these models,
so workflow code never imports an adapter or its HTTP client.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.models import (
    DecisionAction,
    DecisionStage,
    HistoryEntry,
    Opportunity,
    Region,
    Stage,
)
from domain.policy import Channels, Role
from domain.requirements import Finding
from domain.sla import ReviewPlan


class ActivityName(StrEnum):
    READ_OPPORTUNITY = "salesforce.read_opportunity"
    UPDATE_OPPORTUNITY = "salesforce.update_opportunity"
    POST_CHATTER = "salesforce.post_chatter"
    CHECK_LICENSE = "license.check_delivery"
    CREATE_TICKET = "support.create_ticket"
    SOLVE_TICKET = "support.solve_ticket"
    REVIEW_CLOCK = "policy.review_clock"
    CLOSE_DATE = "policy.close_date"
    BOOKING_CHECK = "policy.booking_check"
    PLAN_REVIEW_ROUND = "policy.plan_review_round"
    BUSINESS_TIME = "policy.business_time"
    NOTIFY = "notify.send"
    INTAKE_POLL = "intake.poll"
    PROJECT_REPORTING = "reporting.project"
    LICENSE_REVIEW_RUN = "license_review.run"
    LICENSE_REVIEW_BUSINESS_DAY = "license_review.business_day"
    RECONCILE_RENEWALS = "renewals.reconcile"


class CrmUpdate(BaseModel):
    """Fields to set on the CRM opportunity; None leaves a field as it is.
    Setting a value is idempotent, so a retried activity is harmless."""

    opportunity_id: str
    stage: str | None = None
    approval_status: str | None = None
    locked: bool | None = None
    close_date: date | None = None
    license_delivery_date: date | None = None


class ChatterPost(BaseModel):
    """A Chatter post on the opportunity. `idempotency_key` is embedded in the
    post so a retry finds the earlier post instead of writing a second one."""

    opportunity_id: str
    body: str
    idempotency_key: str


class LicenseStatus(BaseModel):
    opportunity_id: str
    delivered: bool
    delivered_at: datetime | None = None


class TicketRequest(BaseModel):
    """A Zendesk-style ticket asking Support to deliver a license by hand."""

    opportunity_id: str
    idempotency_key: str
    subject: str
    body: str
    requester_name: str
    requester_email: str
    priority: str = "high"
    tags: list[str] = Field(default_factory=lambda: ["license-delivery", "order-management"])


class Ticket(BaseModel):
    id: int
    status: str


class SolveTicket(BaseModel):
    ticket_id: int
    comment: str


class Actor(BaseModel):
    """Who sends a message to a workflow, resolved from the roster at the edge
    (CLI `--as`, API bearer token) and checked again by the workflow."""

    email: str
    role: Role
    regions: list[Region] = Field(default_factory=list)


class Decision(BaseModel):
    """An Order Management or Billing decision on the pending review round."""

    actor: Actor
    stage: DecisionStage
    action: DecisionAction
    reasons: list[str] = Field(default_factory=list)
    comment: str = ""
    acknowledged: list[str] = Field(
        default_factory=list,
        description="Codes of pre-check findings that need a specialist's judgment, checked",
    )
    overrides: list[str] = Field(
        default_factory=list,
        description="Codes of hard pre-check findings the approver overrides (approving "
        "anyway); each hard finding of the round must be named, with a comment saying why",
    )
    round: int | None = Field(
        default=None, description="The round the decider saw; a stale round is refused"
    )


class RepAction(BaseModel):
    """Resubmit, recall or close-lost, sent by the opportunity's owner."""

    actor: Actor
    comment: str = ""


class DecisionReceipt(BaseModel):
    accepted: bool = True
    round: int
    stage: str
    message: str


class ApprovalInput(BaseModel):
    """What intake hands the workflow: the opportunity as read from the CRM
    and the policy values that must not change under a running workflow."""

    opportunity: Opportunity
    submitted_at: datetime
    license_recheck_seconds: float = 86400.0
    auto_reject_on_findings: bool = False
    channels: Channels = Field(default_factory=Channels)
    continue_as_new_after_events: int | None = Field(
        default=None,
        description="Continue as new once a run's history has this many events (None: only "
        "when the server suggests it)",
    )
    carried: CarriedState | None = Field(
        default=None,
        description="Set on a continued run: where the run before it stood; None on the first run",
    )


class ApprovalStatus(BaseModel):
    """The `om status` JSON: the workflow's own view of where it stands."""

    opportunity_id: str
    name: str = ""
    stage: str
    round: int
    region: Region
    urgent: bool = False
    amount: float = 0.0
    quote_start_date: date | None = None
    submitted_at: datetime | None = None
    round_started_at: datetime | None = None
    sla_deadline: datetime | None = None
    om_approver: str | None = None
    close_date: date | None = None
    license_delivery_date: date | None = None
    support_ticket_id: int | None = None
    finance_rejections: int = 0
    billing_review_due: datetime | None = Field(
        default=None, description="Billing reviews from then (quote start minus 15 days)"
    )
    queue_region: Region | None = Field(
        default=None, description="The region whose queue holds the round (handoff may move it)"
    )
    breached: bool = False
    rounds: list[RoundRecord] = Field(default_factory=list)
    pending_effects: int = Field(
        default=0, description="Side effects (CRM writes, Chatter posts) not yet carried out"
    )
    findings: list[Finding] = Field(
        default_factory=list, description="The current round's booking-requirements pre-check"
    )
    history: list[HistoryEntry] = Field(default_factory=list)
    opportunity: Opportunity | None = Field(
        default=None, description="The opportunity as submitted: the facts a specialist checks"
    )
    run: int = Field(
        default=1,
        description="Which run of the workflow id answers: 1, plus one per continue-as-new",
    )


class ReviewClockRequest(BaseModel):
    region: Region
    submitted_at: datetime


class ReviewClock(BaseModel):
    """A round's SLA clock, computed once (holiday data changes between
    releases) and recorded in history as a local activity result."""

    clock_start: datetime
    sla_deadline: datetime


class CloseDateRequest(BaseModel):
    opportunity: Opportunity
    submitted_at: datetime
    approved_at: datetime


class CloseDate(BaseModel):
    """The close date Billing's approval books, and the policy rule behind it."""

    close_date: date
    rule: str
    explanation: str


class Notification(BaseModel):
    """A message to a team channel (Slack-compatible incoming webhook).
    `idempotency_key` lets the receiver drop a retried duplicate."""

    channel: str
    text: str
    idempotency_key: str
    opportunity_id: str | None = None


class ReviewPlanRequest(BaseModel):
    region: Region
    submitted_at: datetime
    urgent: bool = False
    opportunity: Opportunity | None = None
    first_submitted_at: datetime | None = Field(
        default=None, description="The original submission, for the Billing review due date"
    )


class BookingCheckRequest(BaseModel):
    opportunity: Opportunity
    submitted_at: datetime


class BusinessTimeRequest(BaseModel):
    region: Region
    start: datetime
    end: datetime


class RoundRecord(BaseModel):
    """One Order Management review round and its SLA figures (for KPIs)."""

    round: int
    opened_at: datetime
    reason: str
    home_region: Region
    assigned_region: Region | None = None
    handoff_reason: str | None = None
    clock_start: datetime | None = None
    sla_deadline: datetime | None = None
    warnings: list[str] = Field(default_factory=list)
    breached: bool = False
    outcome: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    taken_because: str | None = Field(
        default=None, description="Why someone outside the home region took it (cover, handoff)"
    )
    business_seconds_to_decision: float | None = None
    sla_met: bool | None = None
    overrides: list[str] = Field(
        default_factory=list, description="Hard findings the OM approver overrode"
    )


class CarriedState(BaseModel):
    """Where an approval stood when its run continued as new: the next run's
    starting point, so it neither repeats a side effect nor reopens a round.

    Taken only at a quiet point (no side effect pending, no Update or policy
    answer in flight), so nothing half-done needs carrying. The plan and the
    fired checkpoints let the new run set the SLA timers again; the history
    entries keep `om status` whole (the oldest are summarised past a limit:
    the event histories of the earlier runs, `om audit`, hold them all).
    """

    run: int = Field(description="The number of the run that starts from this state (2, 3, ...)")
    previous_run_id: str
    review_plan: bool = Field(description="The review-plan-v1 patch applied in the first run")
    stage: Stage
    round: int
    round_started_at: datetime
    clock: ReviewClock | None = None
    plan: ReviewPlan | None = None
    findings: list[Finding] = Field(default_factory=list)
    om_approver: str | None = None
    close: CloseDate | None = None
    license_delivery_date: date | None = None
    ticket_id: int | None = None
    finance_rejections: int = 0
    fired: list[str] = Field(default_factory=list, description="SLA checkpoints already fired")
    breached: bool = False
    rounds: list[RoundRecord] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)


ApprovalInput.model_rebuild()  # its `carried` field names CarriedState, defined above


class PollReport(BaseModel):
    """What one intake poll found and did."""

    awaiting: int = 0
    already_running: int = 0
    started: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
