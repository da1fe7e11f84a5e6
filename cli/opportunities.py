"""The approval cycle at the terminal: submit, status, decisions, the rep's
actions, the queue, intake polling and the booking-requirements pre-check.

Every command but `check` talks to Temporal through the approval service
(om.approvals), connected by `cli.common.connect_approvals`; `check` runs
the pre-check locally and needs nothing running.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import (
    AlwaysJson,
    AsUser,
    Comment,
    JsonOpt,
    OpportunityId,
    RegionOpt,
    UpdateId,
    connect_approvals,
    describe_validation_error,
    emit,
    fail,
    run_async,
    settings_or_fail,
)

if TYPE_CHECKING:
    from domain.messages import DecisionReceipt


def register(app: typer.Typer) -> None:
    """Add the approval cycle's commands, and the `finance` and `intake`
    groups, to the `om` app."""
    for command in (submit, status, approve, reject, resubmit, recall):
        app.command()(command)
    app.command("close-lost")(close_lost)
    app.command()(queue)
    app.command()(check)
    finance_app = typer.Typer(help="Billing (finance review) decisions.", no_args_is_help=True)
    finance_app.command("approve")(finance_approve)
    finance_app.command("reject")(finance_reject)
    app.add_typer(finance_app, name="finance")
    intake_app = typer.Typer(help="Intake of submissions from Salesforce.", no_args_is_help=True)
    intake_app.command("poll")(intake_poll)
    app.add_typer(intake_app, name="intake")


def submit(opportunity_id: OpportunityId, as_json: JsonOpt = False) -> None:
    """Start (or find) the approval workflow of a CRM opportunity."""
    from cli.errors import Sent
    from domain.names import approval_workflow_id

    async def work() -> dict[str, Any]:
        from om.intake import submit_from_crm

        workflow_id, started = await submit_from_crm(await connect_approvals(), opportunity_id)
        return {"opportunity_id": opportunity_id, "workflow_id": workflow_id, "started": started}

    result = run_async(work, Sent.submission(approval_workflow_id(opportunity_id)))
    emit(
        result,
        as_json,
        f"{'started' if result['started'] else 'already running'}: {result['workflow_id']}",
    )


def status(opportunity_id: OpportunityId, as_json: AlwaysJson = True) -> None:
    """The workflow's status as JSON (stage, round, SLA deadline, history...)."""
    from cli.errors import Sent

    async def work() -> Any:
        return await (await connect_approvals()).status(opportunity_id)

    emit(run_async(work, Sent.read()), True)


def _decide(
    opportunity_id: str,
    user: str,
    stage: str,
    action: str,
    reasons: list[str],
    comment: str,
    as_json: bool,
    acknowledged: list[str] | None = None,
    update_id: str | None = None,
    overrides: list[str] | None = None,
) -> None:
    from cli.errors import Sent

    update_id = update_id or uuid.uuid4().hex

    async def work() -> DecisionReceipt:
        approvals = await connect_approvals()
        return await approvals.decide(
            opportunity_id,
            user,
            stage,  # type: ignore[arg-type]
            action,  # type: ignore[arg-type]
            reasons,
            comment,
            acknowledged=acknowledged,
            update_id=update_id,
            overrides=overrides,
        )

    receipt = run_async(work, Sent.update("the decision", update_id))
    emit(receipt, as_json, f"{opportunity_id}: {receipt.message}")


def approve(
    opportunity_id: OpportunityId,
    user: AsUser,
    comment: Comment = "",
    acknowledge: Annotated[
        list[str] | None,
        typer.Option("--acknowledge", help="Code of a judgment finding you checked (repeat)."),
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option(
            "--override",
            help="Code of a hard finding you approve anyway (repeat, one per hard "
            "finding; needs --comment saying why).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """Order Management approves the pending review round.

    A round whose pre-check found hard findings is refused unless each is
    overridden by code (--override CODE) with a --comment saying why."""
    _decide(
        opportunity_id,
        user,
        "om",
        "approve",
        [],
        comment,
        as_json,
        acknowledge or [],
        update_id,
        override or [],
    )


def reject(
    opportunity_id: OpportunityId,
    user: AsUser,
    reason: Annotated[list[str], typer.Option("--reason", help="Reason code (repeat).")],
    comment: Annotated[str, typer.Option("--comment", help="What the rep must fix.")],
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """Order Management rejects the pending round with reason codes and a comment."""
    from domain.reasons import parse_reason_codes

    try:
        parse_reason_codes(reason)
    except ValueError as error:
        fail(str(error))
    _decide(opportunity_id, user, "om", "reject", reason, comment, as_json, update_id=update_id)


def finance_approve(
    opportunity_id: OpportunityId,
    user: AsUser,
    comment: Comment = "",
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """Billing approves: the opportunity becomes Closed Won."""
    _decide(opportunity_id, user, "finance", "approve", [], comment, as_json, update_id=update_id)


def finance_reject(
    opportunity_id: OpportunityId,
    user: AsUser,
    comment: Annotated[str, typer.Option("--comment", help="What OM missed.")],
    reason: Annotated[
        list[str] | None, typer.Option("--reason", help="Reason code (repeat).")
    ] = None,
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """Billing rejects: back to Order Management (counts against accuracy)."""
    _decide(
        opportunity_id, user, "finance", "reject", reason or [], comment, as_json, None, update_id
    )


def _rep(
    opportunity_id: str,
    action: str,
    user: str,
    comment: str,
    as_json: bool,
    update_id: str | None = None,
) -> None:
    from cli.errors import Sent

    update_id = update_id or uuid.uuid4().hex

    async def work() -> DecisionReceipt:
        return await (await connect_approvals()).rep_action(
            opportunity_id, action, user, comment, update_id=update_id
        )

    receipt = run_async(work, Sent.update(f"the {action.replace('_', '-')}", update_id))
    emit(receipt, as_json, f"{opportunity_id}: {receipt.message}")


def resubmit(
    opportunity_id: OpportunityId,
    user: AsUser,
    comment: Comment = "",
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """The owning rep resubmits a rejected or recalled opportunity (new round)."""
    _rep(opportunity_id, "resubmit", user, comment, as_json, update_id)


def recall(
    opportunity_id: OpportunityId,
    user: AsUser,
    comment: Comment = "",
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """The owning rep recalls a pending submission."""
    _rep(opportunity_id, "recall", user, comment, as_json, update_id)


def close_lost(
    opportunity_id: OpportunityId,
    user: AsUser,
    comment: Comment = "",
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """The owning rep closes a rejected or recalled opportunity as lost / cancelled."""
    _rep(opportunity_id, "close_lost", user, comment, as_json, update_id)


def queue(
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open reviews in priority order: urgent, start date, revenue, submission order."""
    from datetime import UTC, datetime

    from api.queue_view import queue_entries
    from cli.errors import Sent

    async def work() -> Any:
        return await (await connect_approvals()).queue(region)

    items = run_async(work, Sent.read())
    settings = settings_or_fail()
    entries = [
        e for e, _ in queue_entries(items, settings.calendar, datetime.now(UTC), settings.booking)
    ]

    def text() -> None:
        # A block of lines per row, not a table: the clock and the reasons
        # are sentences, which a table of ten columns would cut or wrap.
        title = f"Queue{' ' + region.value if region else ''}: {len(entries)} open review"
        typer.echo(title + ("" if len(entries) == 1 else "s"))
        for position, e in enumerate(entries, start=1):
            typer.echo("\n".join(queue_row_lines(position, e)))

    emit(entries, as_json, text)


def queue_row_lines(position: int, e: Any) -> list[str]:
    """One queue row (`api.queue_view.QueueEntry`) as the lines `om queue` prints."""
    flags = " ".join(f for f, on in (("URGENT", e.urgent), ("BREACHED", e.breached)) if on)
    head = f"{position}. {e.name or e.opportunity_id}"
    head += f" - {e.account_name}" if e.account_name else ""
    head += f" ({e.opportunity_id})  {e.amount:,.2f} {e.currency or ''}".rstrip()
    stage = {"om_review": "OM review", "finance_review": "Billing review"}.get(e.stage, e.stage)
    where = f"{e.queue_region.value} queue (home {e.region.value})"
    round_ = (
        f"round {e.round}" + (" (resubmitted)" if e.resubmitted else "") if e.round else "round ?"
    )
    findings = (
        "findings ?"
        if e.findings_hard is None
        else f"findings {e.findings_hard} hard / {e.findings_judgment or 0} judgment"
    )
    lines = [
        head + (f"  {flags}" if flags else ""),
        f"   {stage} · {where} · {round_} · {findings} · assignee {e.assignee or '-'}",
    ]
    if e.clock:
        lines.append(f"   {e.clock}")
    if e.cover_reason:
        lines.append(f"   cover: {e.cover_reason}")
    if e.handoff_reason:
        lines.append(f"   handoff: {e.handoff_reason}")
    return lines


def intake_poll(as_json: JsonOpt = False) -> None:
    """Start workflows for opportunities awaiting approval in Salesforce that have none."""

    async def work() -> Any:
        from om.intake import poll_once

        return await poll_once(await connect_approvals())

    report = run_async(work)
    emit(
        report,
        as_json,
        f"{report.awaiting} awaiting approval in Salesforce, {report.already_running} already "
        f"running, {len(report.started)} started"
        + "".join(f"\n  started {i}" for i in report.started)
        + "".join(f"\n  failed {i}: {why}" for i, why in report.failed.items()),
    )


def check(file: Path, as_json: JsonOpt = False) -> None:
    """Run the booking-requirements pre-check on an opportunity JSON file (exit 1 on findings)."""
    from pydantic import ValidationError

    from domain.models import Opportunity
    from domain.requirements import check_booking_requirements

    try:
        opportunity = Opportunity.model_validate_json(file.read_text())
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}")
    except UnicodeDecodeError:
        fail(f"cannot read {file}: not UTF-8 text")
    except ValidationError as error:
        fail(describe_validation_error(error, str(file)))
    findings = check_booking_requirements(opportunity)
    emit(
        findings,
        as_json,
        "\n".join(f"{f.code} ({f.field}): {f.message}" for f in findings)
        or "no findings: bookable",
    )
    if findings:
        raise typer.Exit(1)
