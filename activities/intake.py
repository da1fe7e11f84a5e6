"""The intake poller as an activity, run by the `om-intake-poll` Schedule.

The poll itself (read Salesforce, start the workflows whose callout was
lost) is a client-side service (`om.intake.poll_once`) the CLI runs too;
the worker hands it in, so this module stays a thin activity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from domain.messages import ActivityName, PollReport


class IntakeActivities:
    """`poll` is the worker's bound `om.intake.poll_once`."""

    def __init__(self, poll: Callable[[], Awaitable[PollReport]]) -> None:
        self._poll = poll

    @activity.defn(name=ActivityName.INTAKE_POLL)
    async def poll(self) -> PollReport:
        report = await self._poll()
        if report.started or report.failed:
            activity.logger.info("intake poll: %s", report.model_dump_json())
        return report
