"""Who may do what to an opportunity's approval, as pure rules.

The workflow's Update validators call these, so a refused decision is turned
away synchronously with the sentence raised here and never enters the
history. Clients (CLI, API) resolve the actor from the roster first; the
workflow checks again because it alone knows the current round and stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.messages import Actor, Decision
from domain.models import Region, Stage
from domain.policy import Role
from domain.reasons import parse_reason_codes


class NotAllowed(ValueError):
    """A message the workflow refuses; the text says why in words a person can act on.
    The subclass tells clients how to answer (the API's 403 / 409 / 422)."""


class Forbidden(NotAllowed):
    """This person may not do this to this opportunity."""


class Conflict(NotAllowed):
    """Not now: the round is no longer pending, or another message came first."""


class InvalidDecision(NotAllowed):
    """The decision itself is incomplete (reason codes, comment)."""


class NotYet(NotAllowed):
    """The workflow is recording a policy answer; the same message, sent again
    a moment later, is judged on its merits (clients retry it, then answer 429)."""


@dataclass(frozen=True)
class ReviewState:
    """The facts of a workflow the rules need, decoupled from the workflow class."""

    stage: Stage
    round: int
    region: Region
    owner_email: str
    om_approver: str | None = None
    cover_regions: frozenset[Region] = frozenset()
    """Regions besides the home region whose specialists may decide now
    (handoff of an urgent round, end-of-period cover, a breached SLA)."""
    needs_acknowledgement: frozenset[str] = frozenset()
    """Codes of the round's judgment findings an OM approval must acknowledge."""
    billing_review_due: datetime | None = None
    now: datetime | None = None


_PENDING_STAGE = {"om": Stage.OM_REVIEW, "finance": Stage.FINANCE_REVIEW}
_ROLE_FOR_STAGE = {"om": Role.ORDER_MANAGEMENT, "finance": Role.BILLING}
_ROLE_LABEL = {"om": "Order Management", "finance": "Billing"}


def _same_person(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.strip().lower() == b.strip().lower()  # type: ignore[union-attr]


def check_decision(decision: Decision, state: ReviewState) -> None:
    """Raise NotAllowed unless `decision` may decide the pending round now.

    Order of checks: role, own deal, region, pending stage and round, four
    eyes across stages, then the content of a rejection.
    """
    actor = decision.actor
    stage = decision.stage
    if actor.role == Role.AUDITOR:
        raise Forbidden(f"{actor.email} is an auditor: auditors have read-only access")
    if actor.role == Role.MANAGER:
        raise Forbidden(f"{actor.email} is a manager: managers read reports and decide nothing")
    if actor.role != _ROLE_FOR_STAGE[stage]:
        raise Forbidden(
            f"{actor.email} has role {actor.role.value}; only {_ROLE_LABEL[stage]} "
            f"may decide the {stage} review"
        )
    if _same_person(actor.email, state.owner_email):
        raise Forbidden(
            f"{actor.email} owns this opportunity: a rep may not approve or reject their own deal"
        )
    if stage == "om" and not ({state.region} | state.cover_regions).intersection(actor.regions):
        raise Forbidden(
            f"{actor.email} serves {', '.join(r.value for r in actor.regions) or 'no region'}; "
            f"this opportunity belongs to {state.region.value}"
        )
    if state.stage != _PENDING_STAGE[stage]:
        raise Conflict(
            f"no {_ROLE_LABEL[stage]} review is pending: the opportunity is in stage "
            f"{state.stage.value} (round {state.round})"
        )
    if decision.round is not None and decision.round != state.round:
        raise Conflict(
            f"the decision is for round {decision.round} but round {state.round} is pending"
        )
    if stage == "finance" and _same_person(actor.email, state.om_approver):
        raise Forbidden(
            f"{actor.email} approved this round for Order Management: one person "
            "may not approve at both stages"
        )
    if stage == "om" and decision.action == "approve":
        missing = sorted(state.needs_acknowledgement - set(decision.acknowledged))
        if missing:
            raise InvalidDecision(
                "approval needs the specialist's judgment on "
                + ", ".join(missing)
                + ": check it, then acknowledge it (om approve --acknowledge CODE)"
            )
    if (
        stage == "finance"
        and state.billing_review_due is not None
        and state.now is not None
        and state.now < state.billing_review_due
    ):
        raise Conflict(
            "Billing reviews this opportunity from "
            f"{state.billing_review_due.isoformat()} (15 days before the quote start date)"
        )
    if decision.action == "reject":
        if stage == "om" and not decision.reasons:
            raise InvalidDecision("a rejection needs at least one reason code")
        parse_reason_codes(decision.reasons)  # raises UnknownReasonCode naming the code
        if not decision.comment.strip():
            raise InvalidDecision("a rejection needs a comment telling the rep what to fix")


_REP_ACTION_STAGES = {
    "resubmit": (Stage.REJECTED, Stage.RECALLED),
    "recall": (Stage.OM_REVIEW, Stage.FINANCE_REVIEW),
    "close_lost": (Stage.REJECTED, Stage.RECALLED),
}


def check_rep_action(action: str, actor: Actor, state: ReviewState) -> None:
    """Raise NotAllowed unless the opportunity's owner may `action` now."""
    if actor.role == Role.MANAGER:
        raise Forbidden(f"{actor.email} is a manager: managers read reports and decide nothing")
    if not _same_person(actor.email, state.owner_email):
        raise Forbidden(
            f"only the opportunity's owner ({state.owner_email}) may {action} it; "
            f"{actor.email} is not the owner"
        )
    allowed = _REP_ACTION_STAGES[action]
    if state.stage not in allowed:
        raise Conflict(
            f"cannot {action} in stage {state.stage.value}; possible only in "
            + " or ".join(s.value for s in allowed)
        )


def report_regions(
    role: Role, regions: Sequence[Region], wanted: Region | None
) -> tuple[Region, ...]:
    """The regions a person may read reports of, for a request naming `wanted`
    (None: every region they may read). Managers and Order Management read
    their own regions, auditors and Billing every region, reps none.
    Raises Forbidden naming the region they may not read."""
    readable = tuple(Region) if role in (Role.AUDITOR, Role.BILLING) else tuple(regions)
    if role == Role.REP:
        readable = ()
    if not readable:
        raise Forbidden(f"role {role.value} may not read the manager's reports")
    if wanted is None:
        return readable
    if wanted not in readable:
        raise Forbidden(
            f"the {wanted.value} reports are not yours to read: you serve "
            + ", ".join(r.value for r in readable)
        )
    return (wanted,)
