"""Temporal workflows: orchestration and state only, one module per workflow."""

from workflows.intake_poll import IntakePollWorkflow
from workflows.license_review import LicenseReviewWorkflow
from workflows.opportunity_approval import OpportunityApprovalWorkflow

ALL_WORKFLOWS = [OpportunityApprovalWorkflow, IntakePollWorkflow, LicenseReviewWorkflow]

__all__ = [
    "ALL_WORKFLOWS",
    "IntakePollWorkflow",
    "LicenseReviewWorkflow",
    "OpportunityApprovalWorkflow",
]
