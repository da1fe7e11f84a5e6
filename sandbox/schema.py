"""The sObjects the Salesforce stand-in knows, and how a contract opportunity
is stored in them.

This mapping is the contract between the sandbox and
`activities.salesforce.SalesforceAdapter` (which reads it back):

Opportunity
    Id=id, Name=name, AccountId=account.id, OwnerId=owner.id, Type=type
    (the contract value, e.g. "new_business"), Amount=amount,
    CurrencyIsoCode=currency, StageName="6-Awaiting Signature",
    Approval_Status__c=null, OM_Record_Locked__c=false, CloseDate=null,
    License_Delivery_Date__c=null, Urgent__c=urgent,
    Deployment__c=deployment ("self_managed" | "saas"),
    OM_Region__c=account.region, and OM_Submission__c: the whole contract
    payload as JSON text, the way a Salesforce Flow would serialize the
    quote, contacts, order form, PO and booking facts when the rep submits.
    Standard fields win over the JSON when the adapter reads.
    Deployment__c and OM_Region__c are denormalized so a review can select
    "self-managed deals of region R" by SOQL: the sandbox answers no
    relationship queries (`Account.OM_Region__c`), and in a real org
    OM_Region__c on the Opportunity is a formula field over the Account's.
Account
    Id=account.id, Name=account.name, BillingCountry=account.country,
    OM_Region__c=account.region.
User
    Id=owner.id, Name=owner.name, Email=owner.email.
FeedItem (a Chatter post)
    Id, ParentId (the opportunity), Body, Type="TextPost", CreatedDate.
Subscription__c (a customer subscription, like Zuora__Subscription__c)
    Id, Name, Account__c (an Account id), Status__c ("Active" | "Cancelled"
    | "Expired"), Current_Term_End_Date__c, CARR__c, Contract_Reset__c.
Renewal opportunities (read and fixed by the renewal reconciliation) are
    Opportunity records with Type="renewal" and the renewal fields
    Subscription__c (the subscription's id or null), ARR_Basis__c,
    Renewal_Start_Date__c and Marked_Duplicate__c (false by default).
    Every Opportunity also carries IsClosed / IsWon, derived from StageName
    on every write ("Closed Won": both true, "Closed Lost": closed only) and
    read-only, as in Salesforce.

Seed file keys for the renewal reconciliation, both optional (`opportunities`
may then be omitted)::

    "subscriptions": [{"id": "a1S...", "name": "SUB-1", "account_id": "001...",
                       "account_name": "Acme" (optional), "status": "Active",
                       "current_term_end_date": "2027-01-01", "carr": 1200.0,
                       "contract_reset": false}]
    "renewals": [{"id": "006...", "name": "SUB-1 renewal", "account_id": "001...",
                  "subscription_id": "a1S..." | null, "stage": "1-Prospecting",
                  "arr_basis": 1200.0 | null, "start_date": "2027-01-01" | null,
                  "created_at": "2026-01-01T00:00:00Z" (optional),
                  "marked_duplicate": false}]

The demo seed holds one of each case: SUB-DEMO-1 is fine; SUB-DEMO-2 has no
renewal (MISSING_RENEWAL); SUB-DEMO-3 has two (DUPLICATE_RENEWAL, the later
one); SUB-DEMO-4's renewal has ARR 9000 vs CARR 9500 (ARR_BASIS_MISMATCH);
SUB-DEMO-5's starts the day after the term ends (START_DATE_MISMATCH);
SUB-DEMO-6 differs but had a contract reset (nothing to fix); SUB-DEMO-7 is
Cancelled (no renewal owed); 006DEMOREN00000008 is linked to nothing
(ORPHAN_RENEWAL). The contract seed's open opportunities of Type "renewal"
carry no subscription link, so they are reported as orphans too.

An account id not stored yet gets a minimal Account record (Name =
account_name or the id), so renewals created through the REST API can
reference it.

Every object also carries CreatedDate and LastModifiedDate, which, like Id,
cannot be written.

Beside the submission JSON, every seeded opportunity is also kept in
objects through the sandbox's quote mapping (`mapped_records`): the
booking facts on the Opportunity and Account, the primary quote (Quote,
SBQQ__Quote__c or zqu__Quote__c) with its Contacts, and Files
(ContentDocumentLink -> ContentVersion) for the order form, PO, PO waiver
and tax-exempt certificate; that is what the `objects` source reads.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import secrets
import string
from datetime import UTC, date, datetime
from typing import Any, Literal

from activities.salesforce_mapping import FileMatch, ObjectsMapping
from domain.models import Opportunity
from sandbox.metadata import custom_fields, custom_objects

FieldType = Literal[
    "id", "string", "textarea", "picklist", "reference", "double", "boolean", "date", "datetime"
]

_AUDIT: dict[str, FieldType] = {"CreatedDate": "datetime", "LastModifiedDate": "datetime"}

_STANDARD: dict[str, dict[str, FieldType]] = {
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "AccountId": "reference",
        "OwnerId": "reference",
        "Type": "picklist",
        "Amount": "double",
        "CurrencyIsoCode": "picklist",
        "StageName": "picklist",
        "CloseDate": "date",
        "IsClosed": "boolean",
        "IsWon": "boolean",
    },
    "Account": {"Id": "id", "Name": "string", "BillingCountry": "string"},
    "User": {"Id": "id", "Name": "string", "Email": "string", "IsActive": "boolean"},
    "FeedItem": {"Id": "id", "ParentId": "reference", "Body": "textarea", "Type": "picklist"},
    "Contact": {
        "Id": "id",
        "Name": "string",
        "Email": "string",
        "AccountId": "reference",
        "MailingStreet": "textarea",
        "MailingCity": "string",
        "MailingPostalCode": "string",
        "MailingCountry": "string",
    },
    "Quote": {
        "Id": "id",
        "Name": "string",
        "QuoteNumber": "string",
        "OpportunityId": "reference",
        "ContactId": "reference",
        "IsSyncing": "boolean",
    },
    "ContentDocumentLink": {
        "Id": "id",
        "LinkedEntityId": "reference",
        "ContentDocumentId": "reference",
        "ShareType": "picklist",
    },
    "ContentVersion": {
        "Id": "id",
        "Title": "string",
        "PathOnClient": "string",
        "ContentDocumentId": "reference",
        "IsLatest": "boolean",
    },
}
"""Standard fields, as every org has them. Custom fields and objects come
from the shipped metadata (`sandbox.metadata`), so they cannot drift."""

PACKAGED: dict[str, dict[str, FieldType]] = {
    "SBQQ__Quote__c": {
        "Id": "id",
        "Name": "string",
        "SBQQ__Opportunity2__c": "reference",
        "SBQQ__Primary__c": "boolean",
        "SBQQ__PrimaryContact__c": "reference",
        "SBQQ__StartDate__c": "date",
        "SBQQ__EndDate__c": "date",
        "SBQQ__SubscriptionTerm__c": "double",
        "SBQQ__PaymentTerms__c": "picklist",
    },
    "zqu__Quote__c": {
        "Id": "id",
        "Name": "string",
        "zqu__Opportunity__c": "reference",
        "zqu__Primary__c": "boolean",
        "zqu__Number__c": "string",
        "zqu__SoldToContact__c": "reference",
        "zqu__BillToContact__c": "reference",
        "zqu__StartDate__c": "date",
        "zqu__SubscriptionTermEndDate__c": "date",
        "zqu__InitialTerm__c": "double",
        "zqu__PaymentTerm__c": "picklist",
    },
}
"""Managed-package objects the ready mappings read (Salesforce CPQ, Zuora
Quotes), with the package's own fields: an org gets them by installing the
package, not from our metadata. Fields we add to them come from
`salesforce/cpq` and `salesforce/zuora` like every other custom field."""

PACKAGED_FIELDS = frozenset((o, f) for o, fields in PACKAGED.items() for f in fields)

_STANDARD_LOOKUPS: dict[tuple[str, str], str] = {
    ("Opportunity", "AccountId"): "Account",
    ("Opportunity", "OwnerId"): "User",
    ("Contact", "AccountId"): "Account",
    ("Quote", "OpportunityId"): "Opportunity",
    ("Quote", "ContactId"): "Contact",
    ("SBQQ__Quote__c", "SBQQ__Opportunity2__c"): "Opportunity",
    ("SBQQ__Quote__c", "SBQQ__PrimaryContact__c"): "Contact",
    ("zqu__Quote__c", "zqu__Opportunity__c"): "Opportunity",
    ("zqu__Quote__c", "zqu__SoldToContact__c"): "Contact",
    ("zqu__Quote__c", "zqu__BillToContact__c"): "Contact",
}

CHILDREN: dict[str, dict[str, tuple[str, str]]] = {
    "Opportunity": {
        "Quotes": ("Quote", "OpportunityId"),
        "SBQQ__Quotes2__r": ("SBQQ__Quote__c", "SBQQ__Opportunity2__c"),
        "zqu__Quotes__r": ("zqu__Quote__c", "zqu__Opportunity__c"),
        "ContentDocumentLinks": ("ContentDocumentLink", "LinkedEntityId"),
    }
}
"""Parent-to-child relationships the sandbox answers as SOQL subqueries:
relationship name -> (child object, the child's lookup to the parent)."""


def _relationship_name(field: str) -> str:
    """The child-to-parent relationship name of a lookup field (`AccountId` ->
    `Account`, `X__c` -> `X__r`), as Salesforce names them."""
    if field.endswith("__c"):
        return field[:-3] + "__r"
    return field[:-2] if field.endswith("Id") else field


def _parents() -> dict[str, dict[str, tuple[str, str]]]:
    """sObject -> relationship name -> (lookup field, parent object)."""
    lookups = dict(_STANDARD_LOOKUPS)
    for custom in custom_fields():
        if custom.reference_to:
            lookups[(custom.sobject, custom.name)] = custom.reference_to
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for (sobject, name), target in lookups.items():
        found.setdefault(sobject, {})[_relationship_name(name)] = (name, target)
    return found


PARENTS = _parents()


def _schema() -> dict[str, dict[str, FieldType]]:
    objects: dict[str, dict[str, FieldType]] = {
        k: dict(v) for k, v in {**_STANDARD, **PACKAGED}.items()
    }
    for custom in custom_objects():
        objects.setdefault(custom, {"Id": "id", "Name": "string"})
    for field in custom_fields():
        objects.setdefault(field.sobject, {"Id": "id", "Name": "string"})
        objects[field.sobject][field.name] = field.describe_type  # type: ignore[assignment]
    return {name: {**fields, **_AUDIT} for name, fields in objects.items()}


SOBJECTS: dict[str, dict[str, FieldType]] = _schema()
CALCULATED: dict[str, frozenset[str]] = {
    name: frozenset(f.name for f in custom_fields() if f.sobject == name and f.calculated)
    for name in SOBJECTS
}
"""Formula fields per object: read-only through the API, as in Salesforce."""

READ_ONLY = frozenset({"Id", "CreatedDate", "LastModifiedDate", "IsClosed", "IsWon"})
REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "Opportunity": ("Name", "StageName"),
    "Account": ("Name",),
    "User": ("Name", "Email"),
    "FeedItem": ("ParentId", "Body"),
    "Subscription__c": ("Name",),
    "Contact": ("Name",),
    "Quote": ("Name", "OpportunityId"),
    "ContentDocumentLink": ("LinkedEntityId", "ContentDocumentId"),
    "ContentVersion": ("Title",),
    "SBQQ__Quote__c": (),
    "zqu__Quote__c": (),
}
ID_PREFIX = {
    "Opportunity": "006",
    "Account": "001",
    "User": "005",
    "FeedItem": "0D5",
    "Subscription__c": "a1S",
    "Contact": "003",
    "Quote": "0Q0",
    "ContentDocumentLink": "06A",
    "ContentVersion": "068",
    "ContentDocument": "069",
    "SBQQ__Quote__c": "a0q",
    "zqu__Quote__c": "a0z",
}

SEEDED_STAGE = "6-Awaiting Signature"
CLOSED_WON = "Closed Won"
CLOSED_LOST = "Closed Lost"
RENEWAL_TYPE = "renewal"

# Defaults for fields added after records may already be stored, so old
# sandbox databases and the contract seed read the same as new ones.
OPPORTUNITY_DEFAULTS: dict[str, Any] = {
    "Subscription__c": None,
    "ARR_Basis__c": None,
    "Renewal_Start_Date__c": None,
    "Marked_Duplicate__c": False,
}


def derive_opportunity_flags(record: dict[str, Any]) -> dict[str, Any]:
    """Set IsClosed / IsWon from StageName, as Salesforce's stage picklist does.

    Stored rather than computed at query time because SOQL conditions are
    evaluated inside SQLite over the stored JSON.
    """
    stage = record.get("StageName")
    record["IsWon"] = stage == CLOSED_WON
    record["IsClosed"] = stage in (CLOSED_WON, CLOSED_LOST)
    return record


_ID_ALPHABET = string.ascii_letters + string.digits


def new_id(sobject: str) -> str:
    """An 18-character Salesforce-looking id with the object's key prefix."""
    return ID_PREFIX[sobject] + "".join(secrets.choice(_ID_ALPHABET) for _ in range(15))


def sf_datetime(moment: datetime) -> str:
    """Salesforce's REST datetime format, e.g. 2026-11-26T20:01:00.000+0000."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}+0000"
    )


def canonical_field(sobject: str, name: str) -> str | None:
    """The field's declared spelling: Salesforce field names are case-insensitive."""
    wanted = name.lower()
    return next((f for f in SOBJECTS[sobject] if f.lower() == wanted), None)


def field_key(text: str) -> str:
    """`Object.Field` in its declared spelling (ValueError naming what is unknown):
    how `om sandbox --without-field` names a field to leave out of describe."""
    sobject_name, _, field_name = text.partition(".")
    sobject = canonical_sobject(sobject_name)
    if sobject is None or not field_name:
        raise ValueError(
            f"{text!r}: expected Object.Field with Object one of {', '.join(SOBJECTS)}"
        )
    field = canonical_field(sobject, field_name)
    if field is None:
        raise ValueError(f"{text!r}: {sobject} has no field {field_name}")
    return f"{sobject}.{field}"


def canonical_sobject(name: str) -> str | None:
    wanted = name.lower()
    return next((s for s in SOBJECTS if s.lower() == wanted), None)


def records_for(opportunity: Opportunity, stamp: str) -> dict[str, dict[str, Any]]:
    """The Account, User and Opportunity records a seeded opportunity becomes,
    in their freshly submitted state (see the module docstring); `stamp` is
    the Salesforce datetime they are created or reset at."""
    audit = {"CreatedDate": stamp, "LastModifiedDate": stamp}
    account, owner = opportunity.account, opportunity.owner
    return {
        "Account": {
            "Id": account.id,
            "Name": account.name,
            "BillingCountry": account.country,
            "OM_Region__c": account.region.value,
            **audit,
        },
        "User": {
            "Id": owner.id,
            "Name": owner.name,
            "Email": owner.email,
            "IsActive": True,
            **audit,
        },
        "Opportunity": {
            "Id": opportunity.id,
            "Name": opportunity.name,
            "AccountId": account.id,
            "OwnerId": owner.id,
            "Type": opportunity.type.value,
            "Amount": opportunity.amount,
            "CurrencyIsoCode": opportunity.currency,
            "StageName": SEEDED_STAGE,
            "Approval_Status__c": None,
            "OM_Record_Locked__c": False,
            "CloseDate": None,
            "License_Delivery_Date__c": None,
            "Urgent__c": opportunity.urgent,
            "OM_Submission__c": json.dumps(opportunity.model_dump(mode="json")),
            "Deployment__c": opportunity.deployment.value,
            "OM_Region__c": account.region.value,
            **OPPORTUNITY_DEFAULTS,
            "IsClosed": False,
            "IsWon": False,
            **audit,
        },
    }


def _seeded_id(sobject: str, *parts: str) -> str:
    """A stable id for a record seeded for an opportunity, so seeding again
    upserts it instead of adding another."""
    digest = hashlib.sha256("/".join((sobject, *parts)).encode()).hexdigest()
    return ID_PREFIX[sobject] + digest[:15]


def _true_field(condition: str) -> str | None:
    """The field of a primary-quote condition `Field = true`, set when seeding."""
    field, _, value = condition.partition("=")
    return field.strip() if value.strip().lower() == "true" else None


def _file_title(match: FileMatch, wanted: str) -> str:
    """A File title `match` recognises, `wanted` when it does."""
    if match.title is None or fnmatch.fnmatch(wanted.lower(), match.title.lower()):
        return wanted
    return match.title.replace("*", "").replace("?", "_") or wanted


def mapped_records(
    opportunity: Opportunity, stamp: str, mapping: ObjectsMapping
) -> list[tuple[str, dict[str, Any]]]:
    """What a seeded opportunity becomes in an org that keeps its facts in
    objects, through `mapping` (the inverse of the adapter's `objects`
    reading): booking facts on the Opportunity and Account, the primary quote
    with its Contacts, and Files (ContentDocumentLink -> ContentVersion) for
    the order form, the PO (with what it shows), a PO waiver and a tax-exempt
    certificate. The Opportunity and Account entries carry only the mapped
    fields, merged into `records_for`'s."""
    audit = {"CreatedDate": stamp, "LastModifiedDate": stamp}
    opp_id = opportunity.id
    o = mapping.opportunity
    opp_fields: dict[str, Any] = {"Id": opp_id, o.sales_route: opportunity.sales_route.value}
    opp_fields[o.deployment] = opportunity.deployment.value
    for attr, value in (
        ("eula_accepted", bool(opportunity.eula_accepted)),
        ("private_offer_accepted", bool(opportunity.private_offer_accepted)),
        ("msa_in_place", opportunity.msa_in_place),
        ("po_required", opportunity.po_required),
        ("tax_removed", opportunity.tax_removed),
        ("partner_signed", opportunity.order_form.partner_signed),
    ):
        field = getattr(o, attr)
        if field:
            opp_fields[field] = value
    a = mapping.account
    account: dict[str, Any] = {"Id": opportunity.account.id, a.country: opportunity.account.country}
    account[a.region] = opportunity.account.region.value
    if a.vat_id:
        account[a.vat_id] = opportunity.vat_id
    out: list[tuple[str, dict[str, Any]]] = [("Opportunity", opp_fields), ("Account", account)]

    q = mapping.quote
    quote = opportunity.quote
    sobject = q.sobject
    _, opp_lookup = CHILDREN["Opportunity"][q.relationship]
    record: dict[str, Any] = {
        "Id": _seeded_id(sobject, opp_id, "quote"),
        "Name": quote.number,
        opp_lookup: opp_id,
        q.number: quote.number,
        q.start_date: quote.start_date.isoformat(),
        **audit,
    }
    primary = _true_field(q.primary)
    if primary:
        record[primary] = True
    if q.end_date:
        record[q.end_date] = quote.end_date.isoformat()
    if q.term_months:
        months = (quote.end_date.year - quote.start_date.year) * 12 + (
            quote.end_date.month - quote.start_date.month
        )
        record[q.term_months] = float(
            months + (1 if quote.end_date.day >= quote.start_date.day else 0)
        )
    if q.payment_terms:
        record[q.payment_terms] = quote.payment_terms
    if q.selling_entity:
        record[q.selling_entity] = quote.selling_entity
    c = mapping.contact
    for role, relationship in mapping.contact_roles().items():
        contact = getattr(quote, role)
        lookup = q.lookup_field(relationship)
        if lookup in record:
            continue  # the invoice owner read through the bill-to lookup
        contact_id = _seeded_id("Contact", opp_id, role)
        address = contact.address
        out.append(
            (
                "Contact",
                {
                    "Id": contact_id,
                    "AccountId": opportunity.account.id,
                    c.name: contact.name or role,
                    c.email: contact.email,
                    c.street: address.street,
                    c.city: address.city,
                    c.postal_code: address.postal_code,
                    c.country: address.country,
                    **audit,
                },
            )
        )
        record[lookup] = contact_id
    out.append((sobject, record))

    files: list[tuple[str, FileMatch, dict[str, Any]]] = []
    f = mapping.files
    if opportunity.order_form.attached:
        signed: dict[str, Any] = {"Title": f"Order Form {quote.number}"}
        form = opportunity.order_form
        for attr in ("signer_name", "signer_title", "signer_company", "signed_date"):
            field = getattr(mapping.order_form, attr)
            value = getattr(form, attr)
            if field:
                signed[field] = value.isoformat() if isinstance(value, date) else value
        files.append(("order_form", f.order_form, signed))
    if opportunity.po is not None:
        po = opportunity.po
        shown: dict[str, Any] = {"Title": f"PO-{po.number or quote.number}"}
        for attr in (
            "number",
            "amount",
            "currency",
            "quote_number",
            "payment_terms",
            "selling_entity",
        ):
            field = getattr(mapping.po, attr)
            if field:
                shown[field] = getattr(po, attr)
        files.append(("po", f.po, shown))
    if opportunity.po_waiver_attached:
        files.append(("po_waiver", f.po_waiver, {"Title": "PO Waiver"}))
    if opportunity.tax_exempt_certificate_attached:
        files.append(("tax_exempt", f.tax_exempt_certificate, {"Title": "Tax Exempt Certificate"}))
    for kind, match, values in files:
        document_id = _seeded_id("ContentDocument", opp_id, kind)
        values["Title"] = _file_title(match, values["Title"])
        if match.field and match.value is not None:
            values[match.field] = match.value
        out.append(
            (
                "ContentVersion",
                {
                    "Id": _seeded_id("ContentVersion", opp_id, kind),
                    "ContentDocumentId": document_id,
                    "IsLatest": True,
                    "PathOnClient": values["Title"] + ".pdf",
                    **values,
                    **audit,
                },
            )
        )
        out.append(
            (
                "ContentDocumentLink",
                {
                    "Id": _seeded_id("ContentDocumentLink", opp_id, kind),
                    "LinkedEntityId": opp_id,
                    "ContentDocumentId": document_id,
                    "ShareType": "V",
                    **audit,
                },
            )
        )
    return out
