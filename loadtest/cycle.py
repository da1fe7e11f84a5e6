"""Drive many opportunities through the whole approval cycle at once.

Shared by the load benchmark (`make bench-load`) and the chaos suite
(`make test-chaos`): seed N opportunities in the sandbox, start their
workflows, send the Order Management and Billing decisions as Workflow
Updates from concurrent clients, deliver the licenses that automation did
not, and wait until every workflow has completed. Afterwards
`side_effect_problems` compares what the CRM, the feed and the support desk
hold with what the accepted decisions call for.

Every client call survives a restarting server or worker: it is retried on
transport errors, and each Update carries its own id, so a decision resent
after a lost answer is deduplicated by Temporal instead of being refused as
a second decision.
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import Busy, Refused
from domain.models import DecisionAction, DecisionStage, Opportunity
from sandbox.client import SandboxAdminClient, SandboxAdminError

T = TypeVar("T")

OM_APPROVER = {
    "AMER": "om.amer@example.com",
    "EMEA": "om.emea@example.com",
    "APAC": "om.apac@example.com",
}
BILLING = "billing@example.com"
# How often a waiting client re-reads a workflow's status at first (backing
# off to 4x): every read is a query the worker answers, so polling too
# eagerly measures the polling.
POLL_SECONDS = float(os.environ.get("OM_LOAD_POLL_SECONDS", "0.5"))
# Statuses a restarting server or an overloaded frontend answers with; the
# call is safe to repeat (starts and Updates are deduplicated by id).
_TRANSIENT = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
}
# The CRM values each transition writes (workflows.opportunity_approval).
_SUBMITTED = ("7-Closing", "In Progress")
_REJECTED = ("6-Awaiting Signature", "Rejected")
_CLOSED_WON = ("Closed Won", "Approved")


class StageStatus(Protocol):
    """What the driver reads of a workflow's status (`ApprovalStatus` has more)."""

    @property
    def stage(self) -> str: ...
    @property
    def round(self) -> int: ...
    @property
    def pending_effects(self) -> int: ...


class CycleApprovals(Protocol):
    """The calls the driver makes on `om.approvals.Approvals`: the load
    benchmark's baseline answers the same ones for a plain workflow."""

    async def submit(self, opportunity: Opportunity) -> tuple[str, bool]: ...
    async def status(self, opportunity_id: str) -> StageStatus: ...
    async def decide(
        self,
        opportunity_id: str,
        actor_email: str,
        stage: DecisionStage,
        action: DecisionAction,
        *,
        reasons: list[str] | None = None,
        comment: str = "",
        round_: int | None = None,
        update_id: str | None = None,
    ) -> object: ...
    async def rep_action(
        self,
        opportunity_id: str,
        action: str,
        actor_email: str,
        comment: str = "",
        update_id: str | None = None,
    ) -> object: ...


@dataclass
class Case:
    """One opportunity of a run and what happened to it."""

    opportunity: Opportunity
    delivered: bool  # automation delivers the license at Closed Won
    # (stage, action) of each accepted decision
    accepted: list[tuple[DecisionStage, DecisionAction]] = field(default_factory=list)
    refused: int = 0
    final_stage: str | None = None

    @property
    def id(self) -> str:
        return self.opportunity.id

    def expected_crm_changes(self) -> list[tuple[str, str]]:
        """(StageName, Approval_Status__c) after each write that changes them."""
        changes = [_SUBMITTED]
        for stage, action in self.accepted:
            if (stage, action) == ("om", "reject"):
                changes += [_REJECTED, _SUBMITTED]  # rejected, then resubmitted
        return [*changes, _CLOSED_WON]

    def expected_chatter_posts(self) -> int:
        return sum(action == "reject" for _, action in self.accepted)

    def expected_tickets(self) -> int:
        return 0 if self.delivered else 1


@dataclass
class RunReport:
    cases: list[Case]
    seconds: float
    decision_latencies: list[float]  # seconds per accepted decision Update round trip

    @property
    def cycles_per_second(self) -> float:
        return len(self.cases) / self.seconds if self.seconds else 0.0


def make_cases(
    n: int, template: dict[str, Any], *, delivered_share: float = 0.5, prefix: str = "006L"
) -> list[Case]:
    """N self-managed opportunities copied from `template` (the contract
    example), bookable as they stand: the quote starts today, so no
    finding needs acknowledging and Billing may review at once."""
    run = uuid.uuid4().hex[:6].upper()
    today = datetime.now(UTC).date().isoformat()
    cases = []
    for i in range(n):
        payload = copy.deepcopy(template)
        payload["id"] = f"{prefix}{run}{i:06d}"
        payload["name"] = f"Load {run} #{i}"
        payload["deployment"] = "self_managed"
        payload["type"] = "new_business"
        payload["quote"]["start_date"] = today
        payload["order_form"]["signed_date"] = today
        cases.append(
            Case(Opportunity.model_validate(payload), delivered=i < round(n * delivered_share))
        )
    return cases


def seed_cases(admin: SandboxAdminClient, cases: list[Case], batch: int = 500) -> None:
    for start in range(0, len(cases), batch):
        part = cases[start : start + batch]
        admin.seed(
            {
                "opportunities": [c.opportunity.model_dump(mode="json") for c in part],
                "delivered_licenses": [c.id for c in part if c.delivered],
            }
        )


async def retrying(call: Callable[[], Awaitable[T]], give_up_after: float = 300.0) -> T:
    """`call()`, repeated while the server or the worker is away."""
    deadline = time.monotonic() + give_up_after
    delay = 0.2
    while True:
        try:
            return await call()
        except RPCError as exc:
            if exc.status not in _TRANSIENT or time.monotonic() > deadline:
                raise
        except (ConnectionError, OSError, WorkflowUpdateRPCTimeoutOrCancelledError, Busy):
            # The SDK reports a cancelled Update call as this error: when it is
            # our own task being cancelled, stop instead of sending it again.
            task = asyncio.current_task()
            if time.monotonic() > deadline or (task is not None and task.cancelling()):
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def status_of(approvals: CycleApprovals, case: Case) -> StageStatus:
    return await retrying(lambda: approvals.status(case.id))


async def wait_for_stage(
    approvals: CycleApprovals, case: Case, *stages: str, timeout: float = 600.0
) -> StageStatus:
    """Poll the workflow's status until it reaches one of `stages`."""
    deadline = time.monotonic() + timeout
    delay = POLL_SECONDS
    while True:
        status = await status_of(approvals, case)
        # Review stages count at once, with the round's plan and booking
        # check perhaps still being recorded: a decision sent in that moment
        # is answered "not yet" and sent again by `Approvals`
        # (docs/architecture.md, "Decisions while a round opens"). The end stages count once their
        # side effects are done.
        if status.stage in stages and (
            status.stage not in ("completed", "closed_won") or not status.pending_effects
        ):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{case.id} stuck in {status.stage} (waiting for {', '.join(stages)}; "
                f"{status.pending_effects} side effects pending)"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 4 * POLL_SECONDS)


@dataclass
class Driver:
    """Sends one case's decisions; `contenders` > 1 sends that many
    concurrent, duplicate and conflicting decisions in its first round (to
    Order Management for even cases, Billing for odd ones), of which exactly
    one may be accepted."""

    approvals: CycleApprovals
    admin: SandboxAdminClient
    contenders: int = 1
    latencies: list[float] = field(default_factory=list)
    reject_first_share: float = 0.0
    in_flight: int = 0  # submitted and not yet completed
    # How many workflows take their burst of contenders at the same moment:
    # every Update waiting on a workflow holds one of the namespace's
    # long-poll slots (the dev server allows 1,200), shared with the
    # worker's own polls.
    contending_at_once: int = 10

    def __post_init__(self) -> None:
        self._contention = asyncio.Semaphore(self.contending_at_once)

    async def run_case(self, case: Case) -> None:
        await retrying(lambda: self.approvals.submit(case.opportunity))
        self.in_flight += 1
        try:
            await self._through_cycle(case)
        finally:
            self.in_flight -= 1
        case.final_stage = (await status_of(self.approvals, case)).stage

    async def _through_cycle(self, case: Case) -> None:
        rep = case.opportunity.owner.email
        reject_first = random.Random(case.id).random() < self.reject_first_share
        # One contended review per case, alternating between Order
        # Management and Billing, so both kinds of decision are fought over.
        contended_stage: DecisionStage = "om" if int(case.id[-6:]) % 2 == 0 else "finance"
        contended: dict[DecisionStage, bool] = {"om": False, "finance": False}
        contended[contended_stage] = self.contenders > 1
        while True:
            status = await wait_for_stage(
                self.approvals,
                case,
                "om_review",
                "finance_review",
                "license_ticket",
                "completed",
                "rejected",
            )
            stage = status.stage
            if stage == "completed":
                return
            if stage == "rejected":
                await self._act(
                    case,
                    lambda uid: self.approvals.rep_action(
                        case.id, "resubmit", rep, "fixed", update_id=uid
                    ),
                )
                await wait_for_stage(self.approvals, case, "om_review")
                continue
            if stage == "license_ticket":
                await asyncio.to_thread(self.admin.deliver_license, case.id)
                await wait_for_stage(self.approvals, case, "completed")
                return
            which: DecisionStage = "om" if stage == "om_review" else "finance"
            if contended[which]:
                contended[which] = False
                await self._contend(case, which, status.round)
            elif which == "om" and reject_first:
                reject_first = False
                await self._decide(case, which, "reject", status.round)
            else:
                await self._decide(case, which, "approve", status.round)

    def _approver(self, case: Case, which: DecisionStage) -> str:
        return OM_APPROVER[case.opportunity.account.region.value] if which == "om" else BILLING

    async def _decide(
        self, case: Case, which: DecisionStage, action: DecisionAction, round_: int
    ) -> bool:
        """One decision; True when accepted."""
        reasons = ["OTHER"] if action == "reject" else []
        comment = "please fix the quote" if action == "reject" else ""
        accepted = await self._act(
            case,
            lambda uid: self.approvals.decide(
                case.id,
                self._approver(case, which),
                which,
                action,
                reasons=reasons,
                comment=comment,
                round_=round_,
                update_id=uid,
            ),
            timed=True,
        )
        if accepted:
            case.accepted.append((which, action))
        return accepted

    async def _contend(self, case: Case, which: DecisionStage, round_: int) -> None:
        """`contenders` decisions at once: mostly duplicate approvals, some
        rejections, all for the same round; exactly one may win."""
        actions: list[DecisionAction] = [
            "reject" if i % 5 == 4 else "approve" for i in range(self.contenders)
        ]
        async with self._contention:
            results = await asyncio.gather(
                *(self._decide(case, which, action, round_) for action in actions)
            )
        if sum(results) != 1:
            raise AssertionError(
                f"{case.id}: {sum(results)} of {len(actions)} concurrent {which} decisions "
                "were accepted, expected exactly one"
            )

    async def _act(
        self, case: Case, send: Callable[[str], Awaitable[Any]], timed: bool = False
    ) -> bool:
        update_id = uuid.uuid4().hex  # the same id on every resend of this one decision
        started = time.perf_counter()
        try:
            await retrying(lambda: send(update_id))
        except Refused:
            case.refused += 1
            return False
        if timed:
            self.latencies.append(time.perf_counter() - started)
        return True


async def run_cycles(
    driver: Driver,
    cases: list[Case],
    concurrency: int = 100,
    during: Callable[[], Awaitable[None]] | None = None,
) -> RunReport:
    """Every case through the cycle, `concurrency` at a time; `during` runs
    alongside (the chaos suite kills and restarts things there)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> None:
        async with gate:
            await driver.run_case(case)

    started = time.perf_counter()
    work = asyncio.gather(*(one(case) for case in cases))
    if during is not None:
        await asyncio.gather(work, during())
    else:
        await work
    return RunReport(cases, time.perf_counter() - started, list(driver.latencies))


def side_effect_problems(admin: SandboxAdminClient, cases: list[Case]) -> list[str]:
    """What the sandbox holds that differs from what each case's accepted
    decisions call for: the CRM's tracked stage/status changes, the feed's
    posts and the desk's tickets, each exactly once."""
    problems = []
    for case in cases:
        try:
            view = admin.opportunity(case.id)
        except SandboxAdminError as exc:
            problems.append(f"{case.id}: {exc}")
            continue
        changes = _crm_changes(view["field_history"])
        if changes != case.expected_crm_changes():
            problems.append(
                f"{case.id}: CRM changes {changes}, expected {case.expected_crm_changes()}"
            )
        posts = len(view["chatter"])
        if posts != case.expected_chatter_posts():
            problems.append(
                f"{case.id}: {posts} Chatter posts, expected {case.expected_chatter_posts()}"
            )
        tickets = len(view["tickets"])
        if tickets != case.expected_tickets():
            problems.append(f"{case.id}: {tickets} tickets, expected {case.expected_tickets()}")
        if case.final_stage != "completed":
            problems.append(f"{case.id}: ended in {case.final_stage}")
        if not (view.get("license") or {}).get("delivered_at"):
            problems.append(f"{case.id}: license not delivered")
        if not view.get("License_Delivery_Date__c"):
            problems.append(f"{case.id}: no License_Delivery_Date__c in the CRM")
    return problems


def _crm_changes(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(StageName, Approval_Status__c) after each write that changed either."""
    values: dict[str, str | None] = {"StageName": None, "Approval_Status__c": None}
    after: dict[int, tuple[str, str]] = {}
    for row in history:
        if row["field"] in values:
            values[row["field"]] = row["new_value"]
            after[row["write"]] = (values["StageName"], values["Approval_Status__c"])  # type: ignore[assignment]
    return list(after.values())
