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
"""

from __future__ import annotations

import json
import secrets
import string
from datetime import UTC, datetime
from typing import Any, Literal

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
}
"""Standard fields, as every org has them. Custom fields and objects come
from the shipped metadata (`sandbox.metadata`), so they cannot drift."""


def _schema() -> dict[str, dict[str, FieldType]]:
    objects: dict[str, dict[str, FieldType]] = {k: dict(v) for k, v in _STANDARD.items()}
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
}
ID_PREFIX = {
    "Opportunity": "006",
    "Account": "001",
    "User": "005",
    "FeedItem": "0D5",
    "Subscription__c": "a1S",
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
