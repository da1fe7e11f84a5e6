"""Temporal workflows: orchestration and state only, one module per workflow."""

from workflows.opportunity_approval import OpportunityApprovalWorkflow

ALL_WORKFLOWS = [OpportunityApprovalWorkflow]

__all__ = ["ALL_WORKFLOWS", "OpportunityApprovalWorkflow"]
