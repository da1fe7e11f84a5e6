"""The `om` command: every person-facing operation, one clear line on error.

This module only assembles the app; the commands live in one module per
room (cli/processes.py, cli/opportunities.py, cli/audit.py, ...) and share
the helpers of cli/common.py. Each command accepts `--json`. Errors a person
can act on (`domain.errors`, bad input, an unreachable service) print one
line to stderr and exit 1; they never print a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from cli import audit, calendar, kpi, licenses, opportunities, processes, renewals, salesforce
from cli.sandbox import sandbox_app

app = typer.Typer(
    help="Order Management booking approval on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# The order of `om --help`: commands in registration order, then the groups.
processes.register(app)
opportunities.register(app)
app.add_typer(sandbox_app, name="sandbox")
audit.register(app)
licenses.register(app)
kpi.register(app)
renewals.register(app)
calendar.register(app)
salesforce.register(app)


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
    except Exception as error:  # a bad setting met outside a command's own checks
        code = _one_line(error)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if isinstance(code, str):
        print(code, file=sys.stderr, flush=True)
        code = 1
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    main()


def _one_line(error: Exception) -> str:
    """A settings value pydantic refused, as the one line every error gets;
    anything else is a bug and keeps its traceback."""
    from pydantic import ValidationError

    from cli.common import describe_validation_error

    if isinstance(error, ValidationError) and error.title == "Settings":
        return f"error: {describe_validation_error(error, 'settings')}"
    raise error
