"""`om salesforce doctor`: does the connected org have what the project reads and writes?

It signs in with the configured settings, describes each object the
adapters touch, and checks every required field: present with a fitting
type, missing (naming the shipped metadata file that adds it, for our own
custom fields), or of another type. Fields the project writes must also be
updateable by the integration user (the permission set grants that).

`REQUIREMENTS` is the list of what the adapters use. Its custom fields are
checked against the shipped metadata (`salesforce/`) by a test, and the
sandbox derives its schema from that metadata, so the three cannot drift.
It covers the reads and writes of every source (the `payload_field`
submission JSON, the approval writes, the license review, the renewal
reconciliation and Chatter); with `source=objects` the doctor also checks
what the configured mapping reads (`mapping_requirements`): the mapped
quote object, Contact, Account, the Opportunity's booking flags and
ContentVersion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from activities.config import SalesforceSettings
from activities.errors import RequestRejected
from activities.salesforce import SalesforceAdapter
from activities.salesforce_mapping import READY, ObjectsMapping

METADATA_ROOT = "salesforce/main/default"
PERMISSION_SET = "OM_Integration"
PERMISSION_SET_FILE = f"{METADATA_ROOT}/permissionsets/{PERMISSION_SET}.permissionset-meta.xml"
DEPLOY_HINT = "sf project deploy start -d salesforce/main"


def _deploy_hint(root: str) -> str:
    """The deploy command for the package directory `root` (main, cpq, zuora)."""
    return f"sf project deploy start -d {root.removesuffix('/default')}"


Status = Literal["present", "missing", "wrong_type", "no_access"]


@dataclass(frozen=True)
class Requirement:
    sobject: str
    field: str
    types: tuple[str, ...]
    """Describe types that fit (an org may keep an amount as currency or double)."""
    edit: bool = False
    """The project writes the field, so the integration user must be able to."""
    root: str = METADATA_ROOT
    """The package directory whose metadata adds the field (a quoting package's
    extension for fields added to its objects)."""

    @property
    def packaged(self) -> bool:
        """A managed package's field (`SBQQ__StartDate__c`): the package adds it."""
        return self.field.endswith("__c") and self.field.count("__") >= 2

    @property
    def custom(self) -> bool:
        """One of our custom fields, added by the shipped metadata."""
        return self.field.endswith("__c") and not self.packaged

    @property
    def metadata_file(self) -> str | None:
        """The shipped file that adds a custom field (None for standard fields)."""
        if not self.custom:
            return None
        return f"{self.root}/objects/{self.sobject}/fields/{self.field}.field-meta.xml"


def _r(sobject: str, field: str, *types: str, edit: bool = False) -> Requirement:
    return Requirement(sobject, field, types, edit)


_EXTENSION_ROOTS = {
    "SBQQ__Quote__c": "salesforce/cpq/default",
    "zqu__Quote__c": "salesforce/zuora/default",
}


def _mapped(sobject: str, field: str | None, *types: str) -> list[Requirement]:
    if not field:
        return []
    root = _EXTENSION_ROOTS.get(sobject, METADATA_ROOT)
    return [Requirement(sobject, field, types, root=root)]


def mapping_requirements(mapping: ObjectsMapping) -> tuple[Requirement, ...]:
    """What the `objects` source reads through `mapping`: the quote object's
    fields and Contact lookups, the Contact address, the Account's facts, the
    Opportunity's booking flags and the Files' fields."""
    q, c, a, o, po = (
        mapping.quote,
        mapping.contact,
        mapping.account,
        mapping.opportunity,
        mapping.po,
    )
    text = ("string", "picklist", "textarea")
    found: list[Requirement] = []
    for field, types in (
        (q.number, text),
        (q.start_date, ("date",)),
        (q.end_date, ("date",)),
        (q.term_months, ("double", "int")),
        (q.payment_terms, text),
        (q.selling_entity, text),
        (q.primary.partition("=")[0].strip(), ("boolean",)),
        *(
            (q.lookup_field(rel), ("reference",))
            for rel in dict.fromkeys(mapping.contact_roles().values())
        ),
    ):
        found += _mapped(q.sobject, field, *types)
    for field in (c.name, c.email, c.street, c.city, c.postal_code, c.country):
        found += _mapped("Contact", field, *text, "email")
    found += _mapped("Account", a.country, *text)
    found += _mapped("Account", a.region, *text)
    found += _mapped("Account", a.vat_id, *text)
    found += _mapped("Opportunity", o.sales_route, *text)
    found += _mapped("Opportunity", o.deployment, *text)
    for flag in (
        o.eula_accepted, o.private_offer_accepted, o.msa_in_place, o.po_required,
        o.tax_removed, o.partner_signed,
    ):  # fmt: skip
        found += _mapped("Opportunity", flag, "boolean")
    found += _mapped("ContentDocumentLink", "LinkedEntityId", "reference")
    found += _mapped("ContentDocumentLink", "ContentDocumentId", "reference")
    found += _mapped("ContentVersion", "Title", "string")
    found += _mapped("ContentVersion", "ContentDocumentId", "reference")
    for field in (po.number, po.currency, po.quote_number, po.payment_terms, po.selling_entity):
        found += _mapped("ContentVersion", field, *text)
    found += _mapped("ContentVersion", po.amount, "double", "currency")
    form = mapping.order_form
    for field in (form.signer_name, form.signer_title, form.signer_company):
        found += _mapped("ContentVersion", field, *text)
    found += _mapped("ContentVersion", form.signed_date, "date")
    for match in (
        mapping.files.order_form, mapping.files.po, mapping.files.po_waiver,
        mapping.files.tax_exempt_certificate,
    ):  # fmt: skip
        found += _mapped("ContentVersion", match.field, *text)
    return tuple(found)


def requirements_for(settings: SalesforceSettings) -> tuple[Requirement, ...]:
    """What the configured source needs: the common list, plus what the
    mapping reads when the source is `objects` (without repeating a field)."""
    if settings.source != "objects":
        return REQUIREMENTS
    seen = {(r.sobject, r.field.lower()) for r in REQUIREMENTS}
    extra = []
    for req in mapping_requirements(settings.objects_mapping):
        if (req.sobject, req.field.lower()) not in seen:
            seen.add((req.sobject, req.field.lower()))
            extra.append(req)
    return REQUIREMENTS + tuple(extra)


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


def _every_mapping() -> tuple[Requirement, ...]:
    seen: dict[tuple[str, str], Requirement] = {}
    for mapping in READY.values():
        for req in mapping_requirements(mapping):
            seen.setdefault((req.sobject, req.field), req)
    return tuple(seen.values())


MAPPED_REQUIREMENTS = _every_mapping()
"""What the ready mappings read (the shipped metadata adds their custom fields)."""

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
    if req.packaged:
        return f"missing: a field of the {req.field.split('__')[0]} managed package (install it)"
    if req.metadata_file:
        return f"missing: added by {req.metadata_file} ({_deploy_hint(req.root)})"
    return "missing: a standard field the integration user cannot see (check field access)"


def check_describe(
    sobject: str,
    describe: dict[str, Any] | None,
    requirements: tuple[Requirement, ...] = REQUIREMENTS,
) -> list[Check]:
    """The checks of one object from its describe answer (None: no such object)."""
    wanted = [r for r in requirements if r.sobject == sobject]
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


def objects(requirements: tuple[Requirement, ...] = REQUIREMENTS) -> list[str]:
    """The objects described, in the order of `requirements`."""
    return list(dict.fromkeys(r.sobject for r in requirements))


def run_doctor(
    settings: SalesforceSettings, adapter: SalesforceAdapter | None = None
) -> DoctorReport:
    """Describe every object and check it. Connection and sign-in failures
    raise the adapter's errors (the CLI prints them as one line)."""
    adapter = adapter or SalesforceAdapter(settings)
    requirements = requirements_for(settings)
    checks: list[Check] = []
    for sobject in objects(requirements):
        try:
            describe: dict[str, Any] | None = adapter.describe(sobject)
        except RequestRejected as exc:
            if exc.status != 404:
                raise
            describe = None
        checks.extend(check_describe(sobject, describe, requirements))
    return DoctorReport(ok=all(c.status == "present" for c in checks), checks=checks)
