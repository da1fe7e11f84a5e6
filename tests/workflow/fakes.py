"""In-memory stand-ins for the external systems, registered under the real
activity names (never by patching), for workflow tests on the time-skipping
server. Integration tests use the real adapters against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from domain.messages import (
    ActivityName,
    ChatterPost,
    CrmUpdate,
    LicenseStatus,
    Notification,
    SolveTicket,
    Ticket,
    TicketRequest,
)


@dataclass
class FakeSystems:
    crm_updates: list[CrmUpdate] = field(default_factory=list)
    chatter: list[ChatterPost] = field(default_factory=list)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    solved: list[SolveTicket] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    license_checks: int = 0
    deliver_after_checks: int | None = 0
    """None: never delivered; 0: delivered at once; n: delivered from check n+1."""

    def stages(self) -> list[str]:
        return [u.stage for u in self.crm_updates if u.stage]

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=ActivityName.UPDATE_OPPORTUNITY)
        async def update_opportunity(update: CrmUpdate) -> None:
            self.crm_updates.append(update)

        @activity.defn(name=ActivityName.POST_CHATTER)
        async def post_chatter(post: ChatterPost) -> str:
            if all(p.idempotency_key != post.idempotency_key for p in self.chatter):
                self.chatter.append(post)
            return post.idempotency_key

        @activity.defn(name=ActivityName.CHECK_LICENSE)
        async def check_delivery(opportunity_id: str) -> LicenseStatus:
            self.license_checks += 1
            delivered = (
                self.deliver_after_checks is not None
                and self.license_checks > self.deliver_after_checks
            )
            return LicenseStatus(
                opportunity_id=opportunity_id,
                delivered=delivered,
                delivered_at=datetime(2026, 12, 2, 10, tzinfo=UTC) if delivered else None,
            )

        @activity.defn(name=ActivityName.CREATE_TICKET)
        async def create_ticket(request: TicketRequest) -> Ticket:
            existing = self.tickets.get(request.idempotency_key)
            if existing is None:
                existing = Ticket(id=1000 + len(self.tickets), status="new")
                self.tickets[request.idempotency_key] = existing
            return existing

        @activity.defn(name=ActivityName.SOLVE_TICKET)
        async def solve_ticket(request: SolveTicket) -> None:
            self.solved.append(request)

        @activity.defn(name=ActivityName.NOTIFY)
        async def notify(notification: Notification) -> None:
            if all(n.idempotency_key != notification.idempotency_key for n in self.notifications):
                self.notifications.append(notification)

        return [
            update_opportunity,
            post_chatter,
            check_delivery,
            create_ticket,
            solve_ticket,
            notify,
        ]
