"""The `objects` source: the opportunity's facts read from the org's own
objects (the quote object of each ready mapping, Contacts, Account, Files)
through the sandbox over HTTPS, signed in by JWT. Each mapping's sandbox is
seeded through that mapping, so reading the objects back must give what the
submission JSON of the same seed says, in at most two API calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from activities.config import SalesforceSettings
from activities.errors import InvalidOpportunityData
from activities.salesforce import SalesforceAdapter
from activities.salesforce_mapping import READY
from domain.models import Opportunity
from sandbox.schema import CHILDREN
from sandbox.seed import load_demo_seed
from sandbox.server import Sandbox, SandboxInfo
from sandbox.soql import parse

MAPPINGS = list(READY)
PO_FACTS = ("number", "amount", "currency", "quote_number", "payment_terms", "selling_entity")
"""What the PO File's version carries (a seed's other PO keys are not facts the rules read)."""


@pytest.fixture(scope="module", params=MAPPINGS)
def org(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """A sandbox playing an org that quotes with `request.param`."""
    sandbox = Sandbox(tmp_path_factory.mktemp(f"org-{request.param}"), quote_mapping=request.param)
    sandbox.start()
    try:
        sandbox.seed_demo()
        yield sandbox
    finally:
        sandbox.stop()


def jwt_settings(info: SandboxInfo, **changes: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "username": info.jwt_username,
        "consumer_key": info.jwt_consumer_key,
        "privatekey_file": info.jwt_privatekey_file,
        "domain": "login",
        "login_url": info.salesforce_instance_url,
        "ca_file": info.ca_file,
    }
    values.update(changes)
    return SalesforceSettings(**values)


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """What both sources carry: the objects hold no signer details (the rules
    read none) and a Checkbox has no null."""
    data = {k: v for k, v in data.items() if k in Opportunity.model_fields}
    data["order_form"] = {k: data["order_form"][k] for k in ("attached", "partner_signed")}
    for flag in ("eula_accepted", "private_offer_accepted"):
        data[flag] = bool(data[flag])
    data.pop("submitted_at", None)
    if data.get("po"):
        data["po"] = {k: data["po"].get(k) for k in PO_FACTS}
    return data


def test_every_demo_opportunity_reads_the_same_from_the_objects(org: Sandbox):
    assert org.info is not None
    mapping = org.quote_mapping.name
    objects = SalesforceAdapter(jwt_settings(org.info, source="objects", mapping=mapping))
    payload = SalesforceAdapter(jwt_settings(org.info, source="payload_field"))
    ids = [o["id"] for o in load_demo_seed()["opportunities"]]
    assert len(ids) > 20
    for opportunity_id in ids:
        read = objects.read_opportunity(opportunity_id).model_dump(mode="json")
        expected = payload.read_opportunity(opportunity_id).model_dump(mode="json")
        assert comparable(read) == comparable(expected), (mapping, opportunity_id)


def test_one_opportunity_costs_at_most_two_api_calls(org: Sandbox):
    assert org.info is not None
    adapter = SalesforceAdapter(
        jwt_settings(org.info, source="objects", mapping=org.quote_mapping.name)
    )
    demo = [o for o in load_demo_seed()["opportunities"]]
    with_files = next(o["id"] for o in demo if o["order_form"]["attached"])
    without_files = next(
        o["id"]
        for o in demo
        if not o["order_form"]["attached"]
        and o["po"] is None
        and not o["po_waiver_attached"]
        and not o["tax_exempt_certificate_attached"]
    )
    adapter.read_opportunity(with_files)  # signs in first
    for opportunity_id, calls in ((with_files, 2), (without_files, 1)):
        org.state.api_calls.clear()
        adapter.read_opportunity(opportunity_id)
        made = list(org.state.api_calls)
        assert len(made) == calls, made
        assert all(c.startswith("GET /services/data/") and "/query" in c for c in made)
        assert "ContentDocumentLinks" in made[0]


def test_an_opportunity_without_a_primary_quote_names_the_relationship(org: Sandbox):
    assert org.info is not None
    q = org.quote_mapping.quote
    adapter = SalesforceAdapter(
        jwt_settings(org.info, source="objects", mapping=org.quote_mapping.name)
    )
    demo_id = load_demo_seed()["opportunities"][0]["id"]
    _, lookup = CHILDREN["Opportunity"][q.relationship]
    (row,) = org.state.store.query(
        parse(f"SELECT Id FROM {q.sobject} WHERE {q.primary} AND {lookup} = '{demo_id}'")
    )
    org.state.store.update(q.sobject, row[0], {q.primary.split("=")[0].strip(): False})
    try:
        with pytest.raises(InvalidOpportunityData) as caught:
            adapter.read_opportunity(demo_id)
        assert q.relationship in str(caught.value)
        assert f"no primary {q.sobject}" in str(caught.value)
    finally:
        org.seed_demo()
