"""Support desk adapter (a Zendesk-style Tickets API over httpx) and its activities.

A ticket asks Support to deliver a license by hand when automation did not.
Creating one sends the request's idempotency key as the `Idempotency-Key`
header, so a retried create (say, the answer was lost) returns the first
ticket instead of opening a second. Solving is idempotent by reading first:
an already solved or closed ticket is left as it is.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities._http import HttpService
from activities.errors import RequestRejected, TicketNotFound, as_activity_errors
from domain.messages import ActivityName, SolveTicket, Ticket, TicketRequest

# Zendesk custom field holding the opportunity id (org-specific in production).
OPPORTUNITY_ID_FIELD = 360000000001
_DONE = ("solved", "closed")


def _ticket(body: Any, what: str) -> Ticket:
    ticket = body.get("ticket") if isinstance(body, dict) else None
    if not isinstance(ticket, dict):
        raise RequestRejected(
            f"the support desk answered {what} without a ticket", service="support_desk"
        )
    return Ticket(id=int(ticket["id"]), status=str(ticket["status"]))


class SupportDeskClient(HttpService):
    """Tickets on the support desk: bearer token, or Zendesk's email/token auth."""

    service = "support desk"
    setting_prefix = "OM_SUPPORT_DESK"

    async def create_ticket(self, request: TicketRequest) -> Ticket:
        """Open (or, for a repeated idempotency key, find) the ticket."""
        payload = {
            "ticket": {
                "subject": request.subject,
                "comment": {"body": request.body},
                "requester": {"name": request.requester_name, "email": request.requester_email},
                "priority": request.priority,
                "tags": request.tags,
                "external_id": request.opportunity_id,
                "custom_fields": [{"id": OPPORTUNITY_ID_FIELD, "value": request.opportunity_id}],
            }
        }
        _, body = await self.request(
            "POST",
            "/api/v2/tickets.json",
            json=payload,
            headers={"Idempotency-Key": request.idempotency_key},
        )
        return _ticket(body, "a ticket create")

    async def get_ticket(self, ticket_id: int) -> Ticket:
        _, body = await self.request(
            "GET", f"/api/v2/tickets/{ticket_id}.json", not_found=TicketNotFound(ticket_id)
        )
        return _ticket(body, "a ticket read")

    async def solve_ticket(self, solve: SolveTicket) -> Ticket:
        """Mark the ticket solved with a private comment, unless it already is."""
        current = await self.get_ticket(solve.ticket_id)
        if current.status in _DONE:
            return current
        payload = {
            "ticket": {"status": "solved", "comment": {"body": solve.comment, "public": False}}
        }
        _, body = await self.request(
            "PUT",
            f"/api/v2/tickets/{solve.ticket_id}.json",
            json=payload,
            not_found=TicketNotFound(solve.ticket_id),
        )
        return _ticket(body, "a ticket update")


class SupportDeskActivities:
    def __init__(self, client: SupportDeskClient) -> None:
        self.client = client

    @activity.defn(name=ActivityName.CREATE_TICKET.value)
    @as_activity_errors
    async def create_ticket(self, request: TicketRequest) -> Ticket:
        return await self.client.create_ticket(request)

    @activity.defn(name=ActivityName.SOLVE_TICKET.value)
    @as_activity_errors
    async def solve_ticket(self, solve: SolveTicket) -> Ticket:
        return await self.client.solve_ticket(solve)

    def activities(self) -> list[Any]:
        return [self.create_ticket, self.solve_ticket]
