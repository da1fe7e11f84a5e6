"""`om sandbox`: run the local sandbox, or drive the one that is running.

`om sandbox` alone runs it in the foreground (Ctrl-C stops it); the
subcommands find the running one through `<home>/sandbox.json` (home from
`om.settings.load_settings()`). Errors print one line to stderr and exit 1.
The sandbox package (and rich) are imported inside the commands so other
`om` commands do not load them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import JsonOpt, OpportunityId, fail

if TYPE_CHECKING:
    from rich.console import Console

    from om.settings import Settings

sandbox_app = typer.Typer(
    help="Local stand-ins for Salesforce, the support desk, the license service and team chat.",
    pretty_exceptions_enable=False,
    add_completion=False,
)

# What `show` prints after the record's own fields, not as one of them.
_ATTACHED = (
    "OM_Submission__c",
    "account",
    "owner",
    "license",
    "chatter",
    "tickets",
    "notifications",
)


# What `om dev` and `om sandbox` import beyond the runtime wheel: the sandbox
# package (devtools/pyproject.toml) and the `dev` extra.
DEV_TOOLS = ("sandbox", "trustme", "psutil")


def require_dev_tools(command: str) -> None:
    """One line instead of an ImportError where only the runtime wheel is
    installed (`pip install .`, the Docker image): it leaves the sandbox out."""
    missing = [name for name in DEV_TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        fail(
            f"`{command}` needs the development tools (missing {', '.join(missing)}): "
            "run `make install` in a checkout"
        )


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _home() -> Path:
    return _settings().home


def _settings() -> Settings:
    from om.settings import load_settings

    return load_settings()


def _admin() -> Any:
    from sandbox.client import SandboxAdminClient, SandboxNotRunning

    try:
        return SandboxAdminClient.from_home(_home())
    except SandboxNotRunning as error:
        fail(str(error))


def _admin_call(call: Any, *args: Any, unknown: str | None = None, about: str = "") -> Any:
    """Run an admin call; a 404 means `unknown` (an opportunity id); a refusal
    is prefixed with what it was `about` (a file)."""
    from sandbox.client import SandboxAdminError, SandboxAnswerLost, SandboxNotRunning

    try:
        return call(*args)
    except SandboxNotRunning as error:
        fail(str(error))
    except SandboxAnswerLost as error:
        fail(
            f"{error}: is `make run` (or `om sandbox`) still running? Every `om sandbox` "
            "command is safe to send again once it is back (seeding upserts; a delivered "
            "license keeps its first delivery)"
        )
    except SandboxAdminError as error:
        if error.status == 404 and unknown is not None:
            fail(f"unknown opportunity {unknown!r}: not in the sandbox")
        fail(f"{about}: {error}" if about else str(error))


@sandbox_app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    salesforce_port: Annotated[int, typer.Option(help="Salesforce (HTTPS) port.")] = 8443,
    support_desk_port: Annotated[int, typer.Option(help="Support desk port.")] = 8081,
    license_port: Annotated[int, typer.Option(help="License service + admin port.")] = 8082,
    demo: Annotated[bool, typer.Option(help="Seed the demo data into an empty sandbox.")] = True,
    without_field: Annotated[
        list[str] | None,
        typer.Option(
            "--without-field",
            help="Leave Object.Field out of describe, as an org the metadata was not "
            "deployed to (om salesforce doctor names it); repeatable.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the sandbox in the foreground (no subcommand); Ctrl-C stops it."""
    require_dev_tools("om sandbox")
    if ctx.invoked_subcommand is not None:
        return
    from sandbox.schema import field_key

    try:
        missing: dict[str, str | None] = {field_key(f): None for f in without_field or ()}
    except ValueError as error:
        fail(f"--without-field {error}")
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from sandbox.server import SandboxInfo, SandboxStartError, run_sandbox

    def ready(info: SandboxInfo, seeded: list[str]) -> None:
        if as_json:
            _print_json(info.info_json())
            return
        table = Table(title=escape(f"OM sandbox (home {info.home})"), show_header=False)
        table.add_column("key")
        table.add_column("value", overflow="fold")  # tokens are copied: never elide them
        for key, value in info.info_json().items():
            table.add_row(key, escape(value))
        console = Console()
        console.print(table)
        if seeded:
            console.print(f"Seeded {len(seeded)} demo opportunities.")
        console.print("Running; Ctrl-C stops it.")

    try:
        run_sandbox(
            _home(),
            host,
            salesforce_port,
            support_desk_port,
            license_port,
            seed_demo=demo,
            on_ready=ready,
            schema_changes=missing,
            quote_mapping=_settings().salesforce.mapping,
        )
    except SandboxStartError as error:
        fail(str(error))


@sandbox_app.command()
def seed(
    file: Annotated[
        Path,
        typer.Argument(help='Seed file: {"opportunities": [...], "delivered_licenses": [...]}'),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Upsert the opportunities of a seed file; a bad item rejects the whole file."""
    try:
        payload = json.loads(file.read_text())
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror or error}")
    except ValueError as error:
        fail(f"{file}: not valid JSON: {error}")
    result = _admin_call(_admin().seed, payload, about=str(file))
    if as_json:
        _print_json(result)
    else:
        typer.echo(
            f"seeded {result['opportunities']} opportunities from {file} "
            f"({result['delivered_licenses']} licenses delivered by automation once "
            "Closed Won)"
        )


@sandbox_app.command("deliver-license")
def deliver_license(opportunity_id: OpportunityId, as_json: JsonOpt = False) -> None:
    """Deliver an opportunity's license by hand, as Support would."""
    status = _admin_call(_admin().deliver_license, opportunity_id, unknown=opportunity_id)
    if as_json:
        _print_json(status)
    else:
        typer.echo(
            f"license for {opportunity_id} delivered at {status['delivered_at']} "
            f"(by {status['delivered_by']})"
        )


@sandbox_app.command()
def info(as_json: JsonOpt = False) -> None:
    """Print the running sandbox's sandbox.json (always JSON)."""
    del as_json  # accepted for symmetry: the info file is JSON either way
    path = _home() / "sandbox.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"the sandbox is not running: {path} does not exist (start it with `om sandbox`)")
    except (OSError, ValueError) as error:
        fail(f"cannot read {path}: {error}")
    _print_json(data)


@sandbox_app.command()
def show(opportunity_id: OpportunityId, as_json: JsonOpt = False) -> None:
    """The CRM record as the sandbox holds it, with license, Chatter, tickets and
    chat notifications."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    record = _admin_call(_admin().opportunity, opportunity_id, unknown=opportunity_id)
    if as_json:
        _print_json(record)
        return
    console = Console()
    table = Table(title=escape(f"{record['Id']}  {record['Name']}"), show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        if key not in _ATTACHED:
            table.add_row(key, "" if value is None else escape(str(value)))
    account, owner, license_ = record["account"] or {}, record["owner"] or {}, record["license"]
    table.add_row(
        "Account",
        escape(
            f"{account.get('Name')} ({account.get('BillingCountry')}, "
            f"{account.get('OM_Region__c')})"
        ),
    )
    table.add_row("Owner", escape(f"{owner.get('Name')} <{owner.get('Email')}>"))
    table.add_row(
        "License",
        f"delivered {license_['delivered_at']} by {license_['delivered_by']}"
        if license_["delivered"]
        else "not delivered",
    )
    console.print(table)
    for item in record["chatter"]:
        console.print(
            f"[bold]Chatter[/bold] {item['CreatedDate']}: {escape(item['Body'])}",
            markup=True,
            highlight=False,
        )
    for ticket in record["tickets"]:
        console.print(
            f"[bold]Ticket {ticket['id']}[/bold] ({ticket['status']}): {escape(ticket['subject'])}",
            markup=True,
            highlight=False,
        )
    for message in record.get("notifications") or []:
        _print_notification(console, message, with_opportunity=False)


def _print_notification(
    console: Console, message: dict[str, Any], *, with_opportunity: bool = True
) -> None:
    from rich.markup import escape

    about = (
        f" {message['opportunity_id']}" if with_opportunity and message["opportunity_id"] else ""
    )
    console.print(
        f"[bold]Chat {escape(message['channel'])}[/bold]{escape(about)} "
        f"{message['received_at']}: {escape(message['text'])}",
        markup=True,
        highlight=False,
        soft_wrap=True,
    )


@sandbox_app.command()
def notifications(
    channel: Annotated[
        str | None, typer.Option(help="Only this channel, e.g. '#om-emea-queue'.")
    ] = None,
    opportunity: Annotated[
        str | None, typer.Option(help="Only messages about this opportunity id.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Chat messages the workflow posted to the sandbox's webhook, oldest first."""
    messages = _admin_call(_admin().notifications, opportunity, channel)
    if as_json:
        _print_json(messages)
        return
    if not messages:
        typer.echo("no notifications")
        return
    from rich.console import Console

    console = Console()
    for message in messages:
        _print_notification(console, message)
