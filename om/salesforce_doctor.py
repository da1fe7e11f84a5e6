"""`om salesforce doctor`: does the connected org have what the project reads and writes?

It signs in with the configured settings, describes each object the
adapters touch, and checks every required field: present with a fitting
type, missing (naming the shipped metadata file that adds it, for our own
custom fields), or of another type. Fields the project writes must also be
updateable by the integration user (the permission set grants that).

`REQUIREMENTS` is the list of what the adapters use. Its custom fields are
checked against the shipped metadata (`salesforce/`) by a test, and the
sandbox derives its schema from that metadata, so the three cannot drift.
It covers today's reads and writes (the `payload_field` submission JSON,
the approval writes, the license review, the renewal reconciliation and
Chatter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from activities.config import SalesforceSettings
from activities.errors import RequestRejected
from activities.salesforce import SalesforceAdapter

METADATA_ROOT = "salesforce/main/default"
PERMISSION_SET = "OM_Integration"
PERMISSION_SET_FILE = f"{METADATA_ROOT}/permissionsets/{PERMISSION_SET}.permissionset-meta.xml"
DEPLOY_HINT = "sf project deploy start -d salesforce"

Status = Literal["present", "missing", "wrong_type", "no_access"]


@dataclass(frozen=True)
class Requirement:
    sobject: str
    field: str
    types: tuple[str, ...]
    """Describe types that fit (an org may keep an amount as currency or double)."""
    edit: bool = False
    """The project writes the field, so the integration user must be able to."""

    @property
    def custom(self) -> bool:
        return self.field.endswith("__c")

    @property
    def metadata_file(self) -> str | None:
        """The shipped file that adds a custom field (None for standard fields)."""
        if not self.custom:
            return None
        return f"{METADATA_ROOT}/objects/{self.sobject}/fields/{self.field}.field-meta.xml"


def _r(sobject: str, field: str, *types: str, edit: bool = False) -> Requirement:
    return Requirement(sobject, field, types, edit)


REQUIREMENTS: tuple[Requirement, ...] = (
    # The opportunity under approval: read, then written as it moves.
    _r("Opportunity", "Name", "string", edit=True),
    _r("Opportunity", "AccountId", "reference"),
    _r("Opportunity", "OwnerId", "reference"),
    _r("Opportunity", "Type", "picklist", "string", edit=True),
    _r("Opportunity", "Amount", "currency", "double"),
    _r("Opportunity", "CurrencyIsoCode", "picklist"),
    _r("Opportunity", "StageName", "picklist", edit=True),
    _r("Opportunity", "CloseDate", "date", edit=True),
    _r("Opportunity", "IsClosed", "boolean"),
    _r("Opportunity", "IsWon", "boolean"),
    _r("Opportunity", "Approval_Status__c", "picklist", "string", edit=True),
    _r("Opportunity", "OM_Record_Locked__c", "boolean", edit=True),
    _r("Opportunity", "License_Delivery_Date__c", "date", edit=True),
    _r("Opportunity", "Urgent__c", "boolean"),
    _r("Opportunity", "OM_Submission__c", "textarea"),
    _r("Opportunity", "Deployment__c", "picklist", "string"),
    _r("Opportunity", "OM_Region__c", "string", "picklist"),
    # The renewal reconciliation reads and fixes renewal opportunities.
    _r("Opportunity", "Subscription__c", "reference", edit=True),
    _r("Opportunity", "ARR_Basis__c", "double", "currency", edit=True),
    _r("Opportunity", "Renewal_Start_Date__c", "date", edit=True),
    _r("Opportunity", "Marked_Duplicate__c", "boolean", edit=True),
    _r("Account", "Name", "string"),
    _r("Account", "BillingCountry", "string"),
    _r("Account", "OM_Region__c", "picklist", "string"),
    _r("User", "Name", "string"),
    _r("User", "Email", "email", "string"),
    _r("FeedItem", "ParentId", "reference", edit=True),
    _r("FeedItem", "Body", "textarea", edit=True),
    _r("Subscription__c", "Name", "string"),
    _r("Subscription__c", "Account__c", "reference"),
    _r("Subscription__c", "Status__c", "picklist", "string"),
    _r("Subscription__c", "Current_Term_End_Date__c", "date"),
    _r("Subscription__c", "CARR__c", "double", "currency"),
    _r("Subscription__c", "Contract_Reset__c", "boolean"),
)

OBJECT_ACCESS: dict[str, tuple[str, ...]] = {
    "Opportunity": ("queryable", "updateable", "createable"),
    "Account": ("queryable",),
    "User": ("queryable",),
    "FeedItem": ("queryable", "createable"),
    "Subscription__c": ("queryable",),
}
"""Object permissions the integration user needs (describe's own flags)."""


class Check(BaseModel):
    """One line of the doctor's report."""

    item: str
    """`Object.Field`, or `Object` for an object permission."""
    status: Status
    detail: str


class DoctorReport(BaseModel):
    ok: bool
    checks: list[Check]


def _missing_detail(req: Requirement) -> str:
    if req.metadata_file:
        return f"missing: added by {req.metadata_file} ({DEPLOY_HINT})"
    return "missing: a standard field the integration user cannot see (check field access)"


def check_describe(sobject: str, describe: dict[str, Any] | None) -> list[Check]:
    """The checks of one object from its describe answer (None: no such object)."""
    wanted = [r for r in REQUIREMENTS if r.sobject == sobject]
    if describe is None:
        where = (
            f"added by {METADATA_ROOT}/objects/{sobject} ({DEPLOY_HINT})"
            if sobject.endswith("__c")
            else "not visible to the integration user"
        )
        checks = [Check(item=sobject, status="missing", detail=f"object missing: {where}")]
        return checks + [
            Check(item=f"{sobject}.{r.field}", status="missing", detail=_missing_detail(r))
            for r in wanted
        ]
    checks = []
    for flag in OBJECT_ACCESS.get(sobject, ()):
        if describe.get(flag, False):
            checks.append(Check(item=sobject, status="present", detail=flag))
        else:
            checks.append(
                Check(
                    item=sobject,
                    status="no_access",
                    detail=f"not {flag} for the integration user: assign the "
                    f"{PERMISSION_SET} permission set ({PERMISSION_SET_FILE})",
                )
            )
    fields = {str(f.get("name", "")).lower(): f for f in describe.get("fields", [])}
    for req in wanted:
        item = f"{sobject}.{req.field}"
        found = fields.get(req.field.lower())
        if found is None:
            checks.append(Check(item=item, status="missing", detail=_missing_detail(req)))
            continue
        kind = str(found.get("type", ""))
        if kind not in req.types:
            expected = " or ".join(req.types)
            where = f" (as {req.metadata_file} defines it)" if req.metadata_file else ""
            checks.append(
                Check(
                    item=item,
                    status="wrong_type",
                    detail=f"wrong type: {kind}, expected {expected}{where}",
                )
            )
        elif req.edit and not found.get("updateable", False):
            checks.append(
                Check(
                    item=item,
                    status="no_access",
                    detail=f"{kind}, but not editable by the integration user: assign the "
                    f"{PERMISSION_SET} permission set ({PERMISSION_SET_FILE})",
                )
            )
        else:
            checks.append(
                Check(item=item, status="present", detail=kind + (", editable" if req.edit else ""))
            )
    return checks


def objects() -> list[str]:
    """The objects described, in the order of `REQUIREMENTS`."""
    return list(dict.fromkeys(r.sobject for r in REQUIREMENTS))


def run_doctor(
    settings: SalesforceSettings, adapter: SalesforceAdapter | None = None
) -> DoctorReport:
    """Describe every object and check it. Connection and sign-in failures
    raise the adapter's errors (the CLI prints them as one line)."""
    adapter = adapter or SalesforceAdapter(settings)
    checks: list[Check] = []
    for sobject in objects():
        try:
            describe: dict[str, Any] | None = adapter.describe(sobject)
        except RequestRejected as exc:
            if exc.status != 404:
                raise
            describe = None
        checks.extend(check_describe(sobject, describe))
    return DoctorReport(ok=all(c.status == "present" for c in checks), checks=checks)
