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

FieldType = Literal[
    "id", "string", "textarea", "picklist", "reference", "double", "boolean", "date", "datetime"
]

_AUDIT: dict[str, FieldType] = {"CreatedDate": "datetime", "LastModifiedDate": "datetime"}

SOBJECTS: dict[str, dict[str, FieldType]] = {
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "AccountId": "reference",
        "OwnerId": "reference",
        "Type": "picklist",
        "Amount": "double",
        "CurrencyIsoCode": "picklist",
        "StageName": "picklist",
        "Approval_Status__c": "picklist",
        "OM_Record_Locked__c": "boolean",
        "CloseDate": "date",
        "License_Delivery_Date__c": "date",
        "Urgent__c": "boolean",
        "OM_Submission__c": "textarea",
        "Deployment__c": "picklist",
        "OM_Region__c": "picklist",
        **_AUDIT,
    },
    "Account": {
        "Id": "id",
        "Name": "string",
        "BillingCountry": "string",
        "OM_Region__c": "picklist",
        **_AUDIT,
    },
    "User": {"Id": "id", "Name": "string", "Email": "string", "IsActive": "boolean", **_AUDIT},
    "FeedItem": {
        "Id": "id",
        "ParentId": "reference",
        "Body": "textarea",
        "Type": "picklist",
        **_AUDIT,
    },
}

READ_ONLY = frozenset({"Id", "CreatedDate", "LastModifiedDate"})
REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "Opportunity": ("Name", "StageName"),
    "Account": ("Name",),
    "User": ("Name", "Email"),
    "FeedItem": ("ParentId", "Body"),
}
ID_PREFIX = {"Opportunity": "006", "Account": "001", "User": "005", "FeedItem": "0D5"}

SEEDED_STAGE = "6-Awaiting Signature"
CLOSED_WON = "Closed Won"

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
            **audit,
        },
    }
