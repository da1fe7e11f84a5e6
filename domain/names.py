"""Names the approval workflow is known by, spelled once.

The workflow type and id appear in recorded histories, visibility queries,
Schedules and the Temporal UI, and every part (the workflow, its clients,
the activities that ask whether it runs) must spell them the same way.
"""

from __future__ import annotations

APPROVAL_WORKFLOW_TYPE = "OpportunityApprovalWorkflow"
"""The workflow type: the class name the first histories were recorded with."""

APPROVAL_WORKFLOWS_QUERY = f"WorkflowType='{APPROVAL_WORKFLOW_TYPE}'"
"""Visibility query for every approval workflow, running or closed."""


_ID_PREFIX = "opportunity-"


def approval_workflow_id(opportunity_id: str) -> str:
    """The one workflow of an opportunity: a second submission of the same
    opportunity finds it instead of starting another."""
    return f"{_ID_PREFIX}{opportunity_id}"


def opportunity_id_of(workflow_id: str) -> str:
    """The opportunity an approval workflow id names (the inverse of
    `approval_workflow_id`)."""
    return workflow_id.removeprefix(_ID_PREFIX)
