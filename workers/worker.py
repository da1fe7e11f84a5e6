"""The worker process: registers every workflow and activity on the task queue."""

from __future__ import annotations

import compileall
import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.policy import PolicyActivities
from om.settings import Settings, WorkerTuning, load_settings
from workflows import ALL_WORKFLOWS


def build_worker(
    client: Client,
    settings: Settings | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    task_queue: str | None = None,
) -> Worker:
    """A Worker for all our workflows. `activities` replaces the external
    adapters (tests register stand-ins under the same names); the policy
    local activities are always the real ones."""
    settings = settings or load_settings()
    precompile_workflows()
    if activities is None:
        activities = default_activities(client, settings)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[*activities, *PolicyActivities(settings).all()],
        **worker_options(settings.worker),
    )


def default_activities(client: Client, settings: Settings) -> list[Callable[..., Any]]:
    """Every activity of the real external systems and of the periodic work.

    The intake poll and the reporting projection are client-side services
    (`om.intake`, `om.reporting`) the CLI runs too; their activities get them
    bound to this worker's client and settings."""
    from functools import partial

    from activities import build_activities
    from activities.intake import IntakeActivities
    from activities.license_review import LicenseReviewActivities
    from activities.renewals import RenewalActivities
    from activities.reporting import ReportingActivities
    from om.approvals import Approvals
    from om.intake import poll_once
    from om.reporting import run_projection

    return [
        *build_activities(settings),
        IntakeActivities(partial(poll_once, Approvals(client, settings))).poll,
        *LicenseReviewActivities(settings, client).activities(),
        ReportingActivities(partial(run_projection, client, settings)).project,
        *RenewalActivities(settings).activities(),
    ]


def precompile_workflows() -> None:
    """Write the bytecode of the workflow modules if it is missing.

    The sandbox imports a workflow's module afresh for every workflow it
    instantiates; without bytecode (PYTHONDONTWRITEBYTECODE=1, as on our
    development machine) each import compiles the source again, holding the GIL for
    tens of milliseconds while other workflow tasks wait (load benchmark:
    decision p50 3.9 s before, 1.2 s after). `pip install` writes the
    bytecode already; on a read-only tree this changes nothing."""
    import workflows

    with contextlib.suppress(OSError):
        compileall.compile_dir(Path(workflows.__file__).parent, quiet=2)


def worker_options(tuning: WorkerTuning) -> dict[str, Any]:
    """`Worker(...)` keyword arguments for cache, slots and pollers; settings
    left unset keep the SDK's defaults. Shared with the load benchmark's
    baseline worker so both run with the same tuning."""
    options: dict[str, Any] = {"max_cached_workflows": tuning.max_cached_workflows}
    if tuning.max_concurrent_workflow_tasks is not None:
        options["max_concurrent_workflow_tasks"] = tuning.max_concurrent_workflow_tasks
    if tuning.max_concurrent_activities is not None:
        options["max_concurrent_activities"] = tuning.max_concurrent_activities
    if tuning.workflow_task_pollers is not None:
        options["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
            tuning.workflow_task_pollers
        )
    if tuning.activity_task_pollers is not None:
        options["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
            tuning.activity_task_pollers
        )
    return options


async def prepare_namespace(client: Client, settings: Settings) -> None:
    """What a namespace needs before workers run: our search attributes and
    schedules. Idempotent, so every worker start may do it."""
    from workers.schedules import ensure_schedules
    from workers.search_attributes import ensure_search_attributes

    await ensure_search_attributes(client)
    await ensure_schedules(client, settings)


async def run_worker(settings: Settings | None = None, client: Client | None = None) -> None:
    """Run a worker until cancelled (`om worker`)."""
    from om.client import connect

    settings = settings or load_settings()
    client = client or await connect(settings)
    await prepare_namespace(client, settings)
    await build_worker(client, settings).run()
