"""`/opportunities/{id}`: one opportunity's approval status, and the
decisions and rep actions sent to its workflow.

Each call is a Query or an Update on the opportunity's workflow through
`om.approvals.Approvals`, the same operations the CLI and the console
use; refusals come back as domain errors, answered by `api.errors`.

Order of checks: the token (401), the caller's role (403, `api.authz`),
then the body (422), then what this caller may read (404, as for an
unknown id) and what the workflow allows now (403 / 409 / 422).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel, Field

from api.authz import Decider, RepCaller, parsed_body
from api.contract import json_body
from api.deps import Ops, User
from api.errors import error_responses
from domain.messages import ApprovalStatus, DecisionReceipt
from domain.reasons import ReasonCode, parse_reason_codes

router = APIRouter()

OpportunityId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9]{1,40}$", description="The Salesforce opportunity id")
]

IDEMPOTENCY_RETENTION = (
    "A key is remembered per caller and per opportunity for as long as the "
    "opportunity's workflow run is open (Temporal keeps the Update id in the "
    "run): until the approval finishes or the run continues as new."
)


class DecisionBody(BaseModel):
    stage: Literal["om", "finance"]
    action: Literal["approve", "reject"]
    reasons: list[str] = Field(
        default_factory=list,
        description="Reason codes of a rejection (case is ignored); an unknown code is a 422",
        json_schema_extra={"items": {"type": "string", "enum": [c.value for c in ReasonCode]}},
    )
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


@router.get(
    "/opportunities/{opportunity_id}",
    response_model=ApprovalStatus,
    responses=error_responses(401, 404, 422, 503),
)
async def opportunity(opportunity_id: OpportunityId, who: User, ops: Ops) -> ApprovalStatus:
    """The opportunity's approval status, if the caller may read it: reps
    their own deals, specialists their regions plus the cover and breach
    cases they may take, Billing, auditors and managers every deal."""
    return await ops.status_for(who, opportunity_id)


@router.post(
    "/opportunities/{opportunity_id}/decisions",
    response_model=DecisionReceipt,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    openapi_extra=json_body(DecisionBody),
)
async def decide(
    opportunity_id: OpportunityId,
    request: Request,
    who: Decider,
    ops: Ops,
    idempotency_key: str | None = Header(
        default=None,
        max_length=200,
        description="Sending the same decision again with the same key (a retry after a "
        "lost answer) returns the first answer instead of a 409; the same key with a "
        "different decision is refused with 422 (`idempotency_key_reused`) and changes "
        "nothing. " + IDEMPOTENCY_RETENTION,
    ),
) -> DecisionReceipt:
    """An Order Management or Billing approve / reject of the pending round."""
    body = await parsed_body(request, DecisionBody)
    parse_reason_codes(body.reasons)
    # A deal outside what this caller reads is 404 before the workflow's
    # refusal could name its region or stage. (The read rule is wider than
    # the workflow's rule of who may decide, so it never hides a deal the
    # caller may take.)
    await ops.status_for(who, opportunity_id)
    return await ops.decide(
        opportunity_id,
        who,
        body.stage,
        body.action,
        body.reasons,
        body.comment,
        body.round,
        body.acknowledged,
        # Scoped to the person (and, by being an Update id of this
        # opportunity's workflow, to the opportunity).
        update_id=f"{who.email}:{idempotency_key}" if idempotency_key else None,
        overrides=body.overrides,
    )


async def _rep_action(
    request: Request, opportunity_id: str, action: str, who: RepCaller, ops: Ops
) -> DecisionReceipt:
    body = await parsed_body(request, RepBody)
    await ops.status_for(who, opportunity_id)  # 404 for a deal that is not theirs
    return await ops.rep_action(opportunity_id, action, who, body.comment)


@router.post(
    "/opportunities/{opportunity_id}/resubmit",
    response_model=DecisionReceipt,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    openapi_extra=json_body(RepBody),
)
async def resubmit(
    opportunity_id: OpportunityId, request: Request, who: RepCaller, ops: Ops
) -> DecisionReceipt:
    """The owning rep sends a rejected or recalled deal back to review."""
    return await _rep_action(request, opportunity_id, "resubmit", who, ops)


@router.post(
    "/opportunities/{opportunity_id}/recall",
    response_model=DecisionReceipt,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
    openapi_extra=json_body(RepBody),
)
async def recall(
    opportunity_id: OpportunityId, request: Request, who: RepCaller, ops: Ops
) -> DecisionReceipt:
    """The owning rep withdraws a deal under review."""
    return await _rep_action(request, opportunity_id, "recall", who, ops)
