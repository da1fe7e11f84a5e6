"""Every side effect, as Temporal activities over thin, idempotent adapters:
Salesforce (simple-salesforce), the support desk, the license service and
the team-chat webhook (httpx). Policy computations run as local activities
(activities.policy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.config import AdapterSettings


def build_activities(settings: AdapterSettings) -> list[Callable[..., Any]]:
    """Every external-system activity for a Worker, wired from `settings`.

    Nothing connects here: each adapter connects on first use, so a worker
    starts even while a service (or the sandbox) is still coming up.
    """
    from activities.license_service import LicenseServiceActivities, LicenseServiceClient
    from activities.notifications import NotificationActivities, NotificationClient
    from activities.salesforce import SalesforceActivities, SalesforceAdapter
    from activities.support_desk import SupportDeskActivities, SupportDeskClient

    return [
        *SalesforceActivities(SalesforceAdapter(settings.salesforce)).activities(),
        *SupportDeskActivities(SupportDeskClient(settings.support_desk)).activities(),
        *LicenseServiceActivities(LicenseServiceClient(settings.license_service)).activities(),
        *NotificationActivities(NotificationClient(settings.notifications)).activities(),
    ]
