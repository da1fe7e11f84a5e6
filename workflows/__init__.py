"""Temporal workflows: orchestration and state only, one module per workflow."""

from workflows.intake_poll import IntakePollWorkflow
from workflows.license_review import LicenseReviewWorkflow
from workflows.opportunity_approval import OpportunityApprovalWorkflow
from workflows.renewal_reconciliation import RenewalReconciliationWorkflow
from workflows.reporting_projection import ReportingProjectionWorkflow

ALL_WORKFLOWS = [
    OpportunityApprovalWorkflow,
    IntakePollWorkflow,
    LicenseReviewWorkflow,
    ReportingProjectionWorkflow,
    RenewalReconciliationWorkflow,
]

__all__ = [
    "ALL_WORKFLOWS",
    "IntakePollWorkflow",
    "LicenseReviewWorkflow",
    "OpportunityApprovalWorkflow",
    "RenewalReconciliationWorkflow",
    "ReportingProjectionWorkflow",
]
