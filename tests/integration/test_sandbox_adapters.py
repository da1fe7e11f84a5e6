"""The real adapters against the sandbox over real HTTP(S)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import build_activities
from activities.config import SalesforceSettings, ServiceSettings
from activities.errors import (
    AuthenticationFailed,
    OpportunityNotFound,
    RequestRejected,
    ServiceUnavailable,
    TicketNotFound,
)
from activities.license_service import LicenseServiceClient
from activities.salesforce import SalesforceActivities, SalesforceAdapter, _PinnedSession
from activities.support_desk import SupportDeskClient
from domain.messages import (
    ActivityName,
    ChatterPost,
    CrmUpdate,
    SolveTicket,
    TicketRequest,
)
from domain.models import Opportunity
from domain.requirements import check_booking_requirements
from om.settings import Settings
from sandbox.client import SandboxAdminClient, SandboxAdminError
from sandbox.seed import load_demo_seed
from sandbox.server import Sandbox

UNKNOWN = "0065e00000NOPE00"


def ticket_request(opportunity_id: str, key: str) -> TicketRequest:
    return TicketRequest(
        opportunity_id=opportunity_id,
        idempotency_key=key,
        subject="Manual license delivery needed",
        body="Please deliver.",
        requester_name="Riley Rep",
        requester_email="riley.rep@example.com",
    )


@pytest.fixture
def payload_adapter(om_settings: Settings) -> SalesforceAdapter:
    """Reading the submission JSON (`source=payload_field`) instead of the objects."""
    return SalesforceAdapter(om_settings.salesforce.model_copy(update={"source": "payload_field"}))


def test_read_opportunity_returns_the_seeded_contract_shape(payload_adapter):
    """The whole payload, extra keys included, from the submission JSON (the
    `objects` source is compared with it in test_salesforce_objects)."""
    seeded = next(o for o in load_demo_seed()["opportunities"] if o["id"] == "0065e00000DEMO18")
    read = payload_adapter.read_opportunity("0065e00000DEMO18")
    assert read.model_dump(mode="json") == Opportunity.model_validate(seeded).model_dump(
        mode="json"
    )
    assert (read.account.region, read.owner.email, read.urgent) == (
        "APAC",
        "lucia.rep@example.com",
        True,
    )


@pytest.mark.parametrize("source", ["objects", "payload_field"])
def test_standard_fields_win_over_the_submission_json(
    om_settings: Settings, seed_opportunity, source: str
):
    salesforce_adapter = SalesforceAdapter(
        om_settings.salesforce.model_copy(update={"source": source})
    )
    opp = seed_opportunity()
    salesforce_adapter._client().Opportunity.update(
        opp, {"Amount": 99.5, "Name": "Renamed in CRM", "Type": "Add-On Business"}
    )
    read = salesforce_adapter.read_opportunity(opp)
    assert (read.amount, read.name, read.type) == (99.5, "Renamed in CRM", "add_on")


def test_null_objects_in_the_submission_json_read_as_absent(
    payload_adapter, seed_opportunity, example_payload
):
    """The submission field as a Flow may write it: null order form and Bill
    To read as absent, so the pre-check gives its findings instead of the read
    failing as invalid data."""
    opp = seed_opportunity()
    submitted = {**example_payload, "id": opp, "order_form": None}
    submitted["quote"] = {**example_payload["quote"], "bill_to": None}
    payload_adapter._client().Opportunity.update(opp, {"OM_Submission__c": json.dumps(submitted)})
    read = payload_adapter.read_opportunity(opp)
    assert read.order_form.attached is False and read.quote.bill_to.address.country is None
    assert [(f.code, f.field) for f in check_booking_requirements(read)] == [
        ("ORDER_FORM_MISSING", "order_form.attached"),
        ("CONTACT_ADDRESS_INCOMPLETE", "quote.bill_to.address"),
    ]


def test_update_stage_is_read_back_by_soql(salesforce_adapter, seed_opportunity):
    opp = seed_opportunity()
    written = salesforce_adapter.update_opportunity(
        CrmUpdate(
            opportunity_id=opp,
            stage="7-Closing",
            approval_status="In Progress",
            locked=True,
            close_date=date(2026, 11, 16),
        )
    )
    assert written == {
        "StageName": "7-Closing",
        "Approval_Status__c": "In Progress",
        "OM_Record_Locked__c": True,
        "CloseDate": "2026-11-16",
    }
    rows = salesforce_adapter.query(
        "SELECT Id, StageName, Approval_Status__c, OM_Record_Locked__c, CloseDate, "
        f"License_Delivery_Date__c FROM Opportunity WHERE Id = '{opp}'"
    )
    assert rows == [
        {
            "Id": opp,
            "StageName": "7-Closing",
            "Approval_Status__c": "In Progress",
            "OM_Record_Locked__c": True,
            "CloseDate": "2026-11-16",
            "License_Delivery_Date__c": None,
        }
    ]
    assert salesforce_adapter.update_opportunity(CrmUpdate(opportunity_id=opp)) == {}


def test_chatter_post_with_the_same_key_twice_posts_once(
    salesforce_adapter, seed_opportunity, sandbox_admin
):
    opp = seed_opportunity()
    first = salesforce_adapter.post_chatter(
        ChatterPost(opportunity_id=opp, body="OM approved.", idempotency_key="round-1-approve")
    )
    again = salesforce_adapter.post_chatter(
        ChatterPost(opportunity_id=opp, body="OM approved.", idempotency_key="round-1-approve")
    )
    other = salesforce_adapter.post_chatter(
        ChatterPost(opportunity_id=opp, body="Billing approved.", idempotency_key="round-1-fin")
    )
    assert first == again != other
    chatter = sandbox_admin.opportunity(opp)["chatter"]
    assert [item["Id"] for item in chatter] == [first, other]
    assert chatter[0]["Body"] == "OM approved.\n\n[om:round-1-approve]"


async def test_unknown_opportunity_is_not_found_and_not_retryable(salesforce_adapter):
    with pytest.raises(OpportunityNotFound, match=UNKNOWN):
        salesforce_adapter.read_opportunity(UNKNOWN)
    with pytest.raises(OpportunityNotFound):
        salesforce_adapter.update_opportunity(CrmUpdate(opportunity_id=UNKNOWN, stage="x"))
    with pytest.raises(OpportunityNotFound):
        salesforce_adapter.post_chatter(
            ChatterPost(opportunity_id=UNKNOWN, body="x", idempotency_key="k")
        )
    activities = SalesforceActivities(salesforce_adapter)
    with pytest.raises(ApplicationError) as failure:
        await ActivityEnvironment().run(activities.read_opportunity, UNKNOWN)
    assert failure.value.type == "OpportunityNotFound"
    assert failure.value.non_retryable


async def test_salesforce_503_is_a_retryable_error(salesforce_adapter, sandbox_admin):
    target = "0065e00000DEMO07"
    sandbox_admin.set_faults({"salesforce": {"status": 503, "count": 2, "match": target}})
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            salesforce_adapter.read_opportunity(target)
        assert raised.value.retryable and raised.value.code == "SERVER_UNAVAILABLE"
        activities = SalesforceActivities(salesforce_adapter)
        with pytest.raises(ApplicationError) as failure:
            await ActivityEnvironment().run(activities.read_opportunity, target)
        assert (failure.value.type, failure.value.non_retryable) == ("ServiceUnavailable", False)
        assert salesforce_adapter.read_opportunity(target).id == target  # faults used up
    finally:
        sandbox_admin.clear_faults()


def test_expired_session_re_authenticates_once_when_credentials_are_set(sandbox, monkeypatch):
    adapter = SalesforceAdapter(
        SalesforceSettings(username="om@example.com", password="pw", ca_file=sandbox.ca_file)
    )
    sessions = iter(["expired", sandbox.session_id])

    def login() -> Salesforce:  # stands in for the SOAP login a real org answers
        return Salesforce(
            instance_url=sandbox.salesforce_instance_url,
            session_id=next(sessions),
            session=_PinnedSession(sandbox.ca_file, 10),
        )

    monkeypatch.setattr(adapter, "_connect", login)
    assert adapter.read_opportunity("0065e00000DEMO01").id == "0065e00000DEMO01"


def test_rotated_session_is_renewed_from_the_session_file_in_the_same_call(
    tmp_path: Path, example_payload
):
    """The sandbox expires the session and writes the new one where a token
    refresh job would; the adapter's next call gets INVALID_SESSION_ID,
    reads the file again and succeeds, with no failure for Temporal to retry.
    (A sandbox of its own: the shared one's session must stay valid.)"""
    running = Sandbox(tmp_path)
    info = running.start()
    try:
        running.seed({"opportunities": [example_payload]})
        target = example_payload["id"]
        admin = SandboxAdminClient(info.admin_url, info.session_id)
        adapter = SalesforceAdapter(
            SalesforceSettings(
                instance_url=info.salesforce_instance_url,
                session_id_file=info.salesforce_session_file,
                ca_file=info.ca_file,
            )
        )
        assert adapter.read_opportunity(target).id == target
        before = Path(info.salesforce_session_file).read_text().strip()
        admin.rotate_salesforce_session()
        assert Path(info.salesforce_session_file).read_text().strip() != before
        stale = SalesforceAdapter(
            SalesforceSettings(
                instance_url=info.salesforce_instance_url,
                session_id=before,
                ca_file=info.ca_file,
            )
        )
        with pytest.raises(AuthenticationFailed, match="INVALID_SESSION_ID"):
            stale.read_opportunity(target)  # the old session is really gone
        assert adapter.read_opportunity(target).id == target
        assert admin.opportunity(target)["Id"] == target  # the admin token is unchanged
    finally:
        running.stop()


def test_bad_session_is_invalid_session_id_and_retryable(sandbox):
    raw = requests.get(
        f"{sandbox.salesforce_instance_url}/services/data/v59.0/sobjects/"
        "Opportunity/0065e00000DEMO01",
        verify=sandbox.ca_file,
        timeout=10,
    )
    assert raw.status_code == 401
    assert raw.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    adapter = SalesforceAdapter(
        SalesforceSettings(
            instance_url=sandbox.salesforce_instance_url,
            session_id="expired",
            ca_file=sandbox.ca_file,
        )
    )
    with pytest.raises(AuthenticationFailed, match="INVALID_SESSION_ID") as raised:
        adapter.read_opportunity("0065e00000DEMO01")
    assert raised.value.retryable


def test_unsupported_soql_and_bad_fields_are_rejected_by_name(salesforce_adapter):
    with pytest.raises(RequestRejected, match="MALFORMED_QUERY.*OR conditions"):
        salesforce_adapter.query("SELECT Id FROM Opportunity WHERE Name = 'a' OR Name = 'b'")
    with pytest.raises(RequestRejected, match="INVALID_FIELD.*Nope__c") as raised:
        salesforce_adapter.query("SELECT Id, Nope__c FROM Opportunity")
    assert not raised.value.retryable
    with pytest.raises(SalesforceMalformedRequest) as raw:
        salesforce_adapter._client().Opportunity.update("0065e00000DEMO01", {"Bogus__c": 1})
    assert raw.value.status == 400
    assert raw.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_soql_filters_order_and_limit(salesforce_adapter):
    rows = salesforce_adapter.query(
        "SELECT Id, Amount FROM Opportunity WHERE Urgent__c = true AND Id LIKE '0065e00000DEMO%' "
        "ORDER BY Amount DESC LIMIT 2"
    )
    assert [r["Id"] for r in rows] == ["0065e00000DEMO04", "0065e00000DEMO18"]
    emea = salesforce_adapter.query(
        "SELECT Id FROM Account WHERE OM_Region__c IN ('EMEA') AND BillingCountry != 'GB'"
    )
    assert len(emea) == 8


async def test_ticket_created_twice_with_one_key_is_one_ticket(
    support_desk_client, sandbox, seed_opportunity
):
    opp = seed_opportunity()
    request = ticket_request(opp, f"opportunity-{opp}-1")
    first = await support_desk_client.create_ticket(request)
    again = await support_desk_client.create_ticket(request)
    assert first == again and first.status == "new"
    async with httpx.AsyncClient(base_url=sandbox.support_desk_url) as raw:
        auth = {"Authorization": f"Bearer {sandbox.support_desk_token}"}
        listed = (
            await raw.get("/api/v2/tickets.json", params={"external_id": opp}, headers=auth)
        ).json()
        assert [t["id"] for t in listed["tickets"]] == [first.id]
        ticket = listed["tickets"][0]
        assert (ticket["external_id"], ticket["requester"]["email"], ticket["priority"]) == (
            opp,
            "riley.rep@example.com",
            "high",
        )
        body = {
            "ticket": {
                "subject": "raw",
                "comment": {"body": "raw"},
                "external_id": opp,
                "requester": {"email": "a@example.com"},
            }
        }
        raw_key = {**auth, "Idempotency-Key": f"raw-{opp}"}
        made = await raw.post("/api/v2/tickets.json", headers=raw_key, json=body)
        found = await raw.post("/api/v2/tickets.json", headers=raw_key, json=body)
        assert (made.status_code, made.headers["x-idempotency-lookup"]) == (201, "miss")
        assert found.headers["x-idempotency-lookup"] == "hit"
        assert found.json()["ticket"]["id"] == made.json()["ticket"]["id"]
        replay = await raw.post(
            "/api/v2/tickets.json",
            headers={**auth, "Idempotency-Key": request.idempotency_key},
            json={
                "ticket": {
                    "subject": "different",
                    "comment": {"body": "x"},
                    "requester": {"email": "a@example.com"},
                }
            },
        )
        assert replay.status_code == 400 and replay.json()["error"] == "IdempotentRequestError"


async def test_ticket_answer_lost_after_create_then_retry_finds_it(
    support_desk_client, sandbox_admin, seed_opportunity
):
    opp = seed_opportunity()
    request = ticket_request(opp, f"opportunity-{opp}-1")
    sandbox_admin.set_faults(
        {
            "support_desk": {
                "status": 500,
                "count": 1,
                "after_create": True,
                "match": "/api/v2/tickets.json",
            }
        }
    )
    try:
        with pytest.raises(ServiceUnavailable):
            await support_desk_client.create_ticket(request)
    finally:
        sandbox_admin.clear_faults()
    ticket = await support_desk_client.create_ticket(request)
    assert [t["id"] for t in sandbox_admin.opportunity(opp)["tickets"]] == [ticket.id]


async def test_solving_a_ticket_twice_adds_one_comment(
    support_desk_client, sandbox_admin, seed_opportunity
):
    opp = seed_opportunity()
    ticket = await support_desk_client.create_ticket(ticket_request(opp, f"solve-{opp}"))
    solve = SolveTicket(ticket_id=ticket.id, comment="License delivery confirmed.")
    assert (await support_desk_client.solve_ticket(solve)).status == "solved"
    assert (await support_desk_client.solve_ticket(solve)).status == "solved"
    [stored] = sandbox_admin.opportunity(opp)["tickets"]
    assert [c["body"] for c in stored["comments"]] == [
        "Please deliver.",
        "License delivery confirmed.",
    ]
    with pytest.raises(TicketNotFound):
        await support_desk_client.get_ticket(999999)


async def test_zendesk_email_token_auth_is_accepted(sandbox, seed_opportunity):
    client = SupportDeskClient(
        ServiceSettings(
            url=sandbox.support_desk_url,
            token=sandbox.support_desk_token,
            email="om-bot@example.com",
        )
    )
    ticket = await client.create_ticket(ticket_request(seed_opportunity(), "email-auth"))
    assert (await client.get_ticket(ticket.id)).id == ticket.id


async def test_license_delivered_by_automation_only_after_closed_won(
    salesforce_adapter, license_client, seed_opportunity
):
    automated = seed_opportunity(delivered_license=True)
    manual = seed_opportunity()
    assert not (await license_client.check_delivery(automated)).delivered
    for opp in (automated, manual):
        salesforce_adapter.update_opportunity(CrmUpdate(opportunity_id=opp, stage="Closed Won"))
    delivered = await license_client.check_delivery(automated)
    assert delivered.delivered and delivered.delivered_at is not None
    assert not (await license_client.check_delivery(manual)).delivered


async def test_admin_deliver_license_delivers_once(license_client, sandbox_admin, seed_opportunity):
    opp = seed_opportunity()
    first = sandbox_admin.deliver_license(opp)
    assert (first["delivered"], first["delivered_by"]) == (True, "admin")
    assert sandbox_admin.deliver_license(opp)["delivered_at"] == first["delivered_at"]
    status = await license_client.check_delivery(opp)
    assert status.delivered and status.delivered_at.isoformat().startswith(
        first["delivered_at"][:19]
    )
    with pytest.raises(OpportunityNotFound):
        await license_client.check_delivery(UNKNOWN)
    with pytest.raises(SandboxAdminError) as refused:
        sandbox_admin.deliver_license(UNKNOWN)
    assert refused.value.status == 404


async def test_license_service_timeout_is_retryable(sandbox, sandbox_admin):
    slow = LicenseServiceClient(
        ServiceSettings(
            url=sandbox.license_service_url,
            token=sandbox.license_service_token,
            timeout_seconds=0.2,
        )
    )
    sandbox_admin.set_faults(
        {"license": {"delay_seconds": 0.6, "count": 1, "match": "0065e00000DEMO02"}}
    )
    try:
        with pytest.raises(ServiceUnavailable, match="timed out") as raised:
            await slow.check_delivery("0065e00000DEMO02")
    finally:
        sandbox_admin.clear_faults()
    assert raised.value.retryable


def test_seed_rejection_names_index_and_field_and_stores_nothing(sandbox_admin, example_payload):
    good = dict(example_payload, id="006TSEEDGOOD0001")
    bad = dict(
        example_payload,
        id="006TSEEDBAD00001",
        account=dict(example_payload["account"], region="MARS"),
    )
    with pytest.raises(SandboxAdminError) as refused:
        sandbox_admin.seed({"opportunities": [good, bad], "delivered_licenses": []})
    assert refused.value.status == 422
    assert "opportunities[1].account.region" in str(refused.value)
    assert refused.value.body["errors"][0]["index"] == 1
    for opp in (good["id"], bad["id"]):
        with pytest.raises(SandboxAdminError) as missing:
            sandbox_admin.opportunity(opp)
        assert missing.value.status == 404


def test_admin_lists_opportunities_without_the_submission_json(sandbox_admin):
    listed = {record["Id"]: record for record in sandbox_admin.opportunities()}
    assert "0065e00000DEMO01" in listed
    assert "OM_Submission__c" not in listed["0065e00000DEMO01"]


def test_build_activities_registers_every_external_activity(om_settings):
    names = {fn.__temporal_activity_definition.name for fn in build_activities(om_settings)}
    assert names == {
        ActivityName.READ_OPPORTUNITY,
        ActivityName.UPDATE_OPPORTUNITY,
        ActivityName.POST_CHATTER,
        ActivityName.CHECK_LICENSE,
        ActivityName.CREATE_TICKET,
        ActivityName.SOLVE_TICKET,
        ActivityName.NOTIFY,
    }


def test_restart_keeps_records_tokens_and_certificate(tmp_path: Path, example_payload):
    first = Sandbox(tmp_path)
    info = first.start()
    try:
        first.seed({"opportunities": [example_payload]})
        adapter = SalesforceAdapter(
            SalesforceSettings(
                instance_url=info.salesforce_instance_url,
                session_id=info.session_id,
                ca_file=info.ca_file,
            )
        )
        adapter.update_opportunity(
            CrmUpdate(opportunity_id=example_payload["id"], stage="7-Closing")
        )
        ca = Path(info.ca_file).read_bytes()
    finally:
        first.stop()
    second = Sandbox(tmp_path)
    again = second.start()
    try:
        assert Path(again.ca_file).read_bytes() == ca
        assert json.loads((tmp_path / "sandbox.json").read_text()) == again.info_json()
        assert (again.session_id, again.support_desk_token) == (
            info.session_id,
            info.support_desk_token,
        )
        adapter = SalesforceAdapter(
            SalesforceSettings(
                instance_url=again.salesforce_instance_url,
                session_id=again.session_id,
                ca_file=again.ca_file,
            )
        )
        [row] = adapter.query(
            f"SELECT StageName FROM Opportunity WHERE Id = '{example_payload['id']}'"
        )
        assert row == {"StageName": "7-Closing"}
        assert SandboxAdminClient(again.admin_url, again.session_id).health()["opportunities"] == 1
    finally:
        second.stop()
