"""What every `om` subcommand shares: its options, its one-line errors, its output.

Each command module (cli/processes.py, cli/opportunities.py, cli/audit.py...)
imports from here and never from cli.main, which only assembles the app.

`om --help` builds every command and so imports every command module; a
command runs after that. So this module, like the command modules' top
levels, imports only typer and the standard library: Temporal's SDK, the
settings (and the holiday calendars behind them), pydantic and rich are
imported by the functions that use them, and `om --help` or `om check`
never pays for a Temporal connection they do not make.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from domain.regions import Region

if TYPE_CHECKING:
    from pydantic import ValidationError
    from rich.console import Console
    from temporalio.client import Client

    from cli.errors import Sent
    from om.approvals import Approvals
    from om.settings import Settings

T = TypeVar("T")


def json_flag(help: str = "Print JSON instead of text.", hidden: bool = False) -> Any:
    """The `--json` option; `help` says what JSON replaces (tables, text).

    A flag takes no value, so it shows none: the empty metavar keeps Typer
    from printing `<bool>` after it, which reads as if one were wanted."""
    return typer.Option("--json", help=help, metavar="", hidden=hidden)


JsonOpt = Annotated[bool, json_flag()]
AlwaysJson = Annotated[bool, json_flag("Accepted; the output is always JSON.", hidden=True)]
"""`--json` of a command whose output is JSON anyway (`om status`): taken so
scripts may pass it everywhere, and left out of the help, which showed a
switch with nothing to switch."""
OpportunityId = Annotated[
    str,
    typer.Argument(
        metavar="OPPORTUNITY_ID",
        help="Salesforce opportunity id, e.g. 0065e00000DEMO01.",
        show_default=False,
    ),
]
"""The opportunity a command acts on, named in help as people write it."""

REGION_NAMES = ", ".join(region.value for region in Region)


def parse_region(value: str | Region) -> Region:
    """A `--region` value in any case; anything else is one line naming the
    option and the regions (not Typer's box, which lists them lower-cased
    when told to ignore case)."""
    try:
        return Region(value)
    except ValueError:
        fail(f"--region: unknown region {value!r}; choose one of {REGION_NAMES}")


def region_option(help: str = "AMER, EMEA or APAC (any case).") -> Any:
    """The `--region` option of every command that takes one."""
    return typer.Option(
        "--region",
        parser=parse_region,
        metavar="[" + "|".join(region.value for region in Region) + "]",
        help=help,
        show_default=False,
    )


RegionOpt = Annotated[Region | None, region_option()]
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


def console(*, width: int = 160, highlight: bool = True, soft_wrap: bool = False) -> Console:
    """A Rich console for the command's output, built when the command prints
    so it writes to the sys.stdout of the moment (CliRunner's in tests).

    On a terminal it takes the terminal's width; into a pipe or a file it gets
    `width` columns, so tables are not squeezed to 80."""
    from rich.console import Console

    return Console(
        width=None if sys.stdout.isatty() else width, highlight=highlight, soft_wrap=soft_wrap
    )


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def describe_validation_error(error: ValidationError, what: str = "input") -> str:
    """`field.path: reason; ...` for each problem pydantic found."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}" for e in error.errors()]
    return f"invalid {what}: " + "; ".join(parts)


def settings_or_fail() -> Settings:
    """The settings (`om.settings.load_settings`); a bad value is one line
    naming the setting, not a traceback."""
    from pydantic import ValidationError

    from om.settings import load_settings

    try:
        return load_settings()
    except ValidationError as error:
        fail(describe_validation_error(error, "settings"))


def run_async(work: Callable[[], Awaitable[T]], sent: Sent | None = None) -> T:
    """Run a coroutine, turning expected failures into one clear line.

    `sent` says what the command sends to Temporal, so an answer lost when
    Temporal goes away mid-call is reported with whether it is safe to send
    again (cli.errors)."""
    import asyncio

    from pydantic import ValidationError
    from temporalio.service import RPCError

    from cli.errors import describe_rpc_error, describe_service_error
    from domain.errors import OmError
    from om.settings import load_settings

    try:
        return asyncio.run(work())  # type: ignore[arg-type]
    except OmError as error:
        fail(describe_service_error(error, load_settings()) or str(error))
    except ValidationError as error:
        fail(describe_validation_error(error))
    except RPCError as error:
        fail(describe_rpc_error(error, load_settings().temporal_address, sent))


def emit(data: Any, as_json: bool, text: Callable[[], None] | str | None = None) -> None:
    """Print `data` as JSON, or the human rendering."""
    if as_json or text is None:
        from pydantic import BaseModel

        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        elif isinstance(data, list):
            data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
        typer.echo(json.dumps(data, indent=2, default=str))
    elif callable(text):
        text()
    else:
        typer.echo(text)


async def connect_temporal(settings: Settings, *, serve_metrics: bool = False) -> Client:
    """The Temporal client (`om.client.connect`), or an `OmError` whose message
    is the one line to print: the TLS / API key setting at fault, or Temporal
    out of reach at its address (cli.errors).

    One-shot commands serve no metrics (`serve_metrics` False): the worker
    beside them holds the port. `om worker` serves them."""
    from cli.errors import temporal_unreachable
    from domain.errors import OmError, Unavailable
    from om.client import connect
    from om.connection import TemporalConnectionError

    try:
        return await connect(settings, serve_metrics=serve_metrics)
    except TemporalConnectionError as error:  # a TLS / API key setting, named in the message
        raise OmError(str(error)) from error
    except RuntimeError as error:  # the SDK's "Failed client connect"
        raise Unavailable(temporal_unreachable(settings.temporal_address, error)) from error


async def connect_approvals(settings: Settings | None = None) -> Approvals:
    """The approval service on a one-shot connection (`connect_temporal`)."""
    from om.approvals import Approvals
    from om.settings import load_settings

    settings = settings or load_settings()
    return Approvals(await connect_temporal(settings), settings)
