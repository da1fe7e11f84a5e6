"""`/opportunities/{id}`: one opportunity's approval status, and the
decisions and rep actions sent to its workflow.

Each call is a Query or an Update on the opportunity's workflow through
`om.approvals.Approvals`, the same operations the CLI and the console
use; refusals come back as domain errors, answered by `api.errors`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from api.deps import Ops, User
from domain.messages import ApprovalStatus, DecisionReceipt
from domain.reasons import parse_reason_codes

router = APIRouter()


class DecisionBody(BaseModel):
    stage: Literal["om", "finance"]
    action: Literal["approve", "reject"]
    reasons: list[str] = Field(default_factory=list)
    comment: str = ""
    round: int | None = None
    acknowledged: list[str] = Field(
        default_factory=list, description="Judgment findings the specialist checked"
    )
    overrides: list[str] = Field(
        default_factory=list,
        description="OM approval only: codes of the round's hard findings the approver "
        "overrides (approves anyway). Each hard finding must be named, with a non-empty "
        "`comment` saying why; otherwise the approval is refused with 422 naming the "
        "missing codes, and nothing is recorded.",
    )


class RepBody(BaseModel):
    comment: str = ""


@router.get("/opportunities/{opportunity_id}", response_model=ApprovalStatus)
async def opportunity(opportunity_id: str, _: User, ops: Ops) -> ApprovalStatus:
    return await ops.status(opportunity_id)


@router.post("/opportunities/{opportunity_id}/decisions", response_model=DecisionReceipt)
async def decide(
    opportunity_id: str,
    body: DecisionBody,
    who: User,
    ops: Ops,
    idempotency_key: str | None = Header(
        default=None,
        max_length=200,
        description="Sending the same decision again with the same key (a retry "
        "after a lost answer) returns the first answer instead of a 409",
    ),
) -> DecisionReceipt:
    parse_reason_codes(body.reasons)
    return await ops.decide(
        opportunity_id,
        who.email,
        body.stage,
        body.action,
        body.reasons,
        body.comment,
        body.round,
        body.acknowledged,
        # Scoped to the person, so one user's key never answers for another.
        update_id=f"{who.email}:{idempotency_key}" if idempotency_key else None,
        overrides=body.overrides,
    )


@router.post("/opportunities/{opportunity_id}/resubmit", response_model=DecisionReceipt)
async def resubmit(opportunity_id: str, body: RepBody, who: User, ops: Ops) -> DecisionReceipt:
    return await ops.rep_action(opportunity_id, "resubmit", who.email, body.comment)


@router.post("/opportunities/{opportunity_id}/recall", response_model=DecisionReceipt)
async def recall(opportunity_id: str, body: RepBody, who: User, ops: Ops) -> DecisionReceipt:
    return await ops.rep_action(opportunity_id, "recall", who.email, body.comment)
