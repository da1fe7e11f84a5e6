"""The sandbox's SOQL subset: what it parses, what it refuses, and how the
store evaluates it (null semantics, IN, LIKE, ORDER BY, LIMIT)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.schema import new_id, sf_datetime
from sandbox.seed import SeedError, load_demo_seed, parse_seed
from sandbox.soql import Condition, SoqlError, parse
from sandbox.store import Store


def test_parse_select_where_order_limit():
    query = parse(
        "select id, stagename FROM opportunity WHERE Amount >= 1000 AND "
        "Urgent__c = TRUE AND CloseDate < 2027-01-01 AND Name LIKE '%Acme\\_%' AND "
        "StageName IN ('a', 'b\\'c') AND Approval_Status__c != null "
        "ORDER BY Amount DESC LIMIT 5"
    )
    assert (query.sobject, query.fields) == ("Opportunity", ("Id", "StageName"))
    assert query.where == (
        Condition("Amount", ">=", 1000.0),
        Condition("Urgent__c", "=", True),
        Condition("CloseDate", "<", "2027-01-01"),
        Condition("Name", "LIKE", "%Acme\\_%"),
        Condition("StageName", "IN", ("a", "b'c")),
        Condition("Approval_Status__c", "!=", None),
    )
    assert (query.order_by, query.descending, query.limit) == ("Amount", True, 5)


def test_count_asks_for_the_number_of_matches_only():
    query = parse("SELECT COUNT() FROM Subscription__c WHERE Status__c = 'Active'")
    assert query.count and query.fields == () and query.sobject == "Subscription__c"
    assert not parse("SELECT Id FROM Subscription__c").count


def test_datetime_literals_are_put_in_the_stored_format():
    [cond] = parse("SELECT Id FROM FeedItem WHERE CreatedDate > 2026-11-26T21:00:00+01:00").where
    assert cond.value == "2026-11-26T20:00:00.000+0000"


@pytest.mark.parametrize(
    ("soql", "code", "needle"),
    [
        ("SELECT Id FROM Opportunity WHERE Name = 'a' OR Name = 'b'", "MALFORMED_QUERY", "OR"),
        ("SELECT Id FROM Opportunity WHERE Account.Name = 'a'", "MALFORMED_QUERY", "relationship"),
        ("SELECT Foo.Name FROM Opportunity", "INVALID_FIELD", "relationship 'Foo'"),
        ("SELECT Account.Nope FROM Opportunity", "INVALID_FIELD", "'Nope' on entity 'Account'"),
        ("SELECT Id, (SELECT Id FROM Nope) FROM Opportunity", "INVALID_TYPE", "'Nope'"),
        (
            "SELECT Id, (SELECT Id, (SELECT Id FROM Quotes) FROM Quotes) FROM Opportunity",
            "MALFORMED_QUERY",
            "nested",
        ),
        ("SELECT MAX(Amount) FROM Opportunity", "MALFORMED_QUERY", "MAX()"),
        ("SELECT COUNT(Id) FROM Opportunity", "MALFORMED_QUERY", "COUNT()"),
        ("SELECT Id FROM Opportunity LIMIT 5 OFFSET 5", "MALFORMED_QUERY", "OFFSET"),
        ("SELECT Id FROM Opportunity WHERE (Name = 'a')", "MALFORMED_QUERY", "parenthesised"),
        ("SELECT Id FROM Opportunity WHERE Amount = '5'", "INVALID_FIELD", "double"),
        ("SELECT Id FROM Opportunity WHERE Urgent__c = 'yes'", "INVALID_FIELD", "boolean"),
        ("SELECT Id FROM Opportunity WHERE Name = 5", "INVALID_FIELD", "quotes"),
        ("SELECT Nope__c FROM Opportunity", "INVALID_FIELD", "Nope__c"),
        ("SELECT Id FROM Lead", "INVALID_TYPE", "Lead"),
        ("SELECT Id FROM Opportunity WHERE Amount > null", "MALFORMED_QUERY", "null"),
        ("SELECT Id Opportunity", "MALFORMED_QUERY", "FROM"),
        ("SELECT Id FROM Opportunity WHERE Name = 'unterminated", "MALFORMED_QUERY", "'"),
    ],
)
def test_unsupported_or_invalid_soql_is_refused_by_name(soql, code, needle):
    with pytest.raises(SoqlError) as refused:
        parse(soql)
    assert refused.value.error_code == code
    assert needle in refused.value.message


@pytest.fixture
def store(tmp_path: Path):
    opened = Store(tmp_path / "sandbox.db")
    yield opened
    opened.close()


def ids(store: Store, soql: str) -> list[str]:
    return [record_id for record_id, _ in store.query(parse(soql))]


def test_null_semantics_in_and_like(store: Store):
    opportunities, delivered = parse_seed(load_demo_seed(), store.known_opportunities)
    store.seed(opportunities, delivered)
    store.update("Opportunity", "0065e00000DEMO01", {"Approval_Status__c": "Approved"})
    everyone = ids(store, "SELECT Id FROM Opportunity")
    # SOQL's != (and NOT IN) keep records where the field is null.
    assert (
        len(ids(store, "SELECT Id FROM Opportunity WHERE Approval_Status__c != 'Approved'"))
        == len(everyone) - 1
    )
    assert ids(store, "SELECT Id FROM Opportunity WHERE Approval_Status__c != null") == [
        "0065e00000DEMO01"
    ]
    assert ids(store, "SELECT Id FROM Opportunity WHERE Approval_Status__c IN ('Approved')") == [
        "0065e00000DEMO01"
    ]
    assert (
        len(
            ids(
                store,
                "SELECT Id FROM Opportunity WHERE Approval_Status__c NOT IN ('Approved', null)",
            )
        )
        == 0
    )
    assert ids(store, "SELECT Id FROM Opportunity WHERE Name LIKE 'acme%'") == ["0065e00000DEMO01"]
    top = store.query(parse("SELECT Name, Amount FROM Opportunity ORDER BY Amount DESC LIMIT 1"))
    assert top == [
        ("0065e00000DEMO04", {"Name": "Umbrella Health - Ultimate - 400 seats", "Amount": 310000.0})
    ]


def test_feed_items_are_found_by_parent(store: Store):
    stamp = sf_datetime(store.clock())
    for parent, body in [("006A", "one"), ("006B", "two"), ("006A", "three")]:
        store.insert(
            "FeedItem",
            {
                "Id": new_id("FeedItem"),
                "ParentId": parent,
                "Body": body,
                "Type": "TextPost",
                "CreatedDate": stamp,
            },
        )
    rows = store.query(parse("SELECT Body FROM FeedItem WHERE ParentId = '006A'"))
    assert [row["Body"] for _, row in rows] == ["one", "three"]


def test_seed_problems_name_index_and_field(store: Store):
    good = load_demo_seed()["opportunities"][0]
    with pytest.raises(SeedError) as refused:
        parse_seed(
            {
                "opportunities": [good, {**good, "amount": -5}, good],
                "delivered_licenses": ["006UNKNOWN"],
            },
            store.known_opportunities,
        )
    assert [str(p) for p in refused.value.problems] == [
        "opportunities[1].amount: Input should be greater than or equal to 0",
        "opportunities[2].id: duplicate id 0065e00000DEMO01 (also at index 0)",
        "delivered_licenses[0]: unknown opportunity id 006UNKNOWN",
    ]
