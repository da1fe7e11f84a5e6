"""The `om` command: every person-facing operation, one clear line on error.

Each command accepts `--json`. Errors a person can act on (`domain.errors`,
bad input, an unreachable service) print one line to stderr and exit 1;
they never print a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.service import RPCError

from cli.errors import Sent, describe_rpc_error, describe_service_error, temporal_unreachable
from domain.errors import OmError, Unavailable
from domain.models import Region
from om.settings import Settings, load_settings

app = typer.Typer(
    help="Order Management booking approval on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
finance_app = typer.Typer(help="Billing (finance review) decisions.", no_args_is_help=True)
app.add_typer(finance_app, name="finance")
intake_app = typer.Typer(help="Intake of submissions from Salesforce.", no_args_is_help=True)
app.add_typer(intake_app, name="intake")

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AsUser = Annotated[str, typer.Option("--as", help="Roster email of the person acting.")]
Comment = Annotated[str, typer.Option("--comment", help="Comment recorded with the action.")]
UpdateId = Annotated[
    str | None,
    typer.Option(
        "--update-id",
        help="Id of this decision (default: a new one). Sent again with the same id, it "
        "gets the first answer and is never applied twice: use the id printed when an "
        "answer was lost.",
    ),
]
# Wide enough for the queue table when the output is a pipe or a file.
console = Console(width=None if sys.stdout.isatty() else 160)


def fail(message: str, code: int = 1) -> None:
    """One line on stderr, then exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def describe_validation_error(error: ValidationError, what: str = "input") -> str:
    """`field.path: reason; ...` for each problem pydantic found."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}" for e in error.errors()]
    return f"invalid {what}: " + "; ".join(parts)


def run_async(work: Callable[[], Awaitable[T]], sent: Sent | None = None) -> T:
    """Run a coroutine, turning expected failures into one clear line.

    `sent` says what the command sends to Temporal, so an answer lost when
    Temporal goes away mid-call is reported with whether it is safe to send
    again (cli.errors)."""
    try:
        return asyncio.run(work())  # type: ignore[arg-type]
    except OmError as error:
        fail(describe_service_error(error, load_settings()) or str(error))
    except ValidationError as error:
        fail(describe_validation_error(error))
    except RPCError as error:
        fail(describe_rpc_error(error, load_settings().temporal_address, sent))
    raise AssertionError("unreachable")


def emit(data: Any, as_json: bool, text: Callable[[], None] | str | None = None) -> None:
    """Print `data` as JSON, or the human rendering."""
    if as_json or text is None:
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        elif isinstance(data, list):
            data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
        typer.echo(json.dumps(data, indent=2, default=str))
    elif callable(text):
        text()
    else:
        typer.echo(text)


async def _approvals(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    from om.approvals import Approvals
    from om.client import connect
    from om.connection import TemporalConnectionError

    settings = settings or load_settings()
    try:
        # One-shot commands serve no metrics: the worker beside them holds the port.
        client = await connect(settings, serve_metrics=False)
    except TemporalConnectionError as error:  # a TLS / API key setting, named in the message
        raise OmError(str(error)) from error
    except RuntimeError as error:
        raise Unavailable(temporal_unreachable(settings.temporal_address, error)) from error
    return Approvals(client, settings)


# ---- processes ----------------------------------------------------------------


@app.command()
def dev() -> None:
    """Run everything locally: Temporal dev server, sandbox, worker and API (`make run`)."""
    from cli.sandbox import require_dev_tools

    require_dev_tools("om dev")
    from cli.dev import run_dev
    from om.telemetry import configure_logging

    try:
        settings = load_settings()
    except ValidationError as error:
        fail(describe_validation_error(error, "settings"))
    configure_logging(settings)
    run_dev(settings)


@app.command()
def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS."""
    from om.telemetry import configure_logging
    from workers.worker import run_worker

    settings = load_settings()
    configure_logging(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))


@app.command()
def api(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the HTTP API and console."""
    import uvicorn

    from api.app import create_app
    from om.telemetry import configure_logging

    settings = load_settings()
    configure_logging(settings)
    # log_config=None: uvicorn's own lines (access log included) go through
    # the handler above, so they are JSON too when `log_format` is json.
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


# ---- the approval cycle -----------------------------------------------------------


@app.command()
def submit(opportunity_id: str, as_json: JsonOpt = False) -> None:
    """Start (or find) the approval workflow of a CRM opportunity."""

    from domain.names import approval_workflow_id

    async def work() -> dict[str, Any]:
        from om.intake import submit_from_crm

        workflow_id, started = await submit_from_crm(await _approvals(), opportunity_id)
        return {"opportunity_id": opportunity_id, "workflow_id": workflow_id, "started": started}

    result = run_async(work, Sent.submission(approval_workflow_id(opportunity_id)))
    emit(
        result,
        as_json,
        f"{'started' if result['started'] else 'already running'}: {result['workflow_id']}",
    )


@app.command()
def status(opportunity_id: str, as_json: JsonOpt = True) -> None:
    """The workflow's status as JSON (stage, round, SLA deadline, history...)."""

    async def work():  # type: ignore[no-untyped-def]
        return await (await _approvals()).status(opportunity_id)

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
) -> None:
    update_id = update_id or uuid.uuid4().hex

    async def work():  # type: ignore[no-untyped-def]
        approvals = await _approvals()
        return await approvals.decide(
            opportunity_id,
            user,
            stage,  # type: ignore[arg-type]
            action,  # type: ignore[arg-type]
            reasons,
            comment,
            acknowledged=acknowledged,
            update_id=update_id,
        )

    receipt = run_async(work, Sent.update("the decision", update_id))
    emit(receipt, as_json, f"{opportunity_id}: {receipt.message}")


@app.command()
def approve(
    opportunity_id: str,
    user: AsUser,
    comment: Comment = "",
    acknowledge: Annotated[
        list[str] | None,
        typer.Option("--acknowledge", help="Code of a judgment finding you checked (repeat)."),
    ] = None,
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """Order Management approves the pending review round."""
    _decide(
        opportunity_id, user, "om", "approve", [], comment, as_json, acknowledge or [], update_id
    )


@app.command()
def reject(
    opportunity_id: str,
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


@finance_app.command("approve")
def finance_approve(
    opportunity_id: str,
    user: AsUser,
    comment: Comment = "",
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """Billing approves: the opportunity becomes Closed Won."""
    _decide(opportunity_id, user, "finance", "approve", [], comment, as_json, update_id=update_id)


@finance_app.command("reject")
def finance_reject(
    opportunity_id: str,
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
    update_id = update_id or uuid.uuid4().hex

    async def work():  # type: ignore[no-untyped-def]
        return await (await _approvals()).rep_action(
            opportunity_id, action, user, comment, update_id=update_id
        )

    receipt = run_async(work, Sent.update(f"the {action.replace('_', '-')}", update_id))
    emit(receipt, as_json, f"{opportunity_id}: {receipt.message}")


@app.command()
def resubmit(
    opportunity_id: str,
    user: AsUser,
    comment: Comment = "",
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """The owning rep resubmits a rejected or recalled opportunity (new round)."""
    _rep(opportunity_id, "resubmit", user, comment, as_json, update_id)


@app.command()
def recall(
    opportunity_id: str,
    user: AsUser,
    comment: Comment = "",
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """The owning rep recalls a pending submission."""
    _rep(opportunity_id, "recall", user, comment, as_json, update_id)


@app.command("close-lost")
def close_lost(
    opportunity_id: str,
    user: AsUser,
    comment: Comment = "",
    as_json: JsonOpt = False,
    update_id: UpdateId = None,
) -> None:
    """The owning rep closes a rejected or recalled opportunity as lost / cancelled."""
    _rep(opportunity_id, "close_lost", user, comment, as_json, update_id)


@app.command()
def queue(
    region: Annotated[Region | None, typer.Option(help="AMER, EMEA or APAC")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open reviews in priority order: urgent, start date, revenue, submission order."""

    async def work():  # type: ignore[no-untyped-def]
        return await (await _approvals()).queue(region)

    items = run_async(work, Sent.read())

    def table() -> None:
        grid = Table(
            "opportunity",
            "stage",
            "region",
            "queue",
            "urgent",
            "start",
            "amount",
            "SLA deadline (UTC)",
            "flags",
            title=f"Queue{' ' + region.value if region else ''}",
        )
        for item in items:
            flags = [f for f, on in (("BREACHED", item.breached), ("cover", item.cover)) if on]
            grid.add_row(
                item.opportunity_id,
                item.stage,
                item.region.value,
                item.queue_region.value,
                "yes" if item.urgent else "",
                str(item.quote_start_date or ""),
                f"{item.amount:,.2f}",
                item.sla_deadline.strftime("%Y-%m-%d %H:%M") if item.sla_deadline else "",
                " ".join(flags),
            )
        console.print(grid)

    emit(items, as_json, table)


@intake_app.command("poll")
def intake_poll(as_json: JsonOpt = False) -> None:
    """Start workflows for opportunities awaiting approval in Salesforce that have none."""

    async def work():  # type: ignore[no-untyped-def]
        from om.intake import poll_once

        return await poll_once(await _approvals())

    report = run_async(work)
    emit(
        report,
        as_json,
        f"{report.awaiting} awaiting approval in Salesforce, {report.already_running} already "
        f"running, {len(report.started)} started"
        + "".join(f"\n  started {i}" for i in report.started)
        + "".join(f"\n  failed {i}: {why}" for i, why in report.failed.items()),
    )


@app.command()
def check(file: Path, as_json: JsonOpt = False) -> None:
    """Run the booking-requirements pre-check on an opportunity JSON file (exit 1 on findings)."""
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


def _mount_subcommands() -> None:
    from cli.audit import register as register_audit
    from cli.calendar import register as register_calendar
    from cli.kpi import register as register_kpi
    from cli.licenses import register as register_licenses
    from cli.renewals import register as register_renewals
    from cli.sandbox import sandbox_app

    app.add_typer(sandbox_app, name="sandbox")
    register_audit(app)
    register_licenses(app)
    register_kpi(app)
    register_renewals(app)
    register_calendar(app)


_mount_subcommands()


def main() -> None:
    """Console entry point (`om`).

    Exits with `os._exit` once the command is done and its output flushed:
    the Temporal client's Rust runtime threads can otherwise abort the
    interpreter during finalization (`PyGILState_Release ... finalizing`),
    turning a successful command into a crash with exit code -6.
    """
    code: int | str | None = 0
    try:
        app()
    except SystemExit as done:
        code = done.code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if isinstance(code, str):
        print(code, file=sys.stderr, flush=True)
        code = 1
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    main()
