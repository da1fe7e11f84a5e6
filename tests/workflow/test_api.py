"""The HTTP API over the approval workflow: status codes and JSON errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from tests.workflow.conftest import Harness, new_payload, wait_stage

OM_AMER = {"Authorization": "Bearer demo-om-amer"}
OM_EMEA = {"Authorization": "Bearer demo-om-emea"}
BILLING = {"Authorization": "Bearer demo-billing"}
REP = {"Authorization": "Bearer demo-riley-rep"}


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
    assert other_region.status_code == 403 and "AMER" in other_region.json()["detail"]
    own_rep = await api.post(url, headers=REP, json={"stage": "om", "action": "approve"})
    assert own_rep.status_code == 403

    approved = await api.post(url, headers=OM_AMER, json={"stage": "om", "action": "approve"})
    assert approved.status_code == 200 and approved.json()["stage"] == "finance_review"
    again = await api.post(url, headers=OM_AMER, json={"stage": "om", "action": "approve"})
    assert again.status_code == 409 and "pending" in again.json()["detail"]

    status = (await api.get(f"/opportunities/{opp.id}", headers=BILLING)).json()
    assert status["stage"] == "finance_review" and status["om_approver"] == "om.amer@example.com"


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
