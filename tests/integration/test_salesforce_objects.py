"""The `objects` source: the opportunity's facts read from the org's own
objects (the quote object of each ready mapping, Contacts, Account, Files)
through the sandbox over HTTPS, signed in by JWT. Each mapping's sandbox is
seeded through that mapping, so reading the objects back must give what the
submission JSON of the same seed says, in at most two API calls."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from activities.errors import InvalidOpportunityData
from activities.salesforce import SalesforceAdapter
from activities.salesforce_mapping import READY
from cli.dev import start_temporal, stop_process
from domain.models import Opportunity
from loadtest.ports import free_port
from sandbox.schema import CHILDREN
from sandbox.seed import load_demo_seed
from sandbox.server import Sandbox
from sandbox.soql import parse
from tests.integration.test_om_end_to_end import OM_BIN, om, wait_for_stage
from tests.integration.test_salesforce_jwt import jwt_settings

MAPPINGS = list(READY)
ORDER_FORM_FACTS = (
    "attached", "partner_signed", "signer_name", "signer_title", "signer_company", "signed_date",
)  # fmt: skip
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


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """What both sources carry: a Checkbox has no null, and a seed's extra keys
    are not facts."""
    data = {k: v for k, v in data.items() if k in Opportunity.model_fields}
    data["order_form"] = {k: data["order_form"].get(k) for k in ORDER_FORM_FACTS}
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


@pytest.fixture(scope="module")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("temporal")
    port = free_port()
    process = start_temporal(folder / "temporal.db", folder / "temporal.log", port, ui_port=None)
    yield f"127.0.0.1:{port}"
    stop_process(process)


@pytest.fixture(scope="module")
def org_env(org: Sandbox, temporal_address: str) -> dict[str, str]:
    """`om` and its worker reading `org` through its mapping, signed in by JWT only."""
    info = org.info
    assert info is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OM_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        OM_HOME=str(info.home),
        OM_TASK_QUEUE=f"e2e-objects-{uuid.uuid4().hex[:8]}",
        OM_LICENSE_RECHECK_INTERVAL="1s",
        OM_COVER_BUSINESS_DAYS="0",
        OM_SALESFORCE__SOURCE="objects",
        OM_SALESFORCE__MAPPING=org.quote_mapping.name,
        OM_SALESFORCE__USERNAME=info.jwt_username,
        OM_SALESFORCE__CONSUMER_KEY=info.jwt_consumer_key,
        OM_SALESFORCE__PRIVATEKEY_FILE=info.jwt_privatekey_file,
        OM_SALESFORCE__DOMAIN="login",
        OM_SALESFORCE__LOGIN_URL=info.salesforce_instance_url,
        OM_SALESFORCE__CA_FILE=info.ca_file,
    )
    return env


@pytest.fixture(scope="module")
def org_worker(org_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = subprocess.Popen(
        [OM_BIN, "worker"], env=org_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    yield
    process.terminate()
    process.wait(15)


def test_the_whole_cycle_reads_the_objects_under_each_mapping(
    org: Sandbox, org_env: dict[str, str], org_worker: None, example_payload, tmp_path
):
    """Submission to `completed` with the facts read from the mapping's quote
    object, Contacts and Files; the sandbox counts that the reads went there."""
    opp = "006OBJ" + uuid.uuid4().hex[:10].upper()
    example_payload["id"] = opp
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"opportunities": [example_payload], "delivered_licenses": []}))
    om(org_env, "sandbox", "seed", str(seed))
    org.state.api_calls.clear()
    token_requests = org.state.token_requests

    om(org_env, "submit", opp)
    status = wait_for_stage(org_env, opp, "om_review")
    assert (status["round"], status["region"]) == (1, "AMER")
    relationship = org.quote_mapping.quote.relationship
    reads = [c for c in org.state.api_calls if f"FROM+{relationship}" in c.replace("%20", "+")]
    assert reads, org.state.api_calls
    assert org.state.token_requests > token_requests  # signed in by JWT

    om(org_env, "approve", opp, "--as", "om.amer@example.com")
    om(org_env, "finance", "approve", opp, "--as", "billing@example.com")
    wait_for_stage(org_env, opp, "license_ticket")
    om(org_env, "sandbox", "deliver-license", opp)
    status = wait_for_stage(org_env, opp, "completed")
    actions = [entry["action"] for entry in status["history"]]
    assert actions[0] == "submitted" and actions[-1] == "completed"
    assert org.state.store.get("Opportunity", opp)["StageName"] == "Closed Won"  # type: ignore[index]


def test_a_home_seeded_before_the_mapping_is_filled_in_on_start(tmp_path):
    """An older sandbox home (or one seeded under another mapping) keeps its
    approval state and becomes readable through the mapping when it starts."""
    first = Sandbox(tmp_path, quote_mapping="standard_quote")
    first.start()
    try:
        first.seed_demo()
        first.state.store.update("Opportunity", "0065e00000DEMO01", {"StageName": "7-Closing"})
    finally:
        first.stop()
    again = Sandbox(tmp_path, quote_mapping="zuora_quotes")
    info = again.start()
    try:
        assert again.state.store.count("zqu__Quote__c") == len(load_demo_seed()["opportunities"])
        adapter = SalesforceAdapter(jwt_settings(info, source="objects", mapping="zuora_quotes"))
        read = adapter.read_opportunity("0065e00000DEMO01")
        assert read.quote.number == "Q-10041" and read.order_form.attached
        stored = again.state.store.get("Opportunity", "0065e00000DEMO01")
        assert stored is not None and stored["StageName"] == "7-Closing"
        assert again.state.store.ensure_objects() == 0  # once per mapping
    finally:
        again.stop()
