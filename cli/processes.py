"""`om dev`, `om worker` and `om api`: the long-running processes.

Each imports what it runs (the sandbox, the worker, uvicorn and the API)
inside the command, so the one-shot commands never load them.
"""

from __future__ import annotations

import typer

from cli.common import fail, settings_or_fail


def register(app: typer.Typer) -> None:
    """Add `dev`, `worker` and `api` to the `om` app."""
    app.command()(dev)
    app.command()(worker)
    app.command()(api)


def dev() -> None:
    """Run everything locally: Temporal dev server, sandbox, worker and API (`make run`)."""
    from cli.sandbox import require_dev_tools

    require_dev_tools("om dev")
    from cli.dev import run_dev
    from om.telemetry import configure_logging

    settings = settings_or_fail()
    configure_logging(settings)
    run_dev(settings)


def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS."""
    import asyncio
    import contextlib

    from cli.common import connect_temporal
    from domain.errors import OmError
    from om.telemetry import configure_logging
    from workers.worker import run_worker

    settings = settings_or_fail()
    configure_logging(settings)

    async def work() -> None:
        # Connected here, not in run_worker, so a Temporal out of reach is
        # the CLI's one line rather than the SDK's traceback.
        client = await connect_temporal(settings, serve_metrics=True)
        await run_worker(settings, client)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(work())
    except OmError as error:
        fail(str(error))


def api(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the HTTP API and console."""
    import uvicorn

    from api.app import create_app
    from om.telemetry import configure_logging

    settings = settings_or_fail()
    if settings.console_secret is None and not settings.demo:
        fail(
            "OM_CONSOLE_SECRET is not set: console sessions and their CSRF tokens are signed "
            "with it, the same on every replica (or set OM_DEMO=true for a demo)"
        )
    configure_logging(settings)
    # log_config=None: uvicorn's own lines (access log included) go through
    # the handler above, so they are JSON too when `log_format` is json.
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
