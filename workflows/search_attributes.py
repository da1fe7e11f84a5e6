"""Custom search attributes of approval workflows.

They let `om queue`, the API and the Temporal UI list and sort open reviews
without opening every workflow (docs/architecture.md, "Search attributes
for queues"). The worker registers them at start (`workers.search_attributes`).
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

OM_STAGE = SearchAttributeKey.for_keyword("OmStage")
OM_REGION = SearchAttributeKey.for_keyword("OmRegion")
OM_QUEUE_REGION = SearchAttributeKey.for_keyword("OmQueueRegion")
OM_PRIORITY = SearchAttributeKey.for_keyword("OmPriority")
OM_SLA_DEADLINE = SearchAttributeKey.for_datetime("OmSlaDeadline")
OM_BREACHED = SearchAttributeKey.for_bool("OmBreached")
OM_URGENT = SearchAttributeKey.for_bool("OmUrgent")
OM_AMOUNT = SearchAttributeKey.for_float("OmAmount")
OM_ASSIGNEE = SearchAttributeKey.for_keyword("OmAssignee")
OM_REVIEW = SearchAttributeKey.for_keyword("OmReview")
"""Round, findings counts, clock start, Billing's date and handoff reason of
the open round, packed by `domain.queue.review_token` (queue-row patch)."""

ALL_KEYS: list[SearchAttributeKey[Any]] = [
    OM_STAGE,
    OM_REGION,
    OM_QUEUE_REGION,
    OM_PRIORITY,
    OM_SLA_DEADLINE,
    OM_BREACHED,
    OM_URGENT,
    OM_AMOUNT,
    OM_ASSIGNEE,
    OM_REVIEW,
]
