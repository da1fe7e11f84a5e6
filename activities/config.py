"""What the activities' adapters need: the policy, where state lives, and how
to reach Salesforce, the support desk, the license service and the team chat.

`om.settings.Settings` extends `AdapterSettings` with the rest of a
process's settings and loads it all from the environment; activities are
typed against this narrower model so they never depend on the loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from activities.salesforce_mapping import ObjectsMapping, resolve_mapping
from domain.policy import Policy


class SalesforceFields(BaseModel):
    """Where our facts live on a Salesforce Opportunity. A real org's custom
    field names differ from the sandbox's; change them here, not in code."""

    stage: str = "StageName"
    approval_status: str = "Approval_Status__c"
    locked: str = "OM_Record_Locked__c"
    close_date: str = "CloseDate"
    license_delivery_date: str = "License_Delivery_Date__c"
    om_payload: str = "OM_Submission__c"


class SalesforceSettings(BaseModel):
    instance_url: str | None = None
    session_id: str | None = None
    session_id_file: Path | None = Field(
        default=None,
        description="File holding the current access token, kept fresh by whatever "
        "obtains it (an OAuth refresh or JWT-bearer job, a mounted secret); wins over "
        "session_id and is read again when Salesforce answers INVALID_SESSION_ID",
    )
    ca_file: str | None = Field(
        default=None, description="CA bundle trusted for the org's TLS certificate"
    )
    api_version: str = "59.0"
    username: str | None = Field(
        default=None,
        description="The integration user: password login, or the JWT bearer flow's subject",
    )
    password: str | None = None
    security_token: str | None = None
    consumer_key: str | None = Field(
        default=None,
        description="The connected app's consumer key: with username and privatekey_file, "
        "signs in with the OAuth 2.0 JWT bearer flow",
    )
    privatekey_file: Path | None = Field(
        default=None,
        description="PEM private key whose certificate is uploaded to the connected app",
    )
    domain: str | None = Field(
        default=None,
        description="Where to sign in: login (production, the default), test (a sandbox "
        "org) or a My Domain host such as acme.my.salesforce.com",
    )
    login_url: str | None = Field(
        default=None,
        description="Reach the sign-in host at this address instead (an egress proxy, or "
        "the local sandbox); the JWT audience still names the sign-in host",
    )
    bulk_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Reads expected to return at least this many rows (a SELECT COUNT() "
        "first) go through Bulk API 2.0 query jobs instead of REST paging; 0: never",
    )
    bulk_page_size: int = Field(
        default=50_000, ge=1, description="Rows per Bulk API 2.0 results page (maxRecords)"
    )
    fields: SalesforceFields = Field(default_factory=SalesforceFields)
    source: Literal["payload_field", "objects"] = Field(
        default="objects",
        description="Where the opportunity's facts are read: `objects` (the quote object, "
        "Contacts, Account and Files, through `mapping`) or `payload_field` (the "
        "submission JSON in fields.om_payload)",
    )
    mapping: ObjectsMapping | str = Field(
        default="standard_quote",
        description="For source=objects: standard_quote, salesforce_cpq, zuora_quotes, or "
        "a whole mapping (activities.salesforce_mapping.ObjectsMapping)",
    )

    @field_validator("mapping")
    @classmethod
    def _known_mapping(cls, value: ObjectsMapping | str) -> ObjectsMapping | str:
        resolve_mapping(value)
        return value

    @property
    def objects_mapping(self) -> ObjectsMapping:
        """The mapping `source=objects` reads through."""
        return resolve_mapping(self.mapping)


class ServiceSettings(BaseModel):
    """An HTTP service reached with httpx (support desk, license service)."""

    url: str | None = None
    token: str | None = None
    email: str | None = Field(default=None, description="Zendesk API user (email/token auth)")
    timeout_seconds: float = 10.0


class AdapterSettings(Policy):
    """The policy plus the connections of the external systems."""

    home: Path = Field(default=Path(".om"), description="State folder for `make run`")
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    support_desk: ServiceSettings = Field(default_factory=ServiceSettings)
    notifications: ServiceSettings = Field(
        default_factory=ServiceSettings,
        description="Slack-compatible incoming webhook for queue and manager channels",
    )
    license_service: ServiceSettings = Field(default_factory=ServiceSettings)
