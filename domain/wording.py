"""The handbook's words for what happened to an opportunity.

The workflow records stages and actions under internal names (`finance_review`,
`om_review`, `finance_rejected`), which are stable identifiers for the audit
and for replay. People read something else: "Order Management approved;
waiting for Billing". An entry the workflow records when it *enters* a stage
names the stage, not the act (an OM approval is recorded as entering
`finance_review`, by the OM specialist), so shown raw it reads as if that
specialist did Billing's review. These functions say who did what, for every
history (old ones too), without changing what workflows record.
"""

from __future__ import annotations

STAGE_WORDS: dict[str, str] = {
    "submitted": "submitted",
    "om_review": "waiting for Order Management",
    "finance_review": "waiting for Billing",
    "rejected": "back with the rep to fix and resubmit",
    "recalled": "recalled by the rep",
    "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
    "license_check": "Closed Won; checking license delivery",
    "license_ticket": "Closed Won; waiting for license delivery (support ticket open)",
    "completed": "completed",
}
"""Where an opportunity stands, as the handbook says it."""

_TEAM = {"om": "Order Management", "finance": "Billing"}
_DECISION_VERB = {"approve": "approved", "reject": "rejected"}
_REP_ACTION_WORDS = {
    "resubmit": "Resubmitted by the rep",
    "recall": "Recalled by the rep",
    "close_lost": "Closed as lost by the rep",
}

# History entries recorded on entering a stage, by a person: the act that
# moved it there.
_ENTERED_BY_A_PERSON = {
    "finance_review": "Order Management approved",
    "closed_won": "Billing approved",
    "rejected": "Order Management rejected",
    "recalled": "Recalled by the rep",
    "closed_lost": "Closed as lost",
}
_ACTIONS = {
    "submitted": "Submitted for approval",
    "om_review": "Order Management review opened",
    "finance_review": "Billing review opened",
    "finance_rejected": "Billing rejected",
    "sla_clock": "SLA clock set",
    "booking_check": "Pre-check",
    "handoff": "Handed off",
    "sla_warning": "SLA warning",
    "sla_breached": "SLA breached",
    "sla_result": "SLA result",
    "close_date": "Close date set",
    "closed_won": "Closed Won",
    "license_check": "License check",
    "license_ticket": "License ticket opened",
    "completed": "Completed",
    "resubmitted": "Resubmitted by the rep",
}
_AUTOMATIC_ACTORS = frozenset({"workflow", "intake", "pre-check"})


def stage_words(stage: str) -> str:
    """`finance_review` -> `waiting for Billing`; unknown stages as they are."""
    return STAGE_WORDS.get(stage, stage.replace("_", " "))


def decision_message(stage: str, action: str, round_: int, now_stage: str) -> str:
    """`Order Management approved (round 1); waiting for Billing`."""
    team = _TEAM.get(stage, stage)
    verb = _DECISION_VERB.get(action, action)
    return f"{team} {verb} (round {round_}); {stage_words(now_stage)}"


def rep_action_message(action: str, round_: int, now_stage: str) -> str:
    """`Resubmitted by the rep (round 2); waiting for Order Management`."""
    did = _REP_ACTION_WORDS.get(action, action.replace("_", " "))
    return f"{did} (round {round_}); {stage_words(now_stage)}"


def history_label(actor: str, action: str) -> str:
    """What a history entry records, saying who did what: an entry into
    `finance_review` by a specialist is `Order Management approved`."""
    if actor not in _AUTOMATIC_ACTORS and action in _ENTERED_BY_A_PERSON:
        return _ENTERED_BY_A_PERSON[action]
    return _ACTIONS.get(action, action.replace("_", " "))
