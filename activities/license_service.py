"""License service adapter (httpx) and its activity: was the license of a
Closed Won opportunity delivered, and when? A read, so naturally idempotent;
timeouts and 5xx are retryable, an unknown opportunity is not."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities._http import HttpService
from activities.errors import OpportunityNotFound, RequestRejected, as_activity_errors
from domain.messages import ActivityName, LicenseStatus


class LicenseServiceClient(HttpService):
    service = "license service"
    setting_prefix = "OM_LICENSE_SERVICE"

    async def check_delivery(self, opportunity_id: str) -> LicenseStatus:
        """The delivery status; `OpportunityNotFound` if the service does not know it."""
        if not opportunity_id.isalnum():
            raise OpportunityNotFound(opportunity_id, "the license service")
        _, body = await self.request(
            "GET",
            f"/licenses/{opportunity_id}",
            not_found=OpportunityNotFound(opportunity_id, "the license service"),
        )
        try:
            return LicenseStatus.model_validate(body)
        except ValueError as exc:
            raise RequestRejected(
                f"the license service answered an unexpected body for {opportunity_id}: {exc}",
                service=self.service,
            ) from exc


class LicenseServiceActivities:
    def __init__(self, client: LicenseServiceClient) -> None:
        self.client = client

    @activity.defn(name=ActivityName.CHECK_LICENSE.value)
    @as_activity_errors
    async def check_license(self, opportunity_id: str) -> LicenseStatus:
        return await self.client.check_delivery(opportunity_id)

    def activities(self) -> list[Any]:
        return [self.check_license]
