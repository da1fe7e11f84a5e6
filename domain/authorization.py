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

from domain.calendar import calendar_for
from domain.messages import Actor, ApprovalStatus, Decision
from domain.models import Region, Stage
from domain.policy import Policy, Role, RosterUser
from domain.queue import QueueItem
from domain.reasons import parse_reason_codes
from domain.sla import cover_windows


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
    needs_override: frozenset[str] = frozenset()
    """Codes of the round's hard findings an OM approval must override, each
    by code and with a comment (empty on workflows before the override rule)."""
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
        check_overrides(decision, state.needs_override)
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


def check_overrides(decision: Decision, needs_override: frozenset[str]) -> None:
    """Raise InvalidDecision unless an OM approval overrides, by code and with a
    comment, every hard finding of the round.

    A hard finding means the deal cannot be booked as is; approving it anyway
    is the specialist's deliberate call, so it must name what it overrides
    and say why, and a code the round does not have is refused rather than
    recorded as if it had been overridden.
    """
    if decision.stage != "om" or decision.action != "approve":
        return
    named = {code.strip().upper() for code in decision.overrides if code.strip()}
    if not needs_override and not named:
        return
    unknown = sorted(named - needs_override)
    if unknown:
        has = ", ".join(sorted(needs_override)) or "none"
        raise InvalidDecision(
            "overrides: "
            + ", ".join(unknown)
            + (" is" if len(unknown) == 1 else " are")
            + f" not a hard finding of this round (its hard findings: {has})"
        )
    missing = sorted(needs_override - named)
    if missing:
        raise InvalidDecision(
            "the pre-check found hard findings that must be fixed: "
            + ", ".join(missing)
            + "; reject the round, or override each by code with a comment "
            "(om approve --override CODE --comment TEXT)"
        )
    if not decision.comment.strip():
        raise InvalidDecision(
            "comment: an override of "
            + ", ".join(sorted(needs_override))
            + " needs a comment saying why the deal may be booked anyway"
        )


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
            # The owner is not named: the caller may not read this deal.
            f"only the opportunity's owner may {action} it; {actor.email} is not the owner"
        )
    allowed = _REP_ACTION_STAGES[action]
    if state.stage not in allowed:
        raise Conflict(
            f"cannot {action} in stage {state.stage.value}; possible only in "
            + " or ".join(s.value for s in allowed)
        )


# ---- who may read an opportunity ------------------------------------------------

READ_SCOPE_BY_ROLE: dict[str, str] = {
    Role.BILLING.value: "all",
    Role.AUDITOR.value: "all",
    Role.MANAGER.value: "home",
    Role.ORDER_MANAGEMENT.value: "regions",
    Role.REP.value: "own",
}
"""How much of the book each role reads, by the role's value: `all` (Billing
checks every deal, auditors oversee them), `home` (managers: every deal of
the regions they manage, by home or queue region, and nothing else: they
decide nothing, so cover and breaches give them no reason to read more),
`regions` (specialists: the regions they serve plus the cover and breach
cases they may take) or `own` (reps: the deals they own). A role not listed
reads nothing."""


def may_read(reader: RosterUser, status: ApprovalStatus, now: datetime, policy: Policy) -> bool:
    """Whether `reader` may see this opportunity (its facts, contacts, amounts,
    history). Callers answer "no" exactly as for an opportunity that does not
    exist, so ids cannot be probed."""
    scope = READ_SCOPE_BY_ROLE.get(str(reader.role))
    if scope == "all":
        return True
    if scope == "own":
        # Workflows older than the published opportunity do not say who owns
        # them: nobody reads those through the `own` scope.
        return status.opportunity is not None and _same_person(
            reader.email, status.opportunity.owner.email
        )
    served = set(reader.regions)
    in_served = status.region in served or (
        status.queue_region is not None and status.queue_region in served
    )
    if scope == "home":
        return in_served
    if scope == "regions":
        return (
            in_served
            or status.breached
            or _same_person(reader.email, status.om_approver)
            or _in_cover_window(status.region, now, policy)
        )
    return False


def may_list_queue(reader: RosterUser) -> bool:
    """Whether `reader` may list the review queue at all. Its rows name
    deals, amounts and assignees with no owner to filter by, so a role that
    reads only its own deals (reps) lists none."""
    return READ_SCOPE_BY_ROLE.get(str(reader.role)) in ("all", "home", "regions")


def readable_rows(
    reader: RosterUser, items: Sequence[QueueItem], now: datetime, policy: Policy
) -> list[QueueItem]:
    """The queue rows `reader` may see: `may_read`'s rule applied to what a
    row carries (a row names the deal, the account and the amount). Cover
    windows are judged once per home region, not once per row, so filtering
    a listing of thousands stays cheap."""
    scope = READ_SCOPE_BY_ROLE.get(str(reader.role))
    if scope == "all":
        return list(items)
    if scope not in ("home", "regions"):
        return []
    served = set(reader.regions)
    covered: set[Region] = set()
    if scope == "regions":
        covered = {home for home in Region if _in_cover_window(home, now, policy)}
    return [
        item
        for item in items
        if item.region in served
        or item.queue_region in served
        or (scope == "regions" and (item.breached or item.region in covered))
    ]


def _in_cover_window(home: Region, now: datetime, policy: Policy) -> bool:
    """End-of-period cover in the home region's calendar, as the workflow
    judges it: in those days any region may take (and so read) the queue."""
    if not policy.cover_business_days:
        return False
    calendar = calendar_for(home, policy.calendar)
    windows = cover_windows(calendar, now, months=1, n=policy.cover_business_days)
    return any(w.contains(now) for w in windows)


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
