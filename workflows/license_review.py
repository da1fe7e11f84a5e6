"""LicenseReviewWorkflow: one region's daily license delivery review, started
by the region's `om-license-review-<region>` Schedule at its opening time
Monday to Friday.

The Schedule knows weekdays, not holidays: the workflow asks a local
activity whether today is a business day in the region and records the
answer in its history (holiday data changes between releases, so replay must
not recompute it; docs/architecture.md, "Policy answers are local activities
recorded in history"). On a holiday it returns an empty
report without touching any system.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.license_review import (
        BusinessDayAnswer,
        BusinessDayRequest,
        LicenseReviewReport,
    )
    from domain.messages import ActivityName
    from domain.models import Region


@workflow.defn
class LicenseReviewWorkflow:
    @workflow.run
    async def run(self, region: Region) -> LicenseReviewReport:
        day = await workflow.execute_local_activity(
            ActivityName.LICENSE_REVIEW_BUSINESS_DAY,
            BusinessDayRequest(region=region, at=workflow.now()),
            result_type=BusinessDayAnswer,
            start_to_close_timeout=timedelta(seconds=30),
        )
        if not day.business_day:
            workflow.logger.info(
                "license review %s: %s is not a business day", region, day.local_date
            )
            return LicenseReviewReport.skipped(region, workflow.now(), day.local_date)
        # Every step of the review is idempotent, so a retried run is safe;
        # a few attempts only: tomorrow's run picks up whatever is left.
        report: LicenseReviewReport = await workflow.execute_activity(
            ActivityName.LICENSE_REVIEW_RUN,
            region,
            result_type=LicenseReviewReport,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=30), maximum_attempts=3),
        )
        return report
