"""The worker process: registers every workflow and activity on the task queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.policy import PolicyActivities
from domain.settings import Settings, load_settings
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
    if activities is None:
        from activities import build_activities

        activities = build_activities(settings)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[*activities, *PolicyActivities(settings).all()],
    )


async def run_worker(settings: Settings | None = None, client: Client | None = None) -> None:
    """Run a worker until cancelled (`om worker`)."""
    from workers.client import connect
    from workers.search_attributes import ensure_search_attributes

    settings = settings or load_settings()
    client = client or await connect(settings)
    await ensure_search_attributes(client)
    await build_worker(client, settings).run()
