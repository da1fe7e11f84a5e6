"""The objects mapping without an org: choosing one, the two queries it
builds, and turning their answers into the contract shape."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from activities.config import SalesforceSettings
from activities.errors import InvalidOpportunityData
from activities.salesforce import _term_end, objects_to_contract, opportunity_soql, versions_soql
from activities.salesforce_mapping import READY, FileMatch, ObjectsMapping, QuoteObject


def test_an_unknown_mapping_is_one_line_naming_the_choices():
    with pytest.raises(ValidationError) as refused:
        SalesforceSettings(mapping="netsuite")
    message = str(refused.value)
    assert "salesforce.mapping: 'netsuite' is not a ready mapping" in message
    assert "standard_quote, salesforce_cpq, zuora_quotes" in message


def test_a_whole_mapping_may_be_given_in_the_settings():
    custom = READY["standard_quote"].model_dump()
    custom["quote"]["selling_entity"] = "Legal_Entity__c"
    settings = SalesforceSettings.model_validate({"source": "objects", "mapping": custom})
    assert settings.objects_mapping.quote.selling_entity == "Legal_Entity__c"


@pytest.mark.parametrize("name", list(READY))
def test_one_query_reaches_the_quote_its_contacts_and_the_file_links(name: str):
    mapping = READY[name]
    soql = opportunity_soql(mapping, "006A")
    q = mapping.quote
    assert soql.count("SELECT") == 3  # the opportunity and two subqueries
    assert f"FROM {q.relationship} WHERE {q.primary} LIMIT 1" in soql
    assert "FROM ContentDocumentLinks" in soql
    assert "Account.OM_VAT_Id__c" in soql and "Owner.Email" in soql
    for relationship in mapping.contact_roles().values():
        assert f"{relationship}.MailingPostalCode" in soql
    versions = versions_soql(mapping, ["069A", "069B"])
    assert "ContentDocumentId IN ('069A', '069B')" in versions
    assert "OM_PO_Amount__c" in versions and "OM_Signer_Name__c" in versions


def test_the_end_is_the_start_plus_the_term_less_a_day():
    assert _term_end(date(2026, 12, 1), 12) == date(2027, 11, 30)
    assert _term_end(date(2027, 1, 31), 1) == date(2027, 2, 27)  # Feb 28 less a day


def _answer(mapping: ObjectsMapping, **quote: Any) -> dict[str, Any]:
    q = mapping.quote
    return {
        "Id": "006A",
        "Name": "Deal",
        "Amount": 10.0,
        "CurrencyIsoCode": "USD",
        "Type": "New Business",
        "OM_Sales_Route__c": "direct",
        "Deployment__c": "saas",
        "Account": {"Id": "001A", "Name": "Acme", "BillingCountry": "US", "OM_Region__c": "AMER"},
        "Owner": {"Id": "005A", "Name": "Rep", "Email": "rep@example.com"},
        q.relationship: {"records": [{q.number: "Q-1", q.start_date: "2027-01-01", **quote}]},
    }


def test_files_are_recognised_by_a_field_and_the_end_from_the_term():
    base = READY["standard_quote"]
    mapping = base.model_copy(
        update={
            "quote": base.quote.model_copy(update={"end_date": None}),
            "files": base.files.model_copy(
                update={"order_form": FileMatch(field="Doc_Type__c", value="Order Form")}
            ),
        }
    )
    versions = [
        {"ContentDocumentId": "069A", "Title": "scan.pdf", "Doc_Type__c": "Order Form"},
        {"ContentDocumentId": "069B", "Title": "PO Waiver"},
    ]
    data = objects_to_contract("006A", mapping, _answer(mapping, OM_Term_Months__c=12.0), versions)
    assert data["order_form"]["attached"] is True
    assert data["po_waiver_attached"] is True and "po" not in data
    assert data["quote"]["end_date"] == "2027-12-31"
    assert data["type"] == "new_business"


def test_no_primary_quote_names_the_relationship():
    mapping = READY["salesforce_cpq"]
    answer = _answer(mapping)
    answer[mapping.quote.relationship] = None
    with pytest.raises(InvalidOpportunityData) as refused:
        objects_to_contract("006A", mapping, answer, [])
    assert "SBQQ__Quotes2__r" in str(refused.value)
    assert "no primary SBQQ__Quote__c (SBQQ__Primary__c = true)" in str(refused.value)


def test_a_mapping_needs_its_quote_object():
    with pytest.raises(ValidationError):
        ObjectsMapping.model_validate({"name": "x"})
    assert QuoteObject(
        sobject="Q__c",
        relationship="Qs__r",
        primary="P__c = true",
        number="Name",
        start_date="S__c",
        sold_to="Sold__r",
        bill_to="Bill__r",
    ).lookup_field("Bill__r") == ("Bill__c")
