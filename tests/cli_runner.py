"""Running a group of `om` commands in-process, as a user's shell would."""

from __future__ import annotations

from collections.abc import Callable

import typer
from click.testing import Result
from typer.testing import CliRunner

from om.settings import load_settings


def in_process_cli(
    register: Callable[[typer.Typer], None], env: dict[str, str]
) -> Callable[..., Result]:
    """An `invoke(*args)` running the commands `register` adds, with `env`
    as the environment; settings are re-read for every call."""
    app = typer.Typer()
    register(app)

    def invoke(*args: str) -> Result:
        load_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args), env=env)
        finally:
            load_settings.cache_clear()

    return invoke
